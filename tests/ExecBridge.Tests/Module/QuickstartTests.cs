using System;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Module
{
    /// <summary>examples/quickstart.ps1 end to end, in the hosted engine, against a local exec-server (-Local).</summary>
    public sealed class QuickstartTests
    {
        [Fact]
        public void QuickstartRunsEndToEnd()
        {
            // Connect-ExecBridge -Local finds codex through this variable (the README's run-example.sh sets it the same way).
            Environment.SetEnvironmentVariable("EXECBRIDGE_CODEX", Peers.CodexPath(Peers.Current));
            var script = Path.Combine(Peers.RepoRoot, "examples", "quickstart.ps1");
            using var ps = new PsHost();
            var r = ps.Run("& $args[0]", script);
            r.AssertOk();
            var lines = r.Output.Select(o => o.ToString()).ToList();
            string Step(string prefix) => lines.SingleOrDefault(l => l.StartsWith(prefix))
                ?? throw new Xunit.Sdk.XunitException($"No line starting with '{prefix}' in:\n" + string.Join("\n", lines));

            var connected = Regex.Match(Step("[1] "), @"^\[1\] Connected to executor 'local' at ws://127\.0\.0\.1:(\d+)/ \(dialect Current\)$");
            Assert.True(connected.Success, Step("[1] "));
            Assert.Equal("[2] Invoke-RemoteCommand said: hello from Linux (exit code 0)", Step("[2] Invoke"));
            Assert.Matches(@"^\[3\] Started process \S+: for i in 1 2 3; do", Step("[3] Started"));

            int start = lines.IndexOf(Step("[3] Started")), end = lines.IndexOf(Step("[3] Process ended"));
            var streamed = lines.Skip(start + 1).Take(end - start - 1).ToList();
            Assert.Equal(new[] { "    Stdout: tick 1", "    Stdout: tick 2", "    Stdout: tick 3" }, streamed.Where(l => l.Contains("Stdout:")));
            Assert.Equal(new[] { "    Stderr: done" }, streamed.Where(l => l.Contains("Stderr:")));
            Assert.Equal(4, streamed.Count);
            Assert.Equal("[3] Process ended: state Exited, exit code 3", Step("[3] Process ended"));
            Assert.Equal("[4] The interactive shell answered: nice to meet you, ExecBridge (exit code 0)", Step("[4] "));
            Assert.Equal("[5] Pool: local is Connected, 0 reconnects", Step("[5] "));
            Assert.Equal("[6] Disconnected; 0 connections left", lines.Last());

            // Disconnect stopped the local exec-server: its port no longer accepts connections.
            int port = int.Parse(connected.Groups[1].Value);
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (true)
            {
                try
                {
                    using var tcp = new TcpClient();
                    tcp.Connect("127.0.0.1", port);
                }
                catch (SocketException) { break; }
                Assert.True(DateTime.UtcNow < deadline, $"The local exec-server on port {port} still accepts connections after Disconnect-ExecBridge.");
                System.Threading.Thread.Sleep(100);
            }
            Assert.Empty(ps.Run("Get-ExecBridgeConnection").AssertOk().Output);
        }
    }
}
