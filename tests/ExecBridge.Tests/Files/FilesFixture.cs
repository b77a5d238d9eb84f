using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Files
{
    /// <summary>One real exec-server of each dialect (0.130.0 legacy, 0.169.0 current) and a scratch folder, shared by a test class.</summary>
    public sealed class FilesFixture : IAsyncLifetime
    {
        public ExecServer Legacy { get; private set; } = null!;
        public ExecServer Current { get; private set; } = null!;
        public ExecutorClient LegacyClient { get; private set; } = null!;
        public ExecutorClient CurrentClient { get; private set; } = null!;

        /// <summary>The executors run on this host, so "remote" paths are paths of this machine.</summary>
        public string Root { get; } = Path.Combine(Path.GetTempPath(), "eb-files-" + Guid.NewGuid().ToString("N").Substring(0, 8));

        public async Task InitializeAsync()
        {
            Directory.CreateDirectory(Root);
            var l = ExecServer.StartAsync(Peers.Legacy);
            var c = ExecServer.StartAsync(Peers.Current);
            Legacy = await l;
            Current = await c;
            LegacyClient = new ExecutorClient(new ExecutorEndpoint("legacy", Legacy.Uri, null));
            CurrentClient = new ExecutorClient(new ExecutorEndpoint("current", Current.Uri, null));
            await LegacyClient.EnsureConnectedAsync(CancellationToken.None);
            await CurrentClient.EnsureConnectedAsync(CancellationToken.None);
        }

        public ExecServer Server(string dialect) => dialect == "legacy" ? Legacy : Current;
        public ExecutorClient Client(string dialect) => dialect == "legacy" ? LegacyClient : CurrentClient;

        /// <summary>A fresh folder for one test.</summary>
        public string NewDir(string hint)
        {
            var d = Path.Combine(Root, hint + "-" + Guid.NewGuid().ToString("N").Substring(0, 6));
            Directory.CreateDirectory(d);
            return d;
        }

        public Task DisposeAsync()
        {
            LegacyClient?.Dispose();
            CurrentClient?.Dispose();
            Legacy?.Dispose();
            Current?.Dispose();
            try { Directory.Delete(Root, true); } catch { }
            return Task.CompletedTask;
        }
    }

    public static class TestFiles
    {
        /// <summary>Writes 'size' pseudo-random bytes (seeded) without holding them all in memory.</summary>
        public static void WriteRandom(string path, long size, int seed)
        {
            var rng = new Random(seed);
            var buf = new byte[1 << 20];
            using var fs = new FileStream(path, FileMode.Create, FileAccess.Write);
            for (long left = size; left > 0;)
            {
                int n = (int)Math.Min(buf.Length, left);
                rng.NextBytes(buf);
                fs.Write(buf, 0, n);
                left -= n;
            }
        }

        public static string Sha256(string path)
        {
            using var fs = File.OpenRead(path);
            return Convert.ToHexString(SHA256.HashData(fs)).ToLowerInvariant();
        }

        public static string Sha256(byte[] data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

        /// <summary>Files in a folder named like a partial (".eb-*", or the older "*.partial-*"): left-overs of a copy.</summary>
        public static string[] Partials(string dir) =>
            Directory.Exists(dir)
                ? Directory.GetFiles(dir, ".eb-*", SearchOption.AllDirectories).Concat(Directory.GetFiles(dir, "*.partial-*", SearchOption.AllDirectories)).ToArray()
                : Array.Empty<string>();
    }
}
