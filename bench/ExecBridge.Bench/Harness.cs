using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Bench
{
    /// <summary>Samples this process's resident set every 10 ms on a background thread and keeps the peak.</summary>
    internal sealed class MemorySampler : IDisposable
    {
        private static readonly long PageSize = Environment.SystemPageSize;
        private readonly Thread _thread;
        private volatile bool _stop;
        private long _peak;

        public MemorySampler()
        {
            Idle = ResidentBytes();
            _peak = Idle;
            _thread = new Thread(Loop) { IsBackground = true, Name = "bench-memory-sampler", Priority = ThreadPriority.AboveNormal };
            _thread.Start();
        }

        public long Idle { get; }

        /// <summary>Peak working set above the idle sample taken when sampling began.</summary>
        public long PeakDelta => Math.Max(0, Interlocked.Read(ref _peak) - Idle);

        /// <summary>Resident set from /proc/self/statm (second field, pages); Environment.WorkingSet elsewhere.</summary>
        public static long ResidentBytes()
        {
            try
            {
                var text = File.ReadAllText("/proc/self/statm");
                var parts = text.Split(' ');
                return long.Parse(parts[1], CultureInfo.InvariantCulture) * PageSize;
            }
            catch
            {
                return Environment.WorkingSet;
            }
        }

        private void Loop()
        {
            while (!_stop)
            {
                long now = ResidentBytes();
                if (now > Interlocked.Read(ref _peak)) Interlocked.Exchange(ref _peak, now);
                Thread.Sleep(10);
            }
        }

        public void Dispose()
        {
            _stop = true;
            _thread.Join();
            long now = ResidentBytes();
            if (now > _peak) _peak = now;
        }
    }

    internal enum MetricKind
    {
        /// <summary>MiB/s; higher is better; ratio = path / floor.</summary>
        Throughput,
        /// <summary>calls/s; higher is better.</summary>
        CallsPerSecond,
        /// <summary>µs per call; lower is better; ratio = path / floor.</summary>
        LatencyMicros,
        /// <summary>milliseconds, absolute target.</summary>
        Millis,
    }

    /// <summary>One measured run: elapsed time, units of work (bytes or calls), peak memory above idle.</summary>
    internal sealed class RunResult
    {
        public double Seconds;
        public double Units;
        public long PeakBytes = -1;
        public string? Problem;
        public double? DirectValue; // for W7, a value measured by a child process (ms)
        public long AllocatedBytes = -1; // managed allocations of the whole process during the run (all threads)
        public double CpuCores = -1; // machine-wide busy cores during the run (all processes: servers, helpers, this one)
    }

    /// <summary>
    /// Machine-wide CPU use from /proc/stat: how many of the cores were busy (any process) over an interval. On this
    /// 2-core machine the client, the exec-servers, their helper processes and the gateway share them, so a path that
    /// keeps both busy is limited by the CPU, not by its own waiting.
    /// </summary>
    internal readonly struct CpuSample
    {
        private readonly long _busy, _total;
        private CpuSample(long busy, long total) { _busy = busy; _total = total; }

        public static CpuSample Take()
        {
            try
            {
                var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                long V(int i) => f.Length > i ? long.Parse(f[i], CultureInfo.InvariantCulture) : 0;
                long idle = V(4) + V(5);
                long busy = V(1) + V(2) + V(3) + V(6) + V(7) + V(8);
                return new CpuSample(busy, busy + idle);
            }
            catch { return default; }
        }

        public static double BusyCores(CpuSample before, CpuSample after)
        {
            long total = after._total - before._total;
            return total <= 0 ? -1 : (double)(after._busy - before._busy) / total * Environment.ProcessorCount;
        }
    }

    /// <summary>A row of the table: one workload through one path.</summary>
    internal sealed class Row
    {
        public Row(string workload, string path, MetricKind kind)
        {
            Workload = workload;
            Path = path;
            Kind = kind;
        }

        public string Workload { get; }
        public string Path { get; }
        public MetricKind Kind { get; }
        public List<RunResult> Runs { get; } = new List<RunResult>();
        public string? NotAvailable { get; set; }
        public string? Note { get; set; }
        public string? Target { get; set; }
        /// <summary>The row whose median is the floor for this one (null: this is the floor or there is none).</summary>
        public Row? Floor { get; set; }
        /// <summary>Absolute target for Millis rows.</summary>
        public double? MaxMillis { get; set; }
        /// <summary>Minimum ratio to the floor (throughput) or maximum ratio (latency).</summary>
        public double? RatioTarget { get; set; }
        public long? MaxPeakBytes { get; set; }

        /// <summary>Further ratio targets against other rows (W6: Relay ≥ 2× Pump; Relay ≥ 0.5× the curl limit).</summary>
        public List<VersusTarget> Versus { get; } = new List<VersusTarget>();

        /// <summary>Median of this row over the median of another (higher-is-better kinds); null when either is missing.</summary>
        public double? RatioTo(Row other)
        {
            if (Median == null || other.Median == null || other.Median == 0) return null;
            return Median / other.Median;
        }

        public double Value(RunResult r) => Kind switch
        {
            MetricKind.Throughput => r.Units / (1024.0 * 1024.0) / r.Seconds,
            MetricKind.CallsPerSecond => r.Units / r.Seconds,
            MetricKind.LatencyMicros => r.Seconds * 1e6 / r.Units,
            _ => r.DirectValue ?? r.Seconds * 1000.0,
        };

        public IEnumerable<RunResult> Good => Runs.Where(r => r.Problem == null);

        public double? Median
        {
            get
            {
                var v = Good.Select(Value).ToList();
                return v.Count == 0 ? null : MedianOf(v);
            }
        }

        /// <summary>Unit shown for Millis rows that hold another quantity (KiB per connection, fds); same verdict rules.</summary>
        public string? UnitOverride { get; set; }

        /// <summary>Time and latency: a ratio target is a maximum.</summary>
        public bool LowerIsBetter => Kind == MetricKind.LatencyMicros || Kind == MetricKind.Millis;

        public string Unit => UnitOverride ?? Kind switch
        {
            MetricKind.Throughput => "MiB/s",
            MetricKind.CallsPerSecond => "calls/s",
            MetricKind.LatencyMicros => "µs/call",
            _ => "ms",
        };

        public double? Ratio
        {
            get
            {
                if (Floor == null || Median == null || Floor.Median == null || Floor.Median == 0) return null;
                return Median / Floor.Median;
            }
        }

        /// <summary>
        /// Median over the rounds of this row's run divided by the floor's run of the same round (timed moments
        /// apart): less moved by a disturbance that hits one round than the ratio of the two medians. Shown beside
        /// it; the verdict stays on the ratio of medians.
        /// </summary>
        public double? PairedRatio
        {
            get
            {
                if (Floor == null || Floor.Runs.Count != Runs.Count) return null;
                var ratios = Runs.Zip(Floor.Runs, (mine, floor) => (mine, floor))
                    .Where(p => p.mine.Problem == null && p.floor.Problem == null && Floor.Value(p.floor) > 0)
                    .Select(p => Value(p.mine) / Floor.Value(p.floor)).ToList();
                return ratios.Count < 2 ? null : MedianOf(ratios);
            }
        }

        private static double MedianOf(List<double> values)
        {
            values.Sort();
            int n = values.Count;
            return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
        }

        public string Verdict
        {
            get
            {
                if (NotAvailable != null) return "–";
                if (Median == null) return "FAILED";
                var misses = new List<string>();
                if (RatioTarget != null && Ratio != null)
                {
                    bool ok = LowerIsBetter ? Ratio <= RatioTarget : Ratio >= RatioTarget;
                    if (!ok) misses.Add("ratio");
                }
                foreach (var v in Versus.Where(v => v.Min != null))
                {
                    var r = RatioTo(v.Other);
                    if (r == null || r < v.Min) misses.Add("vs " + v.Name);
                }
                if (MaxMillis != null && Median > MaxMillis) misses.Add("time");
                long peak = Good.Select(r => r.PeakBytes).DefaultIfEmpty(-1).Max();
                if (MaxPeakBytes != null && peak > MaxPeakBytes) misses.Add("memory");
                if (RatioTarget == null && MaxMillis == null && MaxPeakBytes == null && Versus.All(v => v.Min == null)) return "(reference)";
                return misses.Count == 0 ? "met" : "MISSED (" + string.Join(", ", misses) + ")";
            }
        }
    }

    /// <summary>A minimum ratio of one row's median to another row's (both higher-is-better).</summary>
    internal sealed class VersusTarget
    {
        public VersusTarget(Row other, double? min, string name)
        {
            Other = other;
            Min = min;
            Name = name;
        }

        public Row Other { get; }
        /// <summary>Null: shown beside the ratio to the floor for comparison, with no target and no verdict.</summary>
        public double? Min { get; }
        public string Name { get; }
    }

    /// <summary>Runs a path N times with a fresh GC baseline and a memory sampler around each run.</summary>
    internal static class Measure
    {
        public static async Task RunAsync(Row row, int runs, Func<int, Task<RunResult>> once, Action<string> log, int warmups)
        {
            // Discarded runs first: JIT, tiering, pooled buffers and the page cache settle before timing.
            for (int w = 0; w < warmups; w++)
            {
                try { var r = await once(-1); log($"  {row.Workload} {row.Path} warm-up {w + 1}: {(r.Problem ?? row.Value(r).ToString("0.###") + " " + row.Unit)}"); }
                catch (Exception ex) { log($"  {row.Workload} {row.Path} warm-up failed: {FirstLine(ex.Message)}"); break; }
            }
            for (int i = 0; i < runs; i++)
            {
                if (Hygiene)
                {
                    FlushDirtyPages();
                    FreeCleanPages();
                    BeforeEachRun?.Invoke();
                    await SettleAsync();
                }
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                RunResult result;
                var sampler = new MemorySampler();
                long allocatedBefore = GC.GetTotalAllocatedBytes(true);
                var cpuBefore = CpuSample.Take();
                try
                {
                    result = await once(i);
                    result.AllocatedBytes = GC.GetTotalAllocatedBytes(true) - allocatedBefore;
                    result.CpuCores = CpuSample.BusyCores(cpuBefore, CpuSample.Take());
                }
                catch (Exception ex)
                {
                    result = new RunResult { Problem = ex.GetType().Name + ": " + FirstLine(ex.Message) };
                }
                finally
                {
                    sampler.Dispose();
                }
                if (result.PeakBytes < 0 && result.DirectValue == null) result.PeakBytes = sampler.PeakDelta;
                row.Runs.Add(result);
                log(result.Problem != null
                    ? $"  {row.Workload} {row.Path} run {i + 1}: FAILED {result.Problem}"
                    : $"  {row.Workload} {row.Path} run {i + 1}: {row.Value(result):0.###} {row.Unit}, peak +{Mib(result.PeakBytes)}, allocated {Mib(result.AllocatedBytes)}, CPU {result.CpuCores:0.00} cores busy");
            }
        }

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "sync")]
        private static extern void LibcSync();

        /// <summary>
        /// Writes the previous runs' files out before the clock starts: each run leaves up to 256 MiB of dirty pages,
        /// and the kernel writing them back during a later run took CPU from it (the same floor measured 270 and
        /// 570 MiB/s depending on what ran before it).
        /// </summary>
        private static void FlushDirtyPages()
        {
            if (!OperatingSystem.IsLinux()) return;
            try { LibcSync(); } catch { }
        }

        /// <summary>Full runs only: flush, free and settle the machine before each run (the --quick smoke skips it).</summary>
        public static bool Hygiene;

        /// <summary>Runs after the page cache is dropped, before each run: reads the workloads' input files back in.</summary>
        public static Action? BeforeEachRun;

        /// <summary>
        /// Gives every run the same free memory: with the page cache holding all RAM, a run writing 256 MiB to a new
        /// file had to reclaim pages first (kernel CPU time) and ran at half the speed of one that wrote where a file
        /// had just been deleted. Needs root; elsewhere runs see whatever memory state there is.
        /// </summary>
        private static void FreeCleanPages()
        {
            try { File.WriteAllText("/proc/sys/vm/drop_caches", "1"); } catch { }
        }

        /// <summary>
        /// Waits (up to 3 s) until the machine is nearly idle: a run that starts while the previous one's servers
        /// and helper processes are still winding down is slowed by them, and that showed up as a bimodal floor.
        /// </summary>
        private static async Task SettleAsync()
        {
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(3);
            while (DateTime.UtcNow < until)
            {
                var before = CpuSample.Take();
                await Task.Delay(100);
                double busy = CpuSample.BusyCores(before, CpuSample.Take());
                if (busy >= 0 && busy < 0.25) return;
            }
        }

        public static string FirstLine(string s)
        {
            int n = s.IndexOf('\n');
            return n < 0 ? s : s.Substring(0, n);
        }

        public static string Mib(long bytes) => bytes < 0 ? "n/a" : (bytes / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";

        public static RunResult Timed(Stopwatch sw, double units) => new RunResult { Seconds = sw.Elapsed.TotalSeconds, Units = units };
    }
}

namespace ExecBridge.Bench
{
    /// <summary>EB_BENCH_TRACE=1: the copy engine's log lines with the time since the copy began, to see where a copy spends it.</summary>
    internal sealed class TraceLogger : Microsoft.Extensions.Logging.ILogger
    {
        private readonly System.Diagnostics.Stopwatch _sw = System.Diagnostics.Stopwatch.StartNew();
        public static TraceLogger? IfEnabled() => Environment.GetEnvironmentVariable("EB_BENCH_TRACE") == "1" ? new TraceLogger() : null;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Console.Error.WriteLine($"    [{_sw.Elapsed.TotalMilliseconds,7:0.0} ms] {formatter(state, exception)}");
    }
}
