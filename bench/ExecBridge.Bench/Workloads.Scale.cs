using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Tests.Gateway;
using ExecBridge.Tests.Infrastructure;

namespace ExecBridge.Bench
{
    /// <summary>
    /// W8 (issue 19 item 3): one real pwsh (`dotnet pwsh`, the pinned tool) driving 16, 64 and 256 executors through one
    /// loopback gateway (the tests' GatewayFixture, in this process), each executor its own real codex 0.169 exec-server
    /// (one measured at ~6 MiB anonymous RSS, 15 fds, 7 threads: 256 fit in this machine's memory). The pwsh side is
    /// bench/scale-fanout.ps1; this side starts the servers, registers them, runs the script once per size per round and
    /// also times the same fan-out through the client library called directly.
    /// </summary>
    internal sealed partial class Workloads
    {
        private const string ScaleIdPrefix = "s";
        private readonly List<ExecServer> _scaleServers = new List<ExecServer>();
        private GatewayFixture? _scaleGateway;
        private readonly Dictionary<string, List<double>> _scaleNotes = new Dictionary<string, List<double>>();

        private int[] ScaleSizes => _o.Quick ? new[] { 8 } : new[] { 16, 64, 256 };
        private int ScaleCommands => _o.Quick ? 16 : 1000;
        private const int ScaleThrottle = 32;

        private static string ScaleId(int i) => $"{ScaleIdPrefix}{i:000}";

        /// <summary>
        /// Each server's own HOME, named by its id: the server reports it (environment/info userHomeDir) and commands
        /// get it as $HOME, so `echo ${HOME##*/}` (a shell builtin) prints which server really ran the command.
        /// </summary>
        private string ScaleHome(int i)
        {
            var home = Path.Combine(_dir, "scale-home", ScaleId(i));
            Directory.CreateDirectory(home);
            return home;
        }

        private async Task<GatewayFixture> ScaleGatewayAsync(int count)
        {
            EnsureInotifyInstances(count);
            if (_scaleGateway == null)
            {
                _scaleGateway = await GatewayFixture.StartNewAsync();
            }
            var sw = Stopwatch.StartNew();
            int had = _scaleServers.Count;
            // Started 16 at a time: 64 at once took 1.5 s on these 2 cores; all 256 at once starved their own start-up.
            for (int i = _scaleServers.Count + 1; i <= count; i += 16)
            {
                var batch = Enumerable.Range(i, Math.Min(16, count - i + 1)).Select(n =>
                    ExecServer.StartAsync(Peers.Current, env: new Dictionary<string, string> { ["HOME"] = ScaleHome(n) })).ToArray();
                _scaleServers.AddRange(await Task.WhenAll(batch));
            }
            for (int i = had; i < _scaleServers.Count; i++) _scaleGateway.RegisterExecutor(ScaleId(i + 1), _scaleServers[i].Uri);
            _scaleGateway.RegisterExecutor(ScaleIdPrefix + "warm", _scaleServers[0].Uri);
            if (_scaleServers.Count > had) _log($"  W8: {_scaleServers.Count - had} more codex exec-servers started in {sw.ElapsedMilliseconds} ms ({ServerCost()})");
            return _scaleGateway;
        }

        /// <summary>
        /// Every codex exec-server holds an inotify instance, and Linux allows 128 per user by default (shared with every
        /// dotnet process): 256 servers need more. Raised here when the bench may (root), else a clear failure.
        /// </summary>
        private void EnsureInotifyInstances(int servers)
        {
            const string knob = "/proc/sys/fs/inotify/max_user_instances";
            if (!File.Exists(knob)) return;
            int limit = int.Parse(File.ReadAllText(knob).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            int need = servers + 64; // headroom for the gateway, pwsh and whatever else the user runs
            if (limit >= need || servers <= 32) return; // --quick's 8 fit in the default 128
            try
            {
                File.WriteAllText(knob, need.ToString(System.Globalization.CultureInfo.InvariantCulture));
                _log($"  W8: raised {knob} from {limit} to {need} ({servers} exec-servers hold one inotify instance each)");
            }
            catch (Exception ex) when (ex is UnauthorizedAccessException || ex is IOException)
            {
                throw new InvalidOperationException(
                    $"W8 needs {need} inotify instances for {servers} exec-servers; {knob} is {limit} and could not be raised ({ex.Message}). " +
                    $"Run: sudo sysctl fs.inotify.max_user_instances={need}");
            }
        }

        /// <summary>What the exec-servers cost: anonymous resident memory and descriptors, averaged.</summary>
        private string ServerCost()
        {
            long anon = 0, fds = 0;
            int n = 0;
            foreach (var s in _scaleServers)
            {
                try
                {
                    var line = File.ReadLines($"/proc/{s.Pid}/status").First(l => l.StartsWith("RssAnon:"));
                    anon += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
                    fds += Directory.GetFiles($"/proc/{s.Pid}/fd").Length;
                    n++;
                }
                catch { }
            }
            return n == 0 ? "cost unknown" : $"{anon / n / 1024.0:0.0} MiB anonymous RSS and {fds / (double)n:0.0} fds each, idle";
        }

        public async Task W8Async()
        {
            bool madeConfigDir = MakeCodexSystemConfigDir();
            try
            {
                foreach (int n in ScaleSizes) await W8SizeAsync(n);
            }
            finally
            {
                if (madeConfigDir) try { Directory.Delete(CodexSystemConfigDir); } catch (IOException) { }
            }
        }

        private const string CodexSystemConfigDir = "/etc/codex";

        /// <summary>
        /// codex 0.169 watches its system config folder with inotify, and the parent, /etc, while the folder is missing
        /// (opens included: mask 0xfee). Every process started on the machine opens /etc/ld.so.cache, so with 256
        /// servers on one machine each echo woke all 256 watchers: load average ~150, 64% system CPU, and the fan-out
        /// time grew round after round (measured 18:45 UTC; a fleet has one server per machine and no such cross-talk).
        /// An empty /etc/codex (created here when missing, removed after W8) makes them watch that instead.
        /// </summary>
        private bool MakeCodexSystemConfigDir()
        {
            if (Directory.Exists(CodexSystemConfigDir)) return false;
            try
            {
                Directory.CreateDirectory(CodexSystemConfigDir);
                _log($"  W8: created an empty {CodexSystemConfigDir} for the run (else every server watches /etc and wakes on every process start)");
                return true;
            }
            catch (Exception ex) when (ex is UnauthorizedAccessException || ex is IOException)
            {
                _log($"  W8: could not create {CodexSystemConfigDir} ({ex.Message}): every server watches /etc, so the 256-executor rows include that cross-talk");
                return false;
            }
        }

        private async Task W8SizeAsync(int n)
        {
            var g = await ScaleGatewayAsync(n);
            string label = $"W8 {n} executors via one gateway";
            string script = Path.Combine(Peers.RepoRoot, "bench", "scale-fanout.ps1");
            bool big = n == ScaleSizes.Max();

            var result = await RunPwshScaleAsync(script, g, n);
            bool fanout = result.GetProperty("Fanout").GetBoolean();
            double D(string name) => result.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;
            int Bad(string name) => result.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : 0;

            void Add(Row row, double value, int bad = 0, string? what = null)
            {
                var run = new RunResult { DirectValue = value, Seconds = value / 1000 };
                if (double.IsNaN(value)) run.Problem = "not measured";
                if (bad != 0) run.Problem = $"{bad} executor(s) with output lost, duplicated or misattributed{(what == null ? "" : " (" + what + ")")}";
                row.Runs.Add(run);
                _log($"  {row.Workload} {row.Path}: {(run.Problem ?? value.ToString("0.###") + " " + row.Unit)}");
            }

            void Latency(Row row, string prefix)
            {
                if (!_scaleNotes.TryGetValue(row.Path + label, out var l)) _scaleNotes[row.Path + label] = l = new List<double>();
                l.Add(D(prefix + "P50")); l.Add(D(prefix + "P99"));
                var p50 = l.Where((_, i) => i % 2 == 0).OrderBy(x => x).ToList();
                var p99 = l.Where((_, i) => i % 2 == 1).OrderBy(x => x).ToList();
                row.Note = $"{row.Note?.Split(" — per executor")[0]} — per executor p50 {p50[p50.Count / 2]:0.0} ms, p99 {p99[p99.Count / 2]:0.0} ms (medians over runs)";
            }

            var connect = AddRow(label, "connect-all (pwsh)", MetricKind.Millis);
            connect.Note = result.GetProperty("ConnectMode").GetString() + (fanout ? $", -ThrottleLimit {ScaleThrottle}" : " (the fan-out Connect-ExecBridge is not in this build)");
            if (big && fanout) connect.MaxMillis = 1000;
            Add(connect, D("ConnectAllMs"));

            var seq = AddRow(label, "echo on each, one after another (pwsh)", MetricKind.Millis);
            seq.Note = "foreach ($id in $ids) { Invoke-RemoteCommand 'echo ${HOME##*/}' -ExecutorId $id }; each line checked against the executor that ran it";
            Add(seq, D("SequentialMs"), Bad("SequentialBad"));
            Latency(seq, "Sequential");

            var fan = AddRow(label, $"echo fan-out, Invoke-RemoteCommand -ExecutorId -ThrottleLimit {ScaleThrottle} (pwsh)", MetricKind.Millis, seq);
            fan.RatioTarget = 0.5;
            if (big) fan.MaxMillis = 2000;
            if (!fanout) fan.NotAvailable = NotImplemented + ": Invoke-RemoteCommand -ExecutorId a,b,c (branch fanout)";
            else
            {
                fan.Note = "end to end: first call to last line; lines tagged ExecutorId, every executor's line checked";
                Add(fan, D("FanoutMs"), Bad("FanoutBad"));
                Latency(fan, "Fanout");
                var all = AddRow(label, $"echo fan-out, -ThrottleLimit {n} (pwsh)", MetricKind.Millis, seq);
                if (n != ScaleThrottle)
                {
                    all.Note = "the same, every executor at once";
                    Add(all, D("FanoutAllMs"), Bad("FanoutAllBad"));
                    Latency(all, "FanoutAll");
                }
                else Rows.Remove(all);
                var summary = AddRow(label, "exit code of every executor (-Summary)", MetricKind.Millis);
                summary.UnitOverride = "missing";
                summary.Note = "Invoke-RemoteCommand 'exit 0' -ExecutorId $ids -Summary: executors without a summary saying ExitCode 0";
                Add(summary, D("SummaryBad"));
            }

            var par = AddRow(label, $"echo fan-out, ForEach-Object -Parallel -ThrottleLimit {ScaleThrottle} (pwsh, by hand)", MetricKind.Millis, seq);
            par.Note = "$conns | ForEach-Object -Parallel { Invoke-RemoteCommand ... -Connection $_ } (Import-Module in each runspace)";
            Add(par, D("ParallelMs"), Bad("ParallelBad"));
            Latency(par, "Parallel");

            var lib = AddRow(label, $"echo fan-out, client library, {ScaleThrottle} in flight (reference)", MetricKind.Millis, seq);
            lib.Note = "ExecutorClient per executor in the bench process, StartProcessAsync + output until closed, 32 at a time";
            var libConnect = AddRow(label, "connect-all, client library, all at once (reference)", MetricKind.Millis);
            libConnect.Note = "new ExecutorClient + EnsureConnectedAsync for every executor at once";
            await ClientFanoutAsync(g, n, libConnect, lib, Add);

            var thousand = AddRow(label, $"{ScaleCommands} echo commands spread across the {n}", MetricKind.Millis);
            thousand.Note = fanout ? $"waves of Invoke-RemoteCommand -ExecutorId (≤ {n} each), -ThrottleLimit {ScaleThrottle}" : $"ForEach-Object -Parallel -ThrottleLimit {ScaleThrottle} over {ScaleCommands} (connection, command) items";
            Add(thousand, D("ThousandMs"), Bad("ThousandBad"));

            var managed = AddRow(label, "managed heap per connection (pwsh)", MetricKind.Millis);
            managed.UnitOverride = "KiB";
            managed.MaxMillis = 128;
            managed.Note = "GC.GetTotalMemory(true) after connect-all minus before, / executors";
            Add(managed, D("ManagedPerConn") / 1024);
            var rss = AddRow(label, "resident set per connection (pwsh)", MetricKind.Millis);
            rss.UnitOverride = "KiB";
            rss.MaxMillis = 128;
            rss.Note = "/proc/self/statm after connect-all (after a full GC) minus before, / executors";
            Add(rss, D("RssPerConn") / 1024);
            var fds = AddRow(label, "file descriptors per connection (pwsh)", MetricKind.Millis);
            fds.UnitOverride = "fds";
            fds.Note = "/proc/self/fd after connect-all minus before, / executors";
            Add(fds, D("FdsPerConn"));
            var peak = AddRow(label, "pwsh peak resident set (reference)", MetricKind.Millis);
            peak.UnitOverride = "MiB";
            peak.Note = $"VmHWM of the pwsh process at the end (before connecting: {D("RssBeforeKiB") / 1024:0} MiB)";
            Add(peak, D("PeakRssKiB") / 1024);
        }

        /// <summary>Runs bench/scale-fanout.ps1 in a fresh `dotnet pwsh` (the pinned tool) and parses its RESULT line.</summary>
        private async Task<JsonElement> RunPwshScaleAsync(string script, GatewayFixture g, int n)
        {
            var psi = new ProcessStartInfo("dotnet")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Peers.RepoRoot,
            };
            foreach (var a in new[] { "pwsh", "-NoLogo", "-NoProfile", "-NonInteractive", "-File", script,
                         "-Module", Peers.ModuleManifest, "-GatewayUri", g.BridgeBaseUri.ToString(), "-IdPrefix", ScaleIdPrefix,
                         "-Count", n.ToString(), "-Commands", ScaleCommands.ToString(), "-ThrottleLimit", ScaleThrottle.ToString() })
                psi.ArgumentList.Add(a);
            // The workspace token goes in the environment, never on a command line.
            psi.Environment["EB_SCALE_TOKEN"] = g.WorkspaceToken;
            psi.Environment["NO_COLOR"] = "1";
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            try { await p.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { p.Kill(true); throw new TimeoutException($"scale-fanout.ps1 with {n} executors did not finish in 5 minutes"); }
            var line = (await stdout).Split('\n').LastOrDefault(l => l.StartsWith("RESULT "));
            if (p.ExitCode != 0 || line == null)
                throw new InvalidOperationException($"scale-fanout.ps1 ({n} executors) exited {p.ExitCode}: {Measure.FirstLine((await stderr).Trim() + (await stdout).Trim())}");
            return JsonDocument.Parse(line.Substring(7)).RootElement;
        }

        /// <summary>The same fan-out through the client library in this process: all connects at once, then 32 echoes in flight.</summary>
        private async Task ClientFanoutAsync(GatewayFixture g, int n, Row connectRow, Row fanRow, Action<Row, double, int, string?> add)
        {
            var ids = Enumerable.Range(1, n).Select(ScaleId).ToArray();
            var sw = Stopwatch.StartNew();
            var clients = await Task.WhenAll(ids.Select(async id =>
            {
                var c = new ExecutorClient(new ExecutorEndpoint(id, g.BridgeUri(id), g.WorkspaceToken));
                await c.EnsureConnectedAsync(_ct);
                return c;
            }));
            add(connectRow, sw.Elapsed.TotalMilliseconds, 0, null);
            try
            {
                using var gate = new SemaphoreSlim(ScaleThrottle);
                var done = new double[n];
                sw.Restart();
                var outputs = await Task.WhenAll(clients.Select(async (c, i) =>
                {
                    await gate.WaitAsync(_ct);
                    try
                    {
                        var text = await RunToEndAsync(c, "echo ${HOME##*/}");
                        done[i] = sw.Elapsed.TotalMilliseconds;
                        return text;
                    }
                    finally { gate.Release(); }
                }));
                double total = sw.Elapsed.TotalMilliseconds;
                int bad = ids.Where((id, i) => outputs[i] != id + "\n").Count();
                add(fanRow, total, bad, null);
                Array.Sort(done);
                if (!_scaleNotes.TryGetValue("lib" + n, out var l)) _scaleNotes["lib" + n] = l = new List<double>();
                l.Add(done[n / 2]);
                fanRow.Note = $"{fanRow.Note?.Split(" — ")[0]} — per executor p50 {l.OrderBy(x => x).ElementAt(l.Count / 2):0.0} ms (median over runs)";
            }
            finally
            {
                foreach (var c in clients) c.Dispose();
            }
        }

        /// <summary>Runs a shell command to its end; its stdout as text.</summary>
        private async Task<string> RunToEndAsync(ExecutorClient c, string command)
        {
            var h = await c.StartProcessAsync(new ProcessStartSpec { Command = command }, _ct);
            var sb = new StringBuilder();
            try
            {
                while (true)
                {
                    foreach (var chunk in h.TakeUnread()) if (chunk.Stream != OutputStreamKind.Stderr) sb.Append(Encoding.UTF8.GetString(chunk.Data));
                    if (h.Failure != null) throw h.Failure;
                    if (h.IsFinished && !h.HasUnread) break;
                    await c.WaitForOutputAsync(h, TimeSpan.FromMilliseconds(500), _ct);
                }
            }
            finally { c.Forget(h); }
            return sb.ToString();
        }

        private void DisposeScale()
        {
            try { _scaleGateway?.Dispose(); } catch { }
            foreach (var s in _scaleServers) s.Dispose();
        }
    }
}
