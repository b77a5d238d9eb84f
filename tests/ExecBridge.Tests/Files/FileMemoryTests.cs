using System;
using System.Diagnostics;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using Xunit;
using Xunit.Abstractions;

namespace ExecBridge.Tests.Files
{
    [CollectionDefinition("FilesMemory", DisableParallelization = true)]
    public sealed class FilesMemoryCollection { }

    /// <summary>
    /// Streaming a large file to local disk must not hold it in memory. How it is measured: the Linux kernel's peak
    /// resident set size (VmHWM in /proc/self/status) is reset by writing "5" to /proc/self/clear_refs right before
    /// the transfer (after a warm-up transfer and a full GC), and read right after; the difference is the most the
    /// process grew while streaming. The collection runs alone (no other test allocates meanwhile). As a cross-check
    /// Process.PeakWorkingSet64 is reported too (it reads the same VmHWM).
    /// </summary>
    [Collection("FilesMemory")]
    public sealed class FileMemoryTests : IClassFixture<FilesFixture>
    {
        private readonly FilesFixture _f;
        private readonly ITestOutputHelper _out;

        public FileMemoryTests(FilesFixture f, ITestOutputHelper output) { _f = f; _out = output; }

        private static long ReadKb(string field)
        {
            foreach (var line in File.ReadAllLines("/proc/self/status"))
                if (line.StartsWith(field + ":")) return long.Parse(line.Substring(field.Length + 1).Trim().Split(' ')[0]);
            throw new InvalidOperationException(field + " not found");
        }

        private async Task Download(ExecutorClient c, string remote, string local)
        {
            await CopyEngine.CopyItemAsync(new RemoteStore(c), remote, LocalStore.Instance, local, new CopyOptions { Force = true },
                new TransferProgress(), r => { }, (e, p) => throw e, CancellationToken.None);
        }

        [Theory]
        [Trait("Category", "Slow")]
        [InlineData("legacy")]
        [InlineData("current")]
        public async Task Streaming_256_MiB_to_disk_keeps_memory_bounded(string dialect)
        {
            var c = _f.Client(dialect);
            var dir = _f.NewDir("mem");
            var remote = Path.Combine(dir, "huge.bin");
            TestFiles.WriteRandom(remote, 256L * 1048576, 21);
            var warm = Path.Combine(dir, "warm.bin");
            TestFiles.WriteRandom(warm, 16L * 1048576, 22);
            await Download(c, warm, Path.Combine(dir, "warm.out"));

            GC.Collect(2, GCCollectionMode.Forced, true, true);
            GC.WaitForPendingFinalizers();
            File.WriteAllText("/proc/self/clear_refs", "5");
            long before = ReadKb("VmHWM");
            var clock = Stopwatch.StartNew();
            var local = Path.Combine(dir, "huge.out");
            await Download(c, remote, local);
            clock.Stop();
            long after = ReadKb("VmHWM");
            long growthMb = (after - before) / 1024;
            _out.WriteLine($"{dialect}: 256 MiB in {clock.Elapsed.TotalSeconds:0.0} s; peak RSS {before / 1024} MB -> {after / 1024} MB (+{growthMb} MB); " +
                           $"PeakWorkingSet64 {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576} MB");
            Assert.Equal(TestFiles.Sha256(remote), TestFiles.Sha256(local));
            Assert.True(growthMb < 64, $"peak resident memory grew by {growthMb} MB while streaming 256 MiB");
            File.Delete(remote);
            File.Delete(local);
        }
    }
}
