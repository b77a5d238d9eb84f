using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Local
{
    /// <summary>The -Local capability token is private from the moment it exists: folder 0700, file 0600, ours.</summary>
    public sealed class LocalTokenFileTests
    {
        [Fact]
        public async Task AnotherUserNeverReadsTheTokenWhileServersStart()
        {
            var codex = Peers.CodexPath(Peers.Current);
            var tmp = Path.GetTempPath().TrimEnd('/');
            var seen = new ConcurrentQueue<string>();
            Process? watcher = null;
            if (Environment.UserName == "root")
            {
                // Another local user polling every token folder as fast as it can, for the whole time servers start.
                var psi = new ProcessStartInfo("setpriv") { RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (var a in new[] { "--reuid=nobody", "--regid=nogroup", "--clear-groups", "sh", "-c",
                    $"echo watching; while :; do for f in {tmp}/execbridge-*/ws-token; do [ -r \"$f\" ] && cat \"$f\" && echo; done; done" })
                    psi.ArgumentList.Add(a);
                watcher = Process.Start(psi)!;
                watcher.OutputDataReceived += (_, e) => { if (!string.IsNullOrEmpty(e.Data)) seen.Enqueue(e.Data); };
                watcher.BeginOutputReadLine();
            }
            var tokens = new List<string>();
            var modes = new List<string>();
            try
            {
                for (int i = 0; i < 8; i++)
                {
                    using var server = await LocalExecServer.StartAsync(codex, TimeSpan.FromSeconds(30), CancellationToken.None);
                    Assert.True(server.UsesToken);
                    tokens.Add(server.Token!);
                    var info = ProcTree.Get(server.ProcessId)!;
                    var file = info.Option("--ws-token-file")!;
                    var folder = Path.GetDirectoryName(file)!;
                    modes.Add(Stat(folder) + "/" + Stat(file));
                    Assert.Equal(server.Token, File.ReadAllText(file).Trim());
                }
            }
            finally
            {
                if (watcher != null) { try { watcher.Kill(); } catch { } watcher.WaitForExit(5000); }
            }
            if (watcher != null)
            {
                Assert.Contains("watching", seen);
                foreach (var t in tokens) Assert.DoesNotContain(seen, l => l.Contains(t));
            }
            Assert.All(modes, m => Assert.Equal($"700 {Uid()}/600 {Uid()}", m));
        }

        private static string Uid() => Capture("id", "-u");

        private static string Stat(string path) => Capture("stat", "-c", "%a %u", path);

        private static string Capture(string file, params string[] args)
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var o = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return o;
        }
    }
}
