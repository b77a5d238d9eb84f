using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Bench
{
    /// <summary>
    /// Keeps the benchmark (bench/ExecBridge.Bench) from rotting: its --quick mode (small sizes, one run, real
    /// codex exec-server) must exit 0 and print the results table. Not a timed test: no figure is asserted.
    /// </summary>
    public sealed class BenchSmokeTests
    {
        /// <summary>The bench's build output next to this test assembly's (plain or --artifacts-path layout).</summary>
        private static string BenchDll()
        {
            var env = Environment.GetEnvironmentVariable("EXECBRIDGE_BENCH_DLL");
            if (!string.IsNullOrEmpty(env)) return env;
            var here = AppContext.BaseDirectory;
            var sep = Path.DirectorySeparatorChar;
            var candidates = new[]
            {
                here.Replace($"{sep}ExecBridge.Tests{sep}", $"{sep}ExecBridge.Bench{sep}"),
                here.Replace($"{sep}tests{sep}ExecBridge.Tests{sep}", $"{sep}bench{sep}ExecBridge.Bench{sep}"),
            }.Select(d => Path.Combine(d, "ExecBridge.Bench.dll")).Distinct().ToList();
            var found = candidates.FirstOrDefault(File.Exists);
            Assert.True(found != null, "The bench is not built next to the tests (looked at " + string.Join(", ", candidates) + ").");
            return found!;
        }

        [Fact]
        public async Task QuickModeRunsEveryWorkloadAndPrintsTheTable()
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(BenchDll());
            psi.ArgumentList.Add("--quick");
            psi.Environment["EXECBRIDGE_MODULE"] = Peers.ModuleManifest;
            Peers.CodexPath(Peers.Current); // fetched here so a first download does not count against the bench

            var sw = Stopwatch.StartNew();
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            var exited = p.WaitForExitAsync();
            if (await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(240))) != exited)
            {
                p.Kill(true);
                Assert.Fail("bench --quick ran over 240 s (a hang guard, not a speed target: it takes 30-90 s on a loaded machine):\n" + await stderr);
            }
            string output = await stdout, log = await stderr;

            Assert.True(p.ExitCode == 0, $"bench --quick exited {p.ExitCode}:\n{output}\n{log}");
            var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
            Assert.Contains(lines, l => l.StartsWith("| workload | path | median | min–max | ratio to floor | peak memory |"));
            foreach (var w in new[] { "W1", "W2", "W3", "W4", "W5", "W6", "W7" })
                Assert.Contains(lines, l => l.StartsWith("| " + w + " "));
            // Every workload that runs has a measured floor row; W6's floor is the curl limit through the gateway relay.
            foreach (var w in new[] { "W1", "W2", "W3", "W4", "W5" })
                Assert.Contains(lines, l => l.StartsWith("| " + w + " ") && l.Contains("| floor |") && l.Contains("(floor)"));
            Assert.Contains(lines, l => l.StartsWith("| W6 ") && l.Contains("| curl limit |") && l.Contains("(floor)"));
            foreach (var path in new[] { "client (Relay)", "client (Pump)", "cmdlets (Relay)", "cmdlets (Pump)" })
                Assert.Contains(lines, l => l.StartsWith("| W6 ") && l.Contains("| " + path + " |") && l.Contains("MiB/s"));
            // The legacy dialect's own rows where its workload differs (W1 read, W5 upload).
            foreach (var w in new[] { "W1", "W5" })
                Assert.Contains(lines, l => l.StartsWith("| " + w + " ") && l.Contains("(legacy 0.130.0) | floor |") && l.Contains("(floor)"));
            // Issue 19: W8 (8 executors in a real pwsh, every line checked), W9 (quick ACKs on/off); W10 needs sshd: skipped.
            Assert.Contains(lines, l => l.StartsWith("| W8 ") && l.Contains("Invoke-RemoteCommand -ExecutorId") && l.Contains(" ms |"));
            Assert.Contains(lines, l => l.StartsWith("| W9 ") && l.Contains("quick ACKs on (default)"));
            Assert.Contains(lines, l => l.StartsWith("| W10 ") && l.Contains("skipped in --quick"));
            Assert.DoesNotContain(lines, l => l.Contains("n/a (not implemented)"));
            Assert.DoesNotContain(lines, l => l.Contains("FAILED"));
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(90));
        }
    }
}
