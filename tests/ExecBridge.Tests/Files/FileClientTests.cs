using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Client.Files;
using Xunit;

namespace ExecBridge.Tests.Files
{
    /// <summary>The client's file layer against real servers of both dialects.</summary>
    public sealed class FileClientTests : IClassFixture<FilesFixture>
    {
        private readonly FilesFixture _f;
        private static readonly CancellationToken None = CancellationToken.None;

        public FileClientTests(FilesFixture f) { _f = f; }

        private async Task<CopyResult> UploadAsync(ExecutorClient c, string local, string remote, bool force = false)
        {
            CopyResult? result = null;
            await CopyEngine.CopyItemAsync(LocalStore.Instance, local, new RemoteStore(c), remote, new CopyOptions { Force = force },
                new TransferProgress(), r => result = r, (e, p) => throw e, None);
            return result!;
        }

        private async Task<CopyResult> DownloadAsync(ExecutorClient c, string remote, string local, bool force = false)
        {
            CopyResult? result = null;
            await CopyEngine.CopyItemAsync(new RemoteStore(c), remote, LocalStore.Instance, local, new CopyOptions { Force = force },
                new TransferProgress(), r => result = r, (e, p) => throw e, None);
            return result!;
        }

        [Theory]
        [InlineData("legacy", 0L)]
        [InlineData("current", 0L)]
        [InlineData("legacy", 1L)]
        [InlineData("current", 1L)]
        [InlineData("legacy", 1048577L)]
        [InlineData("current", 1048577L)]
        [InlineData("legacy", 64L * 1048576)]
        [InlineData("current", 64L * 1048576)]
        public async Task Upload_then_download_keeps_every_byte(string dialect, long size)
        {
            var c = _f.Client(dialect);
            var dir = _f.NewDir("rt");
            var src = Path.Combine(dir, "src.bin");
            TestFiles.WriteRandom(src, size, (int)size + 7);
            var expected = TestFiles.Sha256(src);

            var remote = Path.Combine(dir, "remote copy #1 %.bin");
            var up = await UploadAsync(c, src, remote);
            Assert.Equal(expected, up.Sha256);
            Assert.Equal(size, up.Length);
            Assert.Equal(expected, await c.Sha256Async(remote, None)); // the executor's own hash of what it stored

            var back = Path.Combine(dir, "back.bin");
            var down = await DownloadAsync(c, remote, back);
            Assert.Equal(expected, down.Sha256);
            Assert.Equal(expected, TestFiles.Sha256(back));
            Assert.Empty(TestFiles.Partials(dir));
        }

        [Theory]
        [InlineData("legacy", RemoteWriteMode.Process)]
        [InlineData("current", RemoteWriteMode.Process)]
        [InlineData("current", RemoteWriteMode.WriteBlock)]
        [InlineData("legacy", RemoteWriteMode.WriteFile)]
        public async Task Every_write_mode_stores_all_256_byte_values(string dialect, RemoteWriteMode mode)
        {
            var c = _f.Client(dialect);
            var dir = _f.NewDir("modes");
            // 3 MiB + 7 of a repeating 0..255 pattern, fed in odd-sized pieces.
            var data = new byte[3 * 1048576 + 7];
            for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 7 + i / 256);
            var path = Path.Combine(dir, "modé ü 名前.bin");
            var w = await RemoteFileWriter.CreateAsync(c, path, data.Length, overwrite: false, createParents: false, None, mode);
            Assert.Equal(mode, w.Mode);
            for (int at = 0; at < data.Length;)
            {
                int n = Math.Min(333_333, data.Length - at);
                await w.WriteAsync(new ReadOnlyMemory<byte>(data, at, n), None);
                at += n;
            }
            await w.CommitAsync(TestFiles.Sha256(data), None);
            Assert.Equal(data, File.ReadAllBytes(path));
            Assert.Empty(TestFiles.Partials(dir));
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public async Task All_byte_values_and_odd_names_round_trip(string dialect)
        {
            var c = _f.Client(dialect);
            var dir = _f.NewDir("names");
            var data = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
            foreach (var name in new[] { "with space.txt", "hash#tag.txt", "per%25cent%.txt", "ünïcødé-日本.txt", "quote'd \"x\".txt" })
            {
                var local = Path.Combine(dir, "l-" + name);
                File.WriteAllBytes(local, data);
                var remote = Path.Combine(dir, "r-" + name);
                await UploadAsync(c, local, remote);
                Assert.Equal(data, File.ReadAllBytes(remote));
                Assert.Equal(data, await c.ReadFileAsync(remote, None));
                var info = await c.GetMetadataAsync(remote, None);
                Assert.Equal(256, info.Length);
                Assert.True(info.IsFile);
                var listed = await c.ListDirectoryAsync(dir, None);
                Assert.Contains(listed, i => i.Name == "r-" + name && i.Length == 256);
            }
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public async Task Slices_at_block_and_segment_boundaries(string dialect)
        {
            var c = _f.Client(dialect);
            var dir = _f.NewDir("slices");
            var path = Path.Combine(dir, "big.bin");
            long size = 9L * 1048576 + 3; // over the legacy 8 MiB segment and several 1 MiB blocks
            TestFiles.WriteRandom(path, size, 42);
            var all = File.ReadAllBytes(path);
            const long M = 1048576;
            var cases = new (long Offset, long? Length)[]
            {
                (0, 1), (M - 1, 2), (M, M), (M - 1, M + 2), (8 * M - 1, 2), (8 * M, M + 3), (size - 1, 10), (size, 5), (size + 10, null), (0, null), (3, 0),
            };
            foreach (var (offset, length) in cases)
            {
                var got = new MemoryStream();
                long n = await c.ReadStreamAsync(path, offset, length, (m, t) => { got.Write(m.Span); return Task.CompletedTask; }, None);
                long start = Math.Min(offset, size);
                long end = length == null ? size : Math.Min(size, offset + length.Value);
                var expected = all.AsSpan((int)start, (int)Math.Max(0, end - start)).ToArray();
                Assert.True(expected.Length == n, $"offset {offset} length {length}: {n} bytes, expected {expected.Length}");
                Assert.True(expected.AsSpan().SequenceEqual(got.ToArray()), $"offset {offset} length {length}: wrong bytes");
                if (n > 0)
                    Assert.Equal(TestFiles.Sha256(expected), await c.Sha256Async(path, None, offset, length == null ? null : n));
            }
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public async Task Missing_paths_folders_and_guarded_defaults(string dialect)
        {
            var c = _f.Client(dialect);
            var dir = _f.NewDir("errors");
            var missing = Path.Combine(dir, "nope.txt");

            var e1 = await Assert.ThrowsAnyAsync<ExecBridgeException>(() => c.ReadStreamAsync(missing, 0, null, (m, t) => Task.CompletedTask, None));
            Assert.Equal(ExecBridgeErrorKind.RemotePathNotFound, e1.Kind);
            Assert.Contains("nope.txt", e1.Message);
            var e2 = await Assert.ThrowsAnyAsync<ExecBridgeException>(() => c.ReadStreamAsync(dir, 0, null, (m, t) => Task.CompletedTask, None));
            Assert.Equal(ExecBridgeErrorKind.RemotePathIsDirectory, e2.Kind);
            var e3 = await Assert.ThrowsAnyAsync<ExecBridgeException>(() => c.RemoveAsync(missing, recursive: false, force: false, None));
            Assert.Equal(ExecBridgeErrorKind.RemotePathNotFound, e3.Kind);

            // fs/remove defaults to recursive: the client always says recursive:false unless asked.
            var full = Path.Combine(dir, "full");
            Directory.CreateDirectory(full);
            File.WriteAllText(Path.Combine(full, "keep.txt"), "x");
            await Assert.ThrowsAsync<RemoteDirectoryNotEmptyException>(() => c.RemoveAsync(full, recursive: false, force: false, None));
            Assert.True(File.Exists(Path.Combine(full, "keep.txt")));
            await c.RemoveAsync(full, recursive: true, force: false, None);
            Assert.False(Directory.Exists(full));

            // fs/createDirectory defaults to recursive: without it a missing parent is an error.
            var deep = Path.Combine(dir, "a", "b");
            var e4 = await Assert.ThrowsAnyAsync<ExecBridgeException>(() => c.CreateDirectoryAsync(deep, recursive: false, None));
            Assert.Equal(ExecBridgeErrorKind.RemotePathNotFound, e4.Kind);
            Assert.False(Directory.Exists(Path.Combine(dir, "a")));

            // Copy onto an existing file is refused without Force (fs/copy would overwrite).
            var a = Path.Combine(dir, "a.txt");
            var b = Path.Combine(dir, "b.txt");
            File.WriteAllText(a, "AAA");
            File.WriteAllText(b, "BBB");
            var e5 = await Assert.ThrowsAnyAsync<ExecBridgeException>(() =>
                WithinExecutorCopy.CopyAsync(c, a, b, new CopyOptions(), new TransferProgress(), None));
            Assert.Equal(ExecBridgeErrorKind.DestinationExists, e5.Kind);
            Assert.Equal("BBB", File.ReadAllText(b));
            var r = await WithinExecutorCopy.CopyAsync(c, a, b, new CopyOptions { Force = true }, new TransferProgress(), None);
            Assert.Equal("AAA", File.ReadAllText(b));
            Assert.Equal(TestFiles.Sha256(File.ReadAllBytes(a)), r.Sha256);

            // Folder copy needs Recurse; an existing folder as destination receives it inside.
            var tree = Path.Combine(dir, "tree");
            Directory.CreateDirectory(Path.Combine(tree, "sub"));
            File.WriteAllText(Path.Combine(tree, "sub", "f.txt"), "deep");
            await Assert.ThrowsAnyAsync<ExecBridgeException>(() =>
                WithinExecutorCopy.CopyAsync(c, tree, Path.Combine(dir, "tree2"), new CopyOptions(), new TransferProgress(), None));
            var into = Path.Combine(dir, "into");
            Directory.CreateDirectory(into);
            await WithinExecutorCopy.CopyAsync(c, tree, into, new CopyOptions { Recurse = true }, new TransferProgress(), None);
            Assert.Equal("deep", File.ReadAllText(Path.Combine(into, "tree", "sub", "f.txt")));
            Assert.Empty(TestFiles.Partials(dir));
        }

        [Theory]
        [InlineData(0L)] // a whole-file read: one `cat`, then `tail | head` from where it was stopped
        [InlineData(1000L)]
        public async Task Legacy_read_with_a_slow_consumer_pauses_and_continues_without_losing_a_byte(long offset)
        {
            // The legacy server pushes a helper's stdout without flow control: past 16 MiB waiting for the consumer the
            // reader stops the helper and continues from the next byte. Every byte must still arrive, once, in order.
            var log = new ExecBridge.Tests.Relay.ListLogger();
            using var c = new ExecutorClient(new ExecutorEndpoint("legacy-slow", _f.Legacy.Uri, null), log);
            var dir = _f.NewDir("slow");
            var src = Path.Combine(dir, "big.bin");
            TestFiles.WriteRandom(src, 40L * 1048576 + 12345, 99);
            using var got = new MemoryStream();
            using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            bool paused = false;
            long n = await c.ReadStreamAsync(src, offset, null, async (m, t) =>
            {
                if (!paused)
                {
                    // Hold the first chunk until the reader has stopped the helper that ran ahead. A fixed delay was
                    // not enough on a loaded machine: the helper had not produced 16 MiB yet, so nothing paused.
                    paused = true;
                    var until = DateTime.UtcNow.AddSeconds(60);
                    while (!log.Lines.Any(l => l.StartsWith("-> process/terminate")) && DateTime.UtcNow < until) await Task.Delay(50, t);
                }
                sha.AppendData(m.Span);
                got.Write(m.Span);
            }, None);
            var all = File.ReadAllBytes(src);
            Assert.Equal(all.Length - offset, n);
            Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(all.AsSpan((int)offset))), Convert.ToHexString(sha.GetHashAndReset()));
            Assert.Contains(log.Lines, l => l.StartsWith("Paused reading"));
        }

        [Fact]
        public async Task Legacy_whole_file_read_of_a_growing_file_stops_at_the_size_it_had()
        {
            // A whole-file legacy read is one `cat`, which would run on into bytes appended after the size was read.
            // They must not be delivered: the result is the file as large as it was, like the bounded `head -c` read.
            var log = new ExecBridge.Tests.Relay.ListLogger();
            using var c = new ExecutorClient(new ExecutorEndpoint("legacy-grow", _f.Legacy.Uri, null), log);
            var dir = _f.NewDir("grow");
            var src = Path.Combine(dir, "growing.bin");
            // Above the one-fs/readFile size, and large enough that cat is still reading when the first chunk is
            // delivered; this consumer keeps up, so the 16 MiB backlog limit never stops it.
            long size = 24L * 1048576 + 7;
            TestFiles.WriteRandom(src, size, 5);
            var original = File.ReadAllBytes(src);
            using var got = new MemoryStream();
            bool appended = false;
            long n = await c.ReadStreamAsync(src, 0, null, (m, t) =>
            {
                if (!appended)
                {
                    appended = true;
                    using var fs = new FileStream(src, FileMode.Append, FileAccess.Write);
                    fs.Write(new byte[2 * 1048576], 0, 2 * 1048576);
                }
                got.Write(m.Span);
                return Task.CompletedTask;
            }, None);
            Assert.Equal(size, n);
            Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(original)),
                Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(got.ToArray())));
            Assert.Contains(log.Lines, l => l.Contains("grew while it was read"));
            Assert.Empty(c.Processes); // the stopped cat is not left behind in the client's table
        }

        [Theory]
        [InlineData("legacy", RemoteWriteMode.Process)]
        [InlineData("current", RemoteWriteMode.WriteBlock)]
        [InlineData("current", RemoteWriteMode.WriteFile)]
        public async Task Commit_refuses_bytes_that_differ_from_what_was_sent_and_a_destination_that_appeared(string dialect, RemoteWriteMode mode)
        {
            var c = _f.Client(dialect);
            var dir = _f.NewDir("commit");
            var data = new byte[300_000];
            new Random(5).NextBytes(data);
            string sent = CopyEngine.ToHex(System.Security.Cryptography.SHA256.HashData(data));

            // A hash that is not the one of the bytes written: nothing lands, the partial goes with AbortAsync.
            var target = Path.Combine(dir, "a.bin");
            var w = await RemoteFileWriter.CreateAsync(c, target, data.Length, overwrite: false, createParents: false, None, mode);
            await w.WriteAsync(data, None);
            string wrong = new string('0', 64);
            var bad = await Assert.ThrowsAsync<ExecBridgeException>(() => w.CommitAsync(wrong, None));
            Assert.Equal(ExecBridgeErrorKind.IntegrityCheckFailed, bad.Kind);
            Assert.Contains(sent, bad.Message); // what the executor computed
            await w.AbortAsync();
            Assert.False(File.Exists(target));
            Assert.Empty(TestFiles.Partials(dir));

            // Without overwrite, a file that appeared meanwhile is kept as it is.
            var w2 = await RemoteFileWriter.CreateAsync(c, target, data.Length, overwrite: false, createParents: false, None, mode);
            await w2.WriteAsync(data, None);
            File.WriteAllText(target, "someone else's");
            var exists = await Assert.ThrowsAsync<ExecBridgeException>(() => w2.CommitAsync(sent, None));
            Assert.Equal(ExecBridgeErrorKind.DestinationExists, exists.Kind);
            await w2.AbortAsync();
            Assert.Equal("someone else's", File.ReadAllText(target));
            Assert.Empty(TestFiles.Partials(dir));

            // With overwrite and the right hash it lands, and the executor's hash is returned.
            var w3 = await RemoteFileWriter.CreateAsync(c, target, data.Length, overwrite: true, createParents: false, None, mode);
            await w3.WriteAsync(data, None);
            Assert.Equal(sent, await w3.CommitAsync(sent, None));
            Assert.Equal(data, File.ReadAllBytes(target));
            Assert.Empty(TestFiles.Partials(dir));
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public async Task Folder_trees_copy_both_ways(string dialect)
        {
            var c = _f.Client(dialect);
            var dir = _f.NewDir("trees");
            var src = Path.Combine(dir, "src");
            Directory.CreateDirectory(Path.Combine(src, "a b", "c#"));
            File.WriteAllText(Path.Combine(src, "top.txt"), "top");
            File.WriteAllText(Path.Combine(src, "a b", "c#", "leaf ü.txt"), "leaf");
            File.WriteAllBytes(Path.Combine(src, "a b", "empty.bin"), Array.Empty<byte>());
            var results = new List<CopyResult>();
            var remoteDest = Path.Combine(dir, "up");
            await CopyEngine.CopyItemAsync(LocalStore.Instance, src, new RemoteStore(c), remoteDest, new CopyOptions { Recurse = true },
                new TransferProgress(), results.Add, (e, p) => throw e, None);
            Assert.Equal("leaf", File.ReadAllText(Path.Combine(remoteDest, "a b", "c#", "leaf ü.txt")));
            Assert.Equal(0, new FileInfo(Path.Combine(remoteDest, "a b", "empty.bin")).Length);
            Assert.Equal(4, results.Count); // three files and the folder

            var localDest = Path.Combine(dir, "down");
            await CopyEngine.CopyItemAsync(new RemoteStore(c), remoteDest, LocalStore.Instance, localDest, new CopyOptions { Recurse = true },
                new TransferProgress(), r => { }, (e, p) => throw e, None);
            Assert.Equal("top", File.ReadAllText(Path.Combine(localDest, "top.txt")));
            Assert.Equal("leaf", File.ReadAllText(Path.Combine(localDest, "a b", "c#", "leaf ü.txt")));

            // Into a folder that already has an 'up' (same host, so dir/up exists): refused without Force.
            var ex = await Assert.ThrowsAnyAsync<ExecBridgeException>(() => CopyEngine.CopyItemAsync(new RemoteStore(c), remoteDest, LocalStore.Instance,
                dir, new CopyOptions { Recurse = true }, new TransferProgress(), r => { }, (e, p) => throw e, None));
            Assert.Equal(ExecBridgeErrorKind.DestinationExists, ex.Kind);
            Assert.Empty(TestFiles.Partials(dir));
        }
    }
}
