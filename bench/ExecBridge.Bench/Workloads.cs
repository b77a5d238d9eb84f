using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Files;
using ExecBridge.Client.Processes;
using ExecBridge.Tests.Infrastructure;

namespace ExecBridge.Bench
{
    internal sealed class BenchOptions
    {
        public bool Quick;
        /// <summary>Timed runs per path in one round.</summary>
        public int Runs = 1;
        /// <summary>
        /// Every workload runs once per round, all its paths one after the other, so the floor and the paths compared
        /// with it are measured minutes apart at most: this machine's speed drifts by 15-30 % over tens of minutes.
        /// </summary>
        public int Rounds = 5;
        /// <summary>One discarded run per path before timing (first round only).</summary>
        public bool Warmup;
        public HashSet<string>? Only;
        public string? ResultsPath;
        public List<string> RawArgs = new List<string>();

        public long W1Bytes => Quick ? 8L << 20 : 256L << 20;
        public long W2Bytes => Quick ? 4L << 20 : 64L << 20;
        public int W3Calls => Quick ? 100 : 1000;
        public int W4Callers => 8;
        public int W4CallsEach => Quick ? 100 : 1000;
        public long W5Bytes => W1Bytes;
        public long W6Bytes => W1Bytes;

        public bool Wants(string id) => Only == null || Only.Contains(id);
    }

    /// <summary>The workloads of issue 5, each through floor, client, cmdlets and (where it applies) the physical limit.</summary>
    internal sealed partial class Workloads : IDisposable
    {
        private const string NotImplemented = "n/a (not implemented)";
        private const int BlockSize = 1 << 20;     // fs/readBlock / fs/writeBlock maximum (notes §8.2, §8.3)
        private const int BlocksInFlight = 4;      // the same pipelining depth as the client library uses

        private readonly BenchOptions _o;
        private readonly ExecServer _server;
        private readonly Action<string> _log;
        private readonly string _dir;
        private readonly CancellationToken _ct = CancellationToken.None;
        private PsEngine? _ps;
        private string? _sourceFile;
        private string? _sourceSha;

        public Workloads(BenchOptions o, ExecServer server, Action<string> log)
        {
            _o = o;
            _server = server;
            _log = log;
            _dir = Path.Combine(Path.GetTempPath(), "eb-bench-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(_dir);
            Measure.BeforeEachRun = WarmSource;
        }

        public List<Row> Rows { get; } = new List<Row>();

        private PsEngine Ps => _ps ??= new PsEngine(Peers.ModuleManifest);

        private static string Uri(string path) => RemotePath.ToWire(path, PathStyle.FileUri);

        private ExecutorClient NewClient(string id)
        {
            var c = new ExecutorClient(new ExecutorEndpoint(id, _server.Uri, null));
            c.EnsureConnectedAsync(_ct).GetAwaiter().GetResult();
            return c;
        }

        /// <summary>A connection in the PowerShell session ($global:&lt;name&gt;), made outside the timed part.</summary>
        private PSObject PsConnect(string name)
        {
            Ps.Run($"$global:{name} = Connect-ExecBridge -Uri $args[0] -ExecutorId $args[1] -Force", _server.Uri, name);
            return Ps.Run($"$global:{name}")[0];
        }

        /// <summary>The row of this workload and path; a later round gets the same row back and adds its runs to it.</summary>
        private Row AddRow(string workload, string path, MetricKind kind, Row? floor = null)
        {
            var row = Rows.Find(r => r.Workload == workload && r.Path == path);
            if (row != null)
            {
                row.Floor = floor;
                row.Versus.Clear();
                return row;
            }
            row = new Row(workload, path, kind) { Floor = floor };
            Rows.Add(row);
            return row;
        }

        private Task Run(Row row, Func<int, Task<RunResult>> once, int? runs = null) =>
            Measure.RunAsync(row, runs ?? _o.Runs, once, _log, _o.Warmup ? _warmupRuns : 0);

        /// <summary>
        /// Discarded runs per path before the first round. One for the transfers; five for the small-call workloads (W3,
        /// W4), every path alike: in the hosted engine a Get-RemoteItem loop took about 9,000 calls to reach its steady
        /// state (tiered JIT of the engine's and this module's code: 312, 246, 178, then 104-143 us per call over
        /// successive 3,000-call loops), so one 1,000-call warm-up left the cmdlet rows timing the engine's JIT.
        /// </summary>
        private int _warmupRuns = 1;

        private async Task WithWarmupsAsync(int warmups, Func<Task> workload)
        {
            _warmupRuns = warmups;
            try { await workload(); }
            finally { _warmupRuns = 1; }
        }

        /// <summary>
        /// Full runs only: one untimed run of the floor before each round of a 256 MiB transfer (W1, W5, both dialects). Without it the first
        /// path timed in a round, whichever it was, ran at about half speed (W5 floor first: 298-355 MiB/s, then
        /// 640-690 once it followed a full-size run; swapped, the verified floor took the hit instead); a 4 or 32 MiB
        /// warm-up did not remove it. Left in, that penalty fell on the floor every round and inflated every ratio.
        /// </summary>
        private async Task WarmRoundAsync(Row floor, Func<int, Task<RunResult>> once)
        {
            if (!Measure.Hygiene) return;
            try { await once(-1); _log($"  {floor.Workload} {floor.Path}: round warm-up done (untimed)"); }
            catch (Exception ex) { _log($"  {floor.Workload} {floor.Path}: round warm-up failed: {Measure.FirstLine(ex.Message)}"); }
        }

        // ======================================================================================== W2

        public async Task W2Async()
        {
            long n = _o.W2Bytes;
            string label = $"W2 stdout {n >> 20} MiB";
            var floor = AddRow(label, "floor", MetricKind.Throughput);
            floor.Note = "raw process/output notifications decoded and counted";
            using (var bare = await BareClient.ConnectAsync(_server.Uri, _ct))
            {
                int pid = 0;
                await Run(floor, async _ =>
                {
                    var buf = new byte[64 * 1024];
                    var sw = Stopwatch.StartNew();
                    string id = "floor-" + (++pid);
                    long startId = await bare.StartProcessAsync(id, new[] { "head", "-c", n.ToString(), "/dev/zero" }, "file:///", pipeStdin: false, _ct);
                    long total = 0;
                    while (true)
                    {
                        var mem = await bare.ReceiveAsync(_ct);
                        var f = BareClient.Parse(mem.Span);
                        if (f.Id == startId && f.IsError) throw new InvalidOperationException(f.ErrorText);
                        if (f.Method == FrameMethod.Output)
                        {
                            if (f.Chunk.Length / 4 * 3 > buf.Length) buf = new byte[f.Chunk.Length];
                            total += BareClient.DecodeChunk(f.Chunk, buf);
                        }
                        else if (f.Method == FrameMethod.Closed) break;
                    }
                    sw.Stop();
                    return Check(Measure.Timed(sw, total), total, n);
                });
            }

            var client = AddRow(label, "client", MetricKind.Throughput, floor);
            client.RatioTarget = 0.9;
            client.Note = "StartProcessAsync + TakeUnread/WaitForOutputAsync";
            using (var c = NewClient("w2-client"))
            {
                await Run(client, async _ =>
                {
                    var sw = Stopwatch.StartNew();
                    var h = await c.StartProcessAsync(new ProcessStartSpec { Argv = new[] { "head", "-c", n.ToString(), "/dev/zero" } }, _ct);
                    long total = 0;
                    while (true)
                    {
                        foreach (var chunk in h.TakeUnread()) total += chunk.Data.Length;
                        if (h.Failure != null) throw h.Failure;
                        if (h.IsFinished && !h.HasUnread) break;
                        await c.WaitForOutputAsync(h, TimeSpan.FromMilliseconds(500), _ct);
                    }
                    sw.Stop();
                    c.Forget(h);
                    return Check(Measure.Timed(sw, total), total, n);
                });
            }

            var cmdlets = AddRow(label, "cmdlets", MetricKind.Throughput, floor);
            cmdlets.RatioTarget = 0.9;
            cmdlets.Note = "Start-RemoteProcess | Receive-RemoteOutput -Wait -Raw | ForEach-Object { sum Length }";
            var conn = PsConnect("w2");
            await Run(cmdlets, _ =>
            {
                var sw = Stopwatch.StartNew();
                var output = Ps.Run(
                    "$p = Start-RemoteProcess -FilePath head -ArgumentList '-c',$args[1],'/dev/zero' -Connection $args[0]; " +
                    "$sum = [long]0; Receive-RemoteOutput -Process $p -Wait -Raw | ForEach-Object { $sum += $_.Length }; $sum",
                    conn, n.ToString());
                sw.Stop();
                long total = Convert.ToInt64(output.Last().BaseObject);
                return Task.FromResult(Check(Measure.Timed(sw, total), total, n));
            });

            var phys = AddRow(label, "physical (local head | pipe)", MetricKind.Throughput, floor);
            phys.Note = "the same command run locally, stdout read through a pipe";
            await Run(phys, async _ =>
            {
                var psi = new ProcessStartInfo("head") { RedirectStandardOutput = true, UseShellExecute = false };
                psi.ArgumentList.Add("-c"); psi.ArgumentList.Add(n.ToString()); psi.ArgumentList.Add("/dev/zero");
                var sw = Stopwatch.StartNew();
                using var p = Process.Start(psi)!;
                var stream = p.StandardOutput.BaseStream;
                var buf = new byte[64 * 1024];
                long total = 0;
                int r;
                while ((r = await stream.ReadAsync(buf, _ct)) > 0) total += r;
                await p.WaitForExitAsync(_ct);
                sw.Stop();
                return Check(Measure.Timed(sw, total), total, n);
            });
        }

        private static RunResult Check(RunResult r, long got, long expected)
        {
            if (got != expected) r.Problem = $"byte count {got} != {expected} ({expected - got} lost)";
            return r;
        }

        // ======================================================================================== W3

        private string MetadataTarget()
        {
            var p = Path.Combine(_dir, "meta.txt");
            if (!File.Exists(p)) File.WriteAllText(p, "metadata target\n");
            return p;
        }

        private const string PsFloorPath = "floor in a PowerShell command (reference)";
        private const string PsFloorNote =
            "Invoke-BenchFloorGetMetadata, a compiled cmdlet of the bench (not the module): the floor's fs/getMetadata over a plain socket "
            + "through a minimal dispatcher (send lock, pending table, one reader), its pipeline thread blocked until the answer is in as any "
            + "cmdlet's must be, one object written";

        /// <summary>The floor command's loop, as the cmdlet rows loop over Get-RemoteItem: dispatcher, wire path, calls.</summary>
        private const string PsFloorScript = "param($f, $w, $n) for ($i = 0; $i -lt $n; $i++) { $null = Invoke-BenchFloorGetMetadata -Path $w -Floor $f }";

        /// <summary>Makes the bench's own floor cmdlet available in the benchmark's PowerShell session.</summary>
        private void EnsureFloorCommand()
        {
            if (!Ps.HasCommand("Invoke-BenchFloorGetMetadata"))
                Ps.Run("Import-Module -Assembly $args[0]", typeof(InvokeBenchFloorGetMetadata).Assembly);
        }

        private static void WriteGetMetadata(Utf8JsonWriter w, string wire)
        {
            w.WriteStartObject();
            w.WriteString("path", wire);
            w.WriteEndObject();
        }

        public Task W3Async() => WithWarmupsAsync(5, RunW3Async);

        private async Task RunW3Async()
        {
            int calls = _o.W3Calls;
            string path = MetadataTarget();
            string wire = Uri(path);
            string label = $"W3 {calls} sequential getMetadata";

            var floor = AddRow(label, "floor", MetricKind.LatencyMicros);
            using (var bare = await BareClient.ConnectAsync(_server.Uri, _ct))
            {
                await Run(floor, async _ =>
                {
                    var sw = Stopwatch.StartNew();
                    for (int i = 0; i < calls; i++) await bare.CallAsync("fs/getMetadata", w => WriteGetMetadata(w, wire), _ct);
                    sw.Stop();
                    return Measure.Timed(sw, calls);
                });
            }

            var client = AddRow(label, "client", MetricKind.LatencyMicros, floor);
            client.RatioTarget = 1.2;
            client.Note = "ExecutorClient.GetMetadataAsync (defaults; the answer completes the call on the socket reader)";
            using (var c = NewClient("w3-client"))
            {
                await Run(client, async _ =>
                {
                    var sw = Stopwatch.StartNew();
                    for (int i = 0; i < calls; i++)
                    {
                        var info = await c.GetMetadataAsync(path, _ct);
                        if (!info.IsFile) throw new InvalidOperationException("not a file?");
                    }
                    sw.Stop();
                    return Measure.Timed(sw, calls);
                });
            }

            // The floor's call made by a PowerShell command: what the cmdlets cannot go below.
            var psFloor = AddRow(label, PsFloorPath, MetricKind.LatencyMicros, floor);
            psFloor.Note = PsFloorNote + "; the same for loop as the cmdlets";
            EnsureFloorCommand();
            using (var dispatcher = await FloorDispatcher.ConnectAsync(_server.Uri))
            {
                await Run(psFloor, _ =>
                {
                    var sw = Stopwatch.StartNew();
                    Ps.Run(PsFloorScript, dispatcher, wire, calls);
                    sw.Stop();
                    return Task.FromResult(Measure.Timed(sw, calls));
                });
            }

            var cmdlets = AddRow(label, "cmdlets", MetricKind.LatencyMicros, floor);
            cmdlets.RatioTarget = 1.2;
            cmdlets.Versus.Add(new VersusTarget(psFloor, null, "the floor in a PowerShell command"));
            if (!Ps.HasCommand("Get-RemoteItem")) cmdlets.NotAvailable = NotImplemented + ": Get-RemoteItem";
            else
            {
                cmdlets.Note = "for loop of Get-RemoteItem -Connection";
                var conn = PsConnect("w3");
                await Run(cmdlets, _ =>
                {
                    var sw = Stopwatch.StartNew();
                    Ps.Run("param($c, $p, $n) for ($i = 0; $i -lt $n; $i++) { $null = Get-RemoteItem -Path $p -Connection $c }", conn, path, calls);
                    sw.Stop();
                    return Task.FromResult(Measure.Timed(sw, calls));
                });
            }

            // The cmdlet layer without the network: binding, connection resolution, log plumbing, one output object.
            if (Ps.HasCommand("Get-ExecBridgeConnection"))
            {
                var layer = AddRow(label, "cmdlet layer alone: Get-ExecBridgeConnection per iteration (reference)", MetricKind.LatencyMicros, floor);
                layer.Note = "one of this module's cmdlets that makes no call (-ExecutorId of the connected executor): PowerShell plus the module's per-cmdlet cost";
                await Run(layer, _ =>
                {
                    var sw = Stopwatch.StartNew();
                    Ps.Run("param($n) for ($i = 0; $i -lt $n; $i++) { $null = Get-ExecBridgeConnection -ExecutorId w3 }", calls);
                    sw.Stop();
                    return Task.FromResult(Measure.Timed(sw, calls));
                });
            }

            // What the engine alone costs per call: the cmdlet path cannot be faster than the floor plus this.
            var engine = AddRow(label, "engine alone: Out-Null per iteration (reference)", MetricKind.LatencyMicros, floor);
            engine.Note = "the same for loop calling a built-in compiled cmdlet (Out-Null -InputObject), no network: PowerShell's per-call cost";
            await Run(engine, _ =>
            {
                var sw = Stopwatch.StartNew();
                Ps.Run("param($c, $p, $n) for ($i = 0; $i -lt $n; $i++) { Out-Null -InputObject $p }", null, path, calls);
                sw.Stop();
                return Task.FromResult(Measure.Timed(sw, calls));
            });
        }

        // ======================================================================================== W4

        public Task W4Async() => WithWarmupsAsync(5, RunW4Async);

        private async Task RunW4Async()
        {
            int callers = _o.W4Callers, each = _o.W4CallsEach, total = callers * each;
            string path = MetadataTarget();
            string wire = Uri(path);
            string label = $"W4 {callers}x{each} getMetadata, one connection";

            var floor = AddRow(label, "floor", MetricKind.CallsPerSecond);
            floor.Note = $"{callers} requests kept in flight on one plain socket";
            using (var bare = await BareClient.ConnectAsync(_server.Uri, _ct))
            {
                await Run(floor, async _ =>
                {
                    var sw = Stopwatch.StartNew();
                    int sent = 0, done = 0;
                    while (sent < callers) { await bare.SendAsync("fs/getMetadata", w => WriteGetMetadata(w, wire), _ct); sent++; }
                    while (done < total)
                    {
                        var mem = await bare.ReceiveAsync(_ct);
                        var f = BareClient.Parse(mem.Span);
                        if (f.Id < 0) continue;
                        if (f.IsError) throw new InvalidOperationException(f.ErrorText);
                        done++;
                        if (sent < total) { await bare.SendAsync("fs/getMetadata", w => WriteGetMetadata(w, wire), _ct); sent++; }
                    }
                    sw.Stop();
                    return Measure.Timed(sw, total);
                });
            }

            var seq = AddRow(label, "floor, 1 in flight (reference)", MetricKind.CallsPerSecond, floor);
            seq.Note = "the same calls strictly sequential: what pipelining buys";
            using (var bare = await BareClient.ConnectAsync(_server.Uri, _ct))
            {
                await Run(seq, async _ =>
                {
                    var sw = Stopwatch.StartNew();
                    for (int i = 0; i < total; i++) await bare.CallAsync("fs/getMetadata", w => WriteGetMetadata(w, wire), _ct);
                    sw.Stop();
                    return Measure.Timed(sw, total);
                }, Math.Min(_o.Runs, 3));
            }

            var client = AddRow(label, "client", MetricKind.CallsPerSecond, floor);
            client.RatioTarget = 0.9;
            client.Note = $"{callers} tasks sharing one ExecutorClient (defaults)";
            using (var c = NewClient("w4-client"))
            {
                await Run(client, async _ =>
                {
                    var sw = Stopwatch.StartNew();
                    var tasks = Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
                    {
                        for (int i = 0; i < each; i++) await c.GetMetadataAsync(path, _ct);
                    })).ToArray();
                    await Task.WhenAll(tasks);
                    sw.Stop();
                    return Measure.Timed(sw, total);
                });
            }

            var cmdlets = AddRow(label, "cmdlets", MetricKind.CallsPerSecond, floor);
            cmdlets.RatioTarget = 0.9;
            if (!Ps.HasCommand("Get-RemoteItem")) cmdlets.NotAvailable = NotImplemented + ": Get-RemoteItem";
            else
            {
                cmdlets.Note = $"RunspacePool({callers}) from CreateDefault2, Get-RemoteItem -Connection (one shared connection)";
                var conn = PsConnect("w4");
                var iss = InitialSessionState.CreateDefault2();
                iss.ImportPSModule(new[] { Peers.ModuleManifest });
                iss.Commands.Add(new SessionStateCmdletEntry("Invoke-BenchFloorGetMetadata", typeof(InvokeBenchFloorGetMetadata), null));
                using var pool = RunspaceFactory.CreateRunspacePool(iss);
                pool.SetMaxRunspaces(callers);
                pool.SetMinRunspaces(callers);
                pool.Open();
                void RunAll(string script, object target, string p, int n)
                {
                    var shells = Enumerable.Range(0, callers).Select(_ =>
                    {
                        var ps = PowerShell.Create();
                        ps.RunspacePool = pool;
                        ps.AddScript(script).AddArgument(target).AddArgument(p).AddArgument(n);
                        return (ps, ps.BeginInvoke());
                    }).ToList();
                    foreach (var (ps, ar) in shells)
                    {
                        ps.EndInvoke(ar);
                        PsEngine.ThrowIfErrors(ps);
                        ps.Dispose();
                    }
                }
                const string script = "param($c, $p, $n) for ($i = 0; $i -lt $n; $i++) { $null = Get-RemoteItem -Path $p -Connection $c }";
                RunAll(script, conn, path, 5); // every pooled runspace imports the module before timing starts

                // The floor's call made by a PowerShell command in each runspace: what the cmdlets cannot go beyond.
                var psFloor = AddRow(label, PsFloorPath, MetricKind.CallsPerSecond, floor);
                psFloor.Note = PsFloorNote + $"; the same RunspacePool and loop as the cmdlets, one dispatcher shared by the {callers} runspaces";
                cmdlets.Versus.Add(new VersusTarget(psFloor, null, "the floor in a PowerShell command"));
                using (var dispatcher = await FloorDispatcher.ConnectAsync(_server.Uri))
                {
                    await Run(psFloor, _ =>
                    {
                        var sw = Stopwatch.StartNew();
                        RunAll(PsFloorScript, dispatcher, wire, each);
                        sw.Stop();
                        return Task.FromResult(Measure.Timed(sw, total));
                    });
                }
                await Run(cmdlets, _ =>
                {
                    var sw = Stopwatch.StartNew();
                    RunAll(script, conn, path, each);
                    sw.Stop();
                    return Task.FromResult(Measure.Timed(sw, total));
                });

                // The engine alone in the same pool: 8 runspaces calling a built-in cmdlet, no network.
                var engine = AddRow(label, "engine alone: 8 runspaces, Out-Null per iteration (reference)", MetricKind.CallsPerSecond, floor);
                engine.Note = "the same RunspacePool and loop calling a built-in compiled cmdlet, no network: what PowerShell itself can do on these cores";
                await Run(engine, _ =>
                {
                    var sw = Stopwatch.StartNew();
                    var shells = Enumerable.Range(0, callers).Select(_ =>
                    {
                        var ps = PowerShell.Create();
                        ps.RunspacePool = pool;
                        ps.AddScript("param($c, $p, $n) for ($i = 0; $i -lt $n; $i++) { Out-Null -InputObject $p }")
                            .AddArgument(null).AddArgument(path).AddArgument(each);
                        return (ps, ps.BeginInvoke());
                    }).ToList();
                    foreach (var (ps, ar) in shells) { ps.EndInvoke(ar); PsEngine.ThrowIfErrors(ps); ps.Dispose(); }
                    sw.Stop();
                    return Task.FromResult(Measure.Timed(sw, total));
                });
            }
        }

        // ======================================================================================== W1 / W5 data

        /// <summary>Reads the source file so each run starts with it in the page cache (see Measure.FreeCleanPages).</summary>
        private void WarmSource()
        {
            if (_sourceFile == null || !File.Exists(_sourceFile)) return;
            var buf = new byte[1 << 20];
            using var fs = new FileStream(_sourceFile, FileMode.Open, FileAccess.Read, FileShare.Read, 0);
            while (fs.Read(buf, 0, buf.Length) > 0) { }
        }

        private string SourceFile(long size)
        {
            if (_sourceFile != null && new FileInfo(_sourceFile).Length == size) return _sourceFile;
            _sourceFile = Path.Combine(_dir, "source.bin");
            var buf = new byte[BlockSize];
            using (var sha = SHA256.Create())
            using (var fs = new FileStream(_sourceFile, FileMode.Create, FileAccess.Write))
            {
                for (long left = size; left > 0;)
                {
                    int n = (int)Math.Min(buf.Length, left);
                    RandomNumberGenerator.Fill(buf.AsSpan(0, n));
                    fs.Write(buf, 0, n);
                    sha.TransformBlock(buf, 0, n, null, 0);
                    left -= n;
                }
                sha.TransformFinalBlock(Array.Empty<byte>(), 0, 0);
                _sourceSha = Convert.ToHexString(sha.Hash!);
            }
            return _sourceFile;
        }

        /// <summary>Length every run, SHA-256 on the first run of each path (it costs a second per 256 MiB).</summary>
        private RunResult Verify(RunResult r, string file, long expected, int run)
        {
            long got = File.Exists(file) ? new FileInfo(file).Length : -1;
            if (got != expected) r.Problem = $"destination has {got} bytes, expected {expected}";
            else if (run == 0)
            {
                using var fs = File.OpenRead(file);
                var sha = Convert.ToHexString(SHA256.HashData(fs));
                if (sha != _sourceSha) r.Problem = "SHA-256 of the destination differs from the source";
            }
            try { File.Delete(file); } catch { }
            return r;
        }

        /// <summary>
        /// Removes a run's destination before the clock starts: overwriting the previous run's 256 MiB file made
        /// the run wait for the kernel to write back (or drop) its pages, by 2x and more depending on timing.
        /// </summary>
        private static void Fresh(string path)
        {
            try { File.Delete(path); } catch (IOException) { }
        }

        private async Task<RunResult> CpAsync(string src, string dst, long size, int run)
        {
            Fresh(dst);
            var sw = Stopwatch.StartNew();
            using (var p = Process.Start(new ProcessStartInfo("cp", $"\"{src}\" \"{dst}\"") { UseShellExecute = false })!)
            {
                await p.WaitForExitAsync(_ct);
                if (p.ExitCode != 0) throw new InvalidOperationException("cp failed");
            }
            sw.Stop();
            return Verify(Measure.Timed(sw, size), dst, size, run);
        }

        // ======================================================================================== W1

        public async Task W1Async()
        {
            long size = _o.W1Bytes;
            string src = SourceFile(size);
            string label = $"W1 read {size >> 20} MiB remote file to disk";
            const long memLimit = 64L << 20;

            var floor = AddRow(label, "floor", MetricKind.Throughput);
            floor.Note = $"fs/open + {BlocksInFlight} pipelined 1 MiB fs/readBlock, decoded to a FileStream";
            floor.MaxPeakBytes = memLimit;
            var verified = AddRow(label, "floor + SHA-256 on both sides and rename (reference)", MetricKind.Throughput, floor);
            verified.Note = "the floor, plus what every Get-RemoteFile does to verify: openssl dgst of the source on the executor (second connection, started with the transfer), SHA-256 of the received bytes on another core while they are written, compare, write to a partial and rename";
            using (var bare = await BareClient.ConnectAsync(_server.Uri, _ct))
            using (var hashConn = await BareClient.ConnectAsync(_server.Uri, _ct))
            {
                int h = 0;
                Func<int, Task<RunResult>> FloorRun(bool verify) => async run =>
                {
                    string dst = Path.Combine(_dir, "w1-floor.bin");
                    string written = verify ? dst + ".partial" : dst;
                    var buf = new byte[BlockSize];
                    string handle = "r" + (++h);
                    Fresh(dst);
                    Fresh(written);
                    var sw = Stopwatch.StartNew();
                    long total = 0;
                    var executorHash = verify ? BareSha256Async(hashConn, src, "w1v-" + h) : null;
                    using var hasher = verify ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
                    using (var fs = new FileStream(written, FileMode.Create, FileAccess.Write, FileShare.None, 0))
                    {
                        await bare.CallAsync("fs/open", w => { w.WriteStartObject(); w.WriteString("handleId", handle); w.WriteString("path", Uri(src)); w.WriteEndObject(); }, _ct);
                        long next = 0;
                        int inFlight = 0;
                        bool eof = false;
                        while (true)
                        {
                            while (!eof && inFlight < BlocksInFlight)
                            {
                                long at = next;
                                await bare.SendAsync("fs/readBlock", w => { w.WriteStartObject(); w.WriteString("handleId", handle); w.WriteNumber("offset", at); w.WriteNumber("len", BlockSize); w.WriteEndObject(); }, _ct);
                                next += BlockSize;
                                inFlight++;
                            }
                            if (inFlight == 0) break;
                            var mem = await bare.ReceiveAsync(_ct);
                            var f = BareClient.Parse(mem.Span);
                            if (f.Id < 0) continue;
                            if (f.IsError) throw new InvalidOperationException(f.ErrorText);
                            inFlight--;
                            if (eof) continue; // responses past the end, drained
                            int n = BareClient.DecodeChunk(f.Chunk, buf);
                            await WriteHashingAsync(fs, hasher, buf, n);
                            total += n;
                            if (n < BlockSize) eof = true;
                        }
                        await bare.CallAsync("fs/close", w => { w.WriteStartObject(); w.WriteString("handleId", handle); w.WriteEndObject(); }, _ct);
                    }
                    if (verify)
                    {
                        CheckDigests(hasher!, await executorHash!);
                        File.Move(written, dst, overwrite: true);
                    }
                    sw.Stop();
                    return Verify(Measure.Timed(sw, total), dst, size, run);
                };
                await WarmRoundAsync(floor, FloorRun(false));
                await Run(floor, FloorRun(false));
                await Run(verified, FloorRun(true));
            }

            var client = AddRow(label, "client", MetricKind.Throughput, floor);
            client.RatioTarget = 0.9;
            client.MaxPeakBytes = memLimit;
            client.Note = "ExecutorClient.ReadStreamAsync into a FileStream";
            using (var c = NewClient("w1-client"))
            {
                await Run(client, async run =>
                {
                    string dst = Path.Combine(_dir, "w1-client.bin");
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    long total;
                    using (var fs = new FileStream(dst, FileMode.Create, FileAccess.Write, FileShare.None, 0))
                    {
                        total = await c.ReadStreamAsync(src, 0, null, (m, _) => { fs.Write(m.Span); return Task.CompletedTask; }, _ct);
                    }
                    sw.Stop();
                    return Verify(Measure.Timed(sw, total), dst, size, run);
                });
            }

            var cmdlets = AddRow(label, "cmdlets", MetricKind.Throughput, floor);
            cmdlets.RatioTarget = 0.9;
            cmdlets.MaxPeakBytes = memLimit;
            if (!Ps.HasCommand("Get-RemoteFile")) cmdlets.NotAvailable = NotImplemented + ": Get-RemoteFile";
            else if (!Ps.HasParameter("Get-RemoteFile", "Destination")) cmdlets.NotAvailable = "n/a (Get-RemoteFile has no -Destination)";
            else
            {
                cmdlets.Note = "Get-RemoteFile -Path -Destination -Connection";
                var conn = PsConnect("w1");
                await Run(cmdlets, run =>
                {
                    string dst = Path.Combine(_dir, "w1-cmdlets.bin");
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    Ps.Run("param($c, $p, $d) $null = Get-RemoteFile -Path $p -Destination $d -Connection $c -Force", conn, src, dst);
                    sw.Stop();
                    return Task.FromResult(Verify(Measure.Timed(sw, size), dst, size, run));
                });
            }

            var phys = AddRow(label, "physical (local cp)", MetricKind.Throughput, floor);
            await Run(phys, run => CpAsync(src, Path.Combine(_dir, "w1-cp.bin"), size, run));
        }

        // ======================================================================================== W5

        public async Task W5Async()
        {
            long size = _o.W5Bytes;
            string src = SourceFile(size);
            string label = $"W5 upload {size >> 20} MiB local file";
            const long memLimit = 64L << 20;

            var floor = AddRow(label, "floor", MetricKind.Throughput);
            floor.Note = $"fs/open mode replace + {BlocksInFlight} pipelined 1 MiB fs/writeBlock + fs/close (0.169)";
            floor.MaxPeakBytes = memLimit;
            var verified = AddRow(label, "floor + hash and rename on the executor (reference)", MetricKind.Throughput, floor);
            verified.Note = "the floor, then one helper process: openssl dgst of the file + mv (the client row's RemoteFileWriter does exactly this)";
            var bothSides = AddRow(label, "floor + SHA-256 on both sides and rename (reference)", MetricKind.Throughput, floor);
            bothSides.Note = "the floor plus what Copy-RemoteItem does to verify and commit: SHA-256 of the bytes on another core while they are sent, then the helper process above, compare";
            using (var bare = await BareClient.ConnectAsync(_server.Uri, _ct))
            {
                int h = 0;
                Func<int, Task<RunResult>> FloorRun(bool verify, bool hashHere = false) => async run =>
                {
                    string dst = Path.Combine(_dir, "w5-floor.bin");
                    string handle = "w" + (++h);
                    var buf = new byte[BlockSize];
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    using var hasher = hashHere ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
                    using (var fs = new FileStream(src, FileMode.Open, FileAccess.Read, FileShare.Read, 0))
                    {
                        await bare.CallAsync("fs/open", w => { w.WriteStartObject(); w.WriteString("handleId", handle); w.WriteString("path", Uri(dst)); w.WriteString("mode", "replace"); w.WriteEndObject(); }, _ct);
                        long offset = 0;
                        int inFlight = 0;
                        bool done = false;
                        while (true)
                        {
                            while (!done && inFlight < BlocksInFlight)
                            {
                                int n = fs.Read(buf, 0, buf.Length);
                                if (n == 0) { done = true; break; }
                                long at = offset;
                                // Hashed on another core while it is sent, as the copy engine does.
                                var hashing = hasher == null ? Task.CompletedTask : Task.Run(() => hasher.AppendData(buf, 0, n));
                                // The request is fully written to the socket before SendAsync returns, so buf is reusable.
                                await bare.SendAsync("fs/writeBlock", w => { w.WriteStartObject(); w.WriteString("handleId", handle); w.WriteNumber("offset", at); w.WriteBase64String("chunk", buf.AsSpan(0, n)); w.WriteEndObject(); }, _ct);
                                await hashing;
                                offset += n;
                                inFlight++;
                            }
                            if (inFlight == 0) break;
                            var mem = await bare.ReceiveAsync(_ct);
                            var f = BareClient.Parse(mem.Span);
                            if (f.Id < 0) continue;
                            if (f.IsError) throw new InvalidOperationException(f.ErrorText);
                            inFlight--;
                        }
                        await bare.CallAsync("fs/close", w => { w.WriteStartObject(); w.WriteString("handleId", handle); w.WriteEndObject(); }, _ct);
                    }
                    if (verify)
                    {
                        var committed = await BareCommitAsync(bare, dst, legacy: false);
                        if (hasher != null) CheckDigests(hasher, committed.Sha256);
                        dst = committed.Moved;
                    }
                    sw.Stop();
                    return Verify(Measure.Timed(sw, size), dst, size, run);
                };
                await WarmRoundAsync(floor, FloorRun(false));
                await Run(floor, FloorRun(false));
                await Run(verified, FloorRun(true));
                await Run(bothSides, FloorRun(true, hashHere: true));
            }

            var client = AddRow(label, "client", MetricKind.Throughput, floor);
            client.RatioTarget = 0.9;
            client.MaxPeakBytes = memLimit;
            client.Note = "RemoteFileWriter (partial file + sha256sum + mv, by design) fed 1 MiB reads";
            using (var c = NewClient("w5-client"))
            {
                await Run(client, async run =>
                {
                    string dst = Path.Combine(_dir, "w5-client.bin");
                    var buf = new byte[BlockSize];
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    using (var fs = new FileStream(src, FileMode.Open, FileAccess.Read, FileShare.Read, 0))
                    {
                        var writer = await RemoteFileWriter.CreateAsync(c, dst, size, overwrite: true, createParents: false, _ct);
                        int n;
                        while ((n = fs.Read(buf, 0, buf.Length)) > 0) await writer.WriteAsync(buf.AsMemory(0, n), _ct);
                        await writer.CommitAsync(null, _ct);
                        client.Note = $"RemoteFileWriter ({writer.Mode}; partial file + sha256sum + mv, by design) fed 1 MiB reads";
                    }
                    sw.Stop();
                    return Verify(Measure.Timed(sw, size), dst, size, run);
                });
            }

            var cmdlets = AddRow(label, "cmdlets", MetricKind.Throughput, floor);
            cmdlets.RatioTarget = 0.9;
            cmdlets.MaxPeakBytes = memLimit;
            if (!Ps.HasCommand("Copy-RemoteItem")) cmdlets.NotAvailable = NotImplemented + ": Copy-RemoteItem";
            else if (!Ps.HasParameter("Copy-RemoteItem", "ToExecutor")) cmdlets.NotAvailable = "n/a (Copy-RemoteItem has no -ToExecutor)";
            else
            {
                cmdlets.Note = "Copy-RemoteItem -Path local -Destination remote -ToExecutor -Force";
                PsConnect("w5");
                await Run(cmdlets, run =>
                {
                    string dst = Path.Combine(_dir, "w5-cmdlets.bin");
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    Ps.Run("param($s, $d) $null = Copy-RemoteItem -Path $s -Destination $d -ToExecutor w5 -Force", src, dst);
                    sw.Stop();
                    return Task.FromResult(Verify(Measure.Timed(sw, size), dst, size, run));
                });
            }

            var phys = AddRow(label, "physical (local cp)", MetricKind.Throughput, floor);
            await Run(phys, run => CpAsync(src, Path.Combine(_dir, "w5-cp.bin"), size, run));
        }

        // ======================================================================================== W7

        public async Task W7Async()
        {
            var importFloor = AddRow("W7 cold Import-Module (fresh process + runspace)", "floor: an empty module", MetricKind.Millis);
            importFloor.Note = "Import-Module of a manifest with nothing in it, first in a fresh process: PowerShell's own cold import path";
            var import = AddRow("W7 cold Import-Module (fresh process + runspace)", "cmdlets", MetricKind.Millis, importFloor);
            import.MaxMillis = 300;
            import.Note = "Import-Module of the built psd1 in a fresh CreateDefault2 runspace, first in the process";
            var cmdConnect = AddRow("W7 first connect (fresh process)", "cmdlets", MetricKind.Millis);
            cmdConnect.MaxMillis = 50;
            cmdConnect.Note = "first Connect-ExecBridge right after the import";
            var floorConnect = AddRow("W7 first connect (fresh process)", "floor", MetricKind.Millis);
            floorConnect.Note = "ClientWebSocket connect + initialize + initialized, cold";
            var clientConnect = AddRow("W7 first connect (fresh process)", "client", MetricKind.Millis, floorConnect);
            clientConnect.Note = "new ExecutorClient + EnsureConnectedAsync (adds the dialect probe), cold";
            cmdConnect.Floor = floorConnect;

            var cmd2 = AddRow("W7 second connect (same process, warm)", "cmdlets", MetricKind.Millis);
            cmd2.Note = "a second Connect-ExecBridge (another executor id) in the same runspace";
            var floor2 = AddRow("W7 second connect (same process, warm)", "floor", MetricKind.Millis);
            var client2 = AddRow("W7 second connect (same process, warm)", "client", MetricKind.Millis, floor2);
            client2.Note = "includes the dialect probe (fs/getMetadata of file:///)";
            cmd2.Floor = floor2;

            static RunResult From(ChildResult r, string key) =>
                new RunResult { DirectValue = r.TryGetValue(key, out var v) ? v : null, Problem = r.ContainsKey(key) ? null : "child failed: " + r.Error };
            for (int i = 0; i < _o.Runs; i++)
            {
                var ps = await ChildAsync("cmdlets");
                var fl = await ChildAsync("floor");
                var cl = await ChildAsync("client");
                var empty = await ChildAsync("import-floor");
                importFloor.Runs.Add(From(empty, "import"));
                import.Runs.Add(From(ps, "import"));
                cmdConnect.Runs.Add(From(ps, "connect"));
                floorConnect.Runs.Add(From(fl, "connect"));
                clientConnect.Runs.Add(From(cl, "connect"));
                cmd2.Runs.Add(From(ps, "connect2"));
                floor2.Runs.Add(From(fl, "connect2"));
                client2.Runs.Add(From(cl, "connect2"));
                _log($"  W7 run {i + 1}: import {Show(ps, "import")} ms (empty module {Show(empty, "import")} ms), Connect-ExecBridge {Show(ps, "connect")}/{Show(ps, "connect2")} ms, floor connect {Show(fl, "connect")}/{Show(fl, "connect2")} ms, client connect {Show(cl, "connect")}/{Show(cl, "connect2")} ms (first/second)");
            }
        }

        private static string Show(ChildResult r, string key) => r.TryGetValue(key, out var v) ? v.ToString("0.0") : "FAILED";

        internal sealed class ChildResult : Dictionary<string, double>
        {
            public string? Error;
        }

        private async Task<ChildResult> ChildAsync(string mode)
        {
            var psi = Program.SelfStartInfo();
            psi.ArgumentList.Add("--child-w7");
            psi.ArgumentList.Add(mode);
            psi.ArgumentList.Add(_server.Uri.ToString());
            psi.ArgumentList.Add(Peers.ModuleManifest);
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var output = await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            var result = new ChildResult();
            foreach (var line in output.Split('\n'))
            {
                if (!line.StartsWith("RESULT ")) continue;
                foreach (var kv in line.Substring(7).Trim().Split(' '))
                {
                    var parts = kv.Split('=');
                    if (parts.Length == 2 && double.TryParse(parts[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v))
                        result[parts[0]] = v;
                }
            }
            if (result.Count == 0) result.Error = Measure.FirstLine((await err).Trim() + " " + output.Trim());
            return result;
        }

        public void Dispose()
        {
            DisposeExtras();
            _ps?.Dispose();
            try { Directory.Delete(_dir, true); } catch { }
        }
    }
}
