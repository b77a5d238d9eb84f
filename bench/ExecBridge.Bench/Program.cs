using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Tests.Infrastructure;

namespace ExecBridge.Bench
{
    public static class Program
    {
        private const string Usage =
            "usage: dotnet run -c Release --project bench/ExecBridge.Bench -- [--quick] [--runs N] [--only W1,W2,...; W1L, W5L: only the legacy half] [--results FILE]";

        public static async Task<int> Main(string[] args)
        {
            CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
            CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
            if (args.Length > 0 && args[0] == "--child-w7") return await ChildW7Async(args);
            // The gateway fixtures need no config reload: each would take an inotify instance (128 per user, shared with
            // every other dotnet process on the machine; W10 failed on it once).
            Environment.SetEnvironmentVariable("DOTNET_hostBuilder__reloadConfigOnChange", "false");

            var o = new BenchOptions { RawArgs = args.ToList() };
            bool runsGiven = false;
            for (int i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--quick": o.Quick = true; break;
                    case "--runs" when i + 1 < args.Length && int.TryParse(args[i + 1], out var n) && n > 0: o.Rounds = n; runsGiven = true; i++; break;
                    case "--only" when i + 1 < args.Length:
                        o.Only = new HashSet<string>(args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim().ToUpperInvariant()));
                        break;
                    case "--results" when i + 1 < args.Length: o.ResultsPath = args[++i]; break;
                    case "-h": case "--help": Console.WriteLine(Usage); return 0;
                    default: Console.Error.WriteLine($"unknown argument '{args[i]}'\n{Usage}"); return 2;
                }
            }
            if (o.Quick && !runsGiven) o.Rounds = 1;
            Measure.Hygiene = !o.Quick;

            var total = Stopwatch.StartNew();
            void Log(string s) => Console.Error.WriteLine(s);
            Log($"ExecBridge bench: {(o.Quick ? "quick" : "full")}, {o.Rounds} round(s) of one run per path (interleaved), module {Peers.ModuleManifest}");
            if (!File.Exists(Peers.ModuleManifest))
            {
                Console.Error.WriteLine($"The module is not built: {Peers.ModuleManifest} (build the solution, or set EXECBRIDGE_MODULE).");
                return 3;
            }
            string loadBefore = LoadAverage();

            using var server = await ExecServer.StartAsync(Peers.Current);
            Log($"codex {server.Version} exec-server at {server.Uri}");
            List<Row> rows;
            using (var w = new Workloads(o, server, Log))
            {
                try
                {
                    for (int round = 1; round <= o.Rounds; round++)
                    {
                        o.Warmup = round == 1 && !o.Quick;
                        Log($"round {round} of {o.Rounds}");
                        if (o.Wants("W1")) { Log("W1 ..."); await w.W1Async(); }
                        if (o.Wants("W1") || o.Wants("W1L")) { Log("W1 legacy ..."); await w.W1LegacyAsync(); }
                        if (o.Wants("W2")) { Log("W2 ..."); await w.W2Async(); }
                        if (o.Wants("W3")) { Log("W3 ..."); await w.W3Async(); }
                        if (o.Wants("W4")) { Log("W4 ..."); await w.W4Async(); }
                        if (o.Wants("W5")) { Log("W5 ..."); await w.W5Async(); }
                        if (o.Wants("W5") || o.Wants("W5L")) { Log("W5 legacy ..."); await w.W5LegacyAsync(); }
                        if (o.Wants("W6")) { Log("W6 ..."); await w.W6Async(); }
                        if (o.Wants("W7")) { Log("W7 ..."); await w.W7Async(); }
                        if (o.Wants("W8")) { Log("W8 ..."); await w.W8Async(); }
                        if (o.Wants("W9")) { Log("W9 ..."); await w.W9Async(); }
                        if (o.Wants("W10")) { Log("W10 ..."); await w.W10Async(); }
                        if (o.Wants("W11")) { Log("W11 ..."); await w.W11Async(); }
                    }
                }
                catch (Exception ex)
                {
                    Console.Error.WriteLine("The benchmark failed: " + ex);
                    Console.WriteLine(Table(w.Rows));
                    return 1;
                }
                rows = w.Rows;
            }
            total.Stop();

            var table = Table(rows);
            Console.WriteLine(table);
            bool failed = rows.Any(r => r.NotAvailable == null && r.Runs.Any(x => x.Problem != null));
            foreach (var r in rows)
                foreach (var x in r.Runs.Where(x => x.Problem != null))
                    Console.WriteLine($"FAILED RUN: {r.Workload} / {r.Path}: {x.Problem}");
            Log($"total {total.Elapsed.TotalSeconds:0.0} s");

            if (o.ResultsPath != null)
            {
                File.WriteAllText(o.ResultsPath, ResultsMarkdown(o, table, total.Elapsed, loadBefore, LoadAverage()));
                Log($"wrote {o.ResultsPath}");
            }
            return failed ? 1 : 0;
        }

        // ------------------------------------------------------------------------------------ table

        internal static string Table(IReadOnlyList<Row> rows)
        {
            var sb = new StringBuilder();
            sb.AppendLine("| workload | path | median | min–max | ratio to floor | peak memory | allocated/run | CPU busy | target | verdict | notes |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var r in rows)
            {
                if (r.NotAvailable != null)
                {
                    sb.AppendLine($"| {r.Workload} | {Cell(r.Path)} | {r.NotAvailable} | | | | | | {TargetText(r)} | – | |");
                    continue;
                }
                var values = r.Good.Select(r.Value).ToList();
                string median = r.Median == null ? "FAILED" : $"{Fmt(r.Median.Value)} {r.Unit}";
                string range = values.Count == 0 ? "" : $"{Fmt(values.Min())}–{Fmt(values.Max())}";
                string ratio = r.Ratio == null ? (r.Floor == null && r.Kind != MetricKind.Millis ? "1.00× (floor)" : "") : $"{r.Ratio:0.00}×";
                if (r.Ratio != null && r.PairedRatio != null) ratio += $" (paired {r.PairedRatio:0.00}×)";
                foreach (var v in r.Versus)
                {
                    var x = r.RatioTo(v.Other);
                    ratio += (ratio.Length > 0 ? "; " : "") + (x == null ? "n/a" : $"{x:0.00}×") + " " + v.Name;
                }
                long peak = r.Good.Select(x => x.PeakBytes).DefaultIfEmpty(-1).Max();
                var allocs = r.Good.Where(x => x.AllocatedBytes >= 0).Select(x => x.AllocatedBytes).OrderBy(x => x).ToList();
                string alloc = allocs.Count == 0 ? "n/a" : Measure.Mib(allocs[allocs.Count / 2]);
                var cpus = r.Good.Where(x => x.CpuCores >= 0).Select(x => x.CpuCores).OrderBy(x => x).ToList();
                string cpu = cpus.Count == 0 ? "n/a" : $"{cpus[cpus.Count / 2]:0.00} of {Environment.ProcessorCount}";
                string notes = r.Note ?? "";
                int n = r.Runs.Count, bad = r.Runs.Count(x => x.Problem != null);
                notes = $"{n} run(s){(bad > 0 ? $", {bad} FAILED" : "")}" + (notes.Length > 0 ? "; " + notes : "");
                sb.AppendLine($"| {r.Workload} | {Cell(r.Path)} | {median} | {range} | {ratio} | {(peak < 0 ? "n/a" : "+" + Measure.Mib(peak))} | {alloc} | {cpu} | {TargetText(r)} | {r.Verdict} | {Cell(notes)} |");
            }
            return sb.ToString();
        }

        private static string Cell(string s) => s.Replace("|", "\\|");

        private static string TargetText(Row r)
        {
            var parts = new List<string>();
            if (r.RatioTarget != null) parts.Add(r.LowerIsBetter ? $"≤ {r.RatioTarget:0.0#}× floor" : $"≥ {r.RatioTarget:0.0#}× floor");
            foreach (var v in r.Versus.Where(v => v.Min != null)) parts.Add($"≥ {v.Min:0.0#}× {v.Name}");
            if (r.MaxMillis != null) parts.Add($"< {r.MaxMillis} {r.Unit}");
            if (r.MaxPeakBytes != null) parts.Add($"< {r.MaxPeakBytes >> 20} MiB");
            if (r.Workload.StartsWith("W2") && r.Kind == MetricKind.Throughput) parts.Add("0 bytes lost");
            return string.Join("; ", parts);
        }

        private static string Fmt(double v) => v >= 100 ? v.ToString("0") : v >= 10 ? v.ToString("0.0") : v.ToString("0.00");

        // ------------------------------------------------------------------------------------ results file

        private static string ResultsMarkdown(BenchOptions o, string table, TimeSpan elapsed, string loadBefore, string loadAfter)
        {
            var sb = new StringBuilder();
            sb.AppendLine("# ExecBridge benchmark results");
            sb.AppendLine();
            sb.AppendLine($"Generated {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC by the bench itself (`--results`). Mode: {(o.Quick ? "quick" : "full")}, {o.Rounds} round(s), each running every path of a workload once after the other (so a floor and the paths compared with it are timed close together), total {elapsed.TotalSeconds:0} s.");
            sb.AppendLine();
            sb.AppendLine("Command:");
            sb.AppendLine();
            sb.AppendLine("```");
            sb.AppendLine("dotnet run -c Release --project bench/ExecBridge.Bench -- " + string.Join(" ", o.RawArgs));
            sb.AppendLine("```");
            sb.AppendLine();
            var module = Environment.GetEnvironmentVariable("EXECBRIDGE_MODULE");
            sb.AppendLine("Invoked as: `" + (string.IsNullOrEmpty(module) ? "" : "EXECBRIDGE_MODULE=" + module + " ") + Environment.ProcessPath + " "
                          + (Path.GetFileNameWithoutExtension(Environment.ProcessPath ?? "") == "dotnet" ? typeof(Program).Assembly.Location + " " : "")
                          + string.Join(" ", o.RawArgs) + "`");
            sb.AppendLine();
            sb.AppendLine("Machine:");
            sb.AppendLine();
            sb.AppendLine($"- nproc: {Environment.ProcessorCount}");
            sb.AppendLine($"- memory: {MemTotal()}");
            sb.AppendLine($"- OS: {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture})");
            sb.AppendLine($"- dotnet --version: {DotnetVersion()} (runtime {RuntimeInformation.FrameworkDescription})");
            sb.AppendLine($"- CPU: {CpuModel()}");
            sb.AppendLine($"- load average before / after: {loadBefore} / {loadAfter}");
            sb.AppendLine($"- exec-server: codex {Peers.Current} on loopback (same host, same disk)");
            sb.AppendLine();
            sb.AppendLine(table);
            return sb.ToString();
        }

        private static string LoadAverage()
        {
            try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); } catch { return "?"; }
        }

        private static string MemTotal()
        {
            try
            {
                var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:"));
                long kb = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
                return $"{kb / 1024.0 / 1024.0:0.0} GiB";
            }
            catch { return "?"; }
        }

        private static string CpuModel()
        {
            try { return File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("model name")).Split(':', 2)[1].Trim(); } catch { return "?"; }
        }

        private static string DotnetVersion()
        {
            try
            {
                using var p = Process.Start(new ProcessStartInfo("dotnet", "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
                var v = p.StandardOutput.ReadToEnd().Trim();
                p.WaitForExit();
                return v;
            }
            catch { return "?"; }
        }

        // ------------------------------------------------------------------------------------ W7 child

        /// <summary>How to start this benchmark again as a child process (apphost, or `dotnet bench.dll`).</summary>
        internal static ProcessStartInfo SelfStartInfo()
        {
            var host = Environment.ProcessPath!;
            var psi = new ProcessStartInfo(host) { UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
                psi.ArgumentList.Add(typeof(Program).Assembly.Location);
            return psi;
        }

        /// <summary>--child-w7 cmdlets|client|floor URI MANIFEST: one cold measurement, printed as "RESULT k=v ...".</summary>
        private static async Task<int> ChildW7Async(string[] args)
        {
            string mode = args[1];
            var uri = new Uri(args[2]);
            string manifest = args[3];
            var sw = new Stopwatch();
            switch (mode)
            {
                case "cmdlets":
                {
                    using var rs = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
                    rs.Open();
                    using (var ps = PowerShell.Create())
                    {
                        ps.Runspace = rs;
                        ps.AddScript("Import-Module $args[0] -ErrorAction Stop").AddArgument(manifest);
                        sw.Restart();
                        ps.Invoke();
                        sw.Stop();
                        PsEngine.ThrowIfErrors(ps);
                    }
                    double import = sw.Elapsed.TotalMilliseconds;
                    using (var ps = PowerShell.Create())
                    {
                        ps.Runspace = rs;
                        ps.AddScript("$null = Connect-ExecBridge -Uri $args[0] -ExecutorId w7").AddArgument(uri);
                        sw.Restart();
                        ps.Invoke();
                        sw.Stop();
                        PsEngine.ThrowIfErrors(ps);
                    }
                    double first = sw.Elapsed.TotalMilliseconds;
                    using (var ps = PowerShell.Create())
                    {
                        ps.Runspace = rs;
                        ps.AddScript("$null = Connect-ExecBridge -Uri $args[0] -ExecutorId w7b").AddArgument(uri);
                        sw.Restart();
                        ps.Invoke();
                        sw.Stop();
                        PsEngine.ThrowIfErrors(ps);
                    }
                    Console.WriteLine(FormattableString.Invariant($"RESULT import={import:0.000} connect={first:0.000} connect2={sw.Elapsed.TotalMilliseconds:0.000}"));
                    using (var ps = PowerShell.Create()) { ps.Runspace = rs; ps.AddScript("Disconnect-ExecBridge -ExecutorId w7; Disconnect-ExecBridge -ExecutorId w7b").Invoke(); }
                    return 0;
                }
                case "import-floor":
                {
                    // PowerShell's own cold import path: a manifest with nothing in it, first import in the process.
                    var dir = Path.Combine(Path.GetTempPath(), "eb-bench-empty-" + Environment.ProcessId);
                    Directory.CreateDirectory(dir);
                    var empty = Path.Combine(dir, "Empty.psd1");
                    File.WriteAllText(empty, "@{ ModuleVersion = '1.0'; GUID = '0d7e3d0e-5a55-4f4e-9d1b-000000000000' }");
                    try
                    {
                        using var rs = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
                        rs.Open();
                        using var ps = PowerShell.Create();
                        ps.Runspace = rs;
                        ps.AddScript("Import-Module $args[0] -ErrorAction Stop").AddArgument(empty);
                        sw.Restart();
                        ps.Invoke();
                        sw.Stop();
                        PsEngine.ThrowIfErrors(ps);
                    }
                    finally { try { Directory.Delete(dir, true); } catch { } }
                    Console.WriteLine(FormattableString.Invariant($"RESULT import={sw.Elapsed.TotalMilliseconds:0.000}"));
                    return 0;
                }
                case "client":
                {
                    sw.Start();
                    using var c = new ExecutorClient(new ExecutorEndpoint("w7", uri, null));
                    await c.EnsureConnectedAsync(CancellationToken.None);
                    sw.Stop();
                    double first = sw.Elapsed.TotalMilliseconds;
                    sw.Restart();
                    using var c2 = new ExecutorClient(new ExecutorEndpoint("w7b", uri, null));
                    await c2.EnsureConnectedAsync(CancellationToken.None);
                    sw.Stop();
                    Console.WriteLine(FormattableString.Invariant($"RESULT connect={first:0.000} connect2={sw.Elapsed.TotalMilliseconds:0.000}"));
                    return 0;
                }
                case "floor":
                {
                    sw.Start();
                    using var b = await BareClient.ConnectAsync(uri, CancellationToken.None);
                    sw.Stop();
                    double first = sw.Elapsed.TotalMilliseconds;
                    sw.Restart();
                    using var b2 = await BareClient.ConnectAsync(uri, CancellationToken.None);
                    sw.Stop();
                    Console.WriteLine(FormattableString.Invariant($"RESULT connect={first:0.000} connect2={sw.Elapsed.TotalMilliseconds:0.000}"));
                    return 0;
                }
                default:
                    Console.Error.WriteLine("unknown child mode " + mode);
                    return 2;
            }
        }
    }
}
