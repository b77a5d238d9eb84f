using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ExecBridge.Tests.Faults
{
    /// <summary>
    /// Fault tests measure timings and count threads, sockets and memory of the whole test process, so they run
    /// alone (after the parallel collections) rather than next to other classes.
    /// </summary>
    [CollectionDefinition("Faults", DisableParallelization = true)]
    public sealed class FaultsCollection { }

    /// <summary>One real exec-server of a version, shared by a fault test class.</summary>
    public abstract class FaultServerFixture : IAsyncLifetime
    {
        protected FaultServerFixture(string version) => Version = version;

        public string Version { get; }
        public ExecServer Server { get; private set; } = null!;
        public bool IsLegacy => Version == Peers.Legacy;

        public async Task InitializeAsync() => Server = await ExecServer.StartAsync(Version);

        public Task DisposeAsync()
        {
            Server?.Dispose();
            return Task.CompletedTask;
        }
    }

    public sealed class LegacyFaultServerFixture : FaultServerFixture { public LegacyFaultServerFixture() : base(Peers.Legacy) { } }

    public sealed class CurrentFaultServerFixture : FaultServerFixture { public CurrentFaultServerFixture() : base(Peers.Current) { } }

    [Collection("Faults")]
    public sealed class LegacyFaultTests : FaultTests, IClassFixture<LegacyFaultServerFixture>
    {
        public LegacyFaultTests(LegacyFaultServerFixture f, ITestOutputHelper o) : base(f, o) { }
    }

    [Collection("Faults")]
    public sealed class CurrentFaultTests : FaultTests, IClassFixture<CurrentFaultServerFixture>
    {
        public CurrentFaultTests(CurrentFaultServerFixture f, ITestOutputHelper o) : base(f, o) { }
    }

    /// <summary>Network faults between ExecutorClient (and the cmdlets) and real exec-servers of both dialects.</summary>
    public abstract class FaultTests
    {
        protected static readonly TimeSpan TestDeadline = TimeSpan.FromSeconds(25);

        /// <summary>3000 numbered lines over a few seconds: 33,000 known bytes.</summary>
        internal const string NumberedLines = "for i in $(seq 1 3000); do printf 'line %05d\\n' $i; if [ $((i % 10)) -eq 0 ]; then sleep 0.01; fi; done";

        private readonly FaultServerFixture _f;
        private readonly ITestOutputHelper _out;

        protected FaultTests(FaultServerFixture fixture, ITestOutputHelper output)
        {
            _f = fixture;
            _out = output;
        }

        internal static byte[] ExpectedNumberedLines()
        {
            var sb = new StringBuilder();
            for (int i = 1; i <= 3000; i++) sb.Append("line ").Append(i.ToString("00000")).Append('\n');
            return Encoding.ASCII.GetBytes(sb.ToString());
        }

        internal static string Sha(byte[] data) => Convert.ToHexString(SHA256.HashData(data));

        internal static ProcessStartSpec Sh(string script) => new ProcessStartSpec { Argv = new[] { "bash", "-c", script } };

        private ExecutorClient NewClient(FaultProxy proxy, string name) =>
            new ExecutorClient(new ExecutorEndpoint($"{name}-{_f.Version}", proxy.Uri, null));

        /// <summary>What a consumer got from a process: bytes, seqs, reported gaps and failure. Never throws for those.</summary>
        internal sealed class Received
        {
            public MemoryStream Stdout { get; } = new MemoryStream();
            public List<long> Seqs { get; } = new List<long>();
            public List<ExecBridgeException> Gaps { get; } = new List<ExecBridgeException>();
            public ExecBridgeException? Failure { get; set; }
            public Exception? WaitError { get; set; }
            public TimeSpan? FailureReportedAfterCut { get; set; }
            public byte[] Bytes => Stdout.ToArray();
        }

        /// <summary>Reads until closed or failed, or until the predicate holds; errors from waiting are recorded, not thrown.</summary>
        internal static async Task<Received> DrainAsync(ExecutorClient client, RemoteProcessHandle handle, Received? into = null,
            Func<Received, bool>? until = null, Stopwatch? sinceCut = null)
        {
            var r = into ?? new Received();
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                bool finished = handle.IsFinished;
                foreach (var c in handle.TakeUnread())
                {
                    r.Seqs.Add(c.Seq);
                    if (c.Stream != OutputStreamKind.Stderr) r.Stdout.Write(c.Data);
                }
                r.Gaps.AddRange(handle.TakeGaps());
                if (handle.Failure != null)
                {
                    r.Failure = handle.Failure;
                    if (sinceCut != null) r.FailureReportedAfterCut ??= sinceCut.Elapsed;
                    return r;
                }
                if (finished && !handle.HasUnread) return r;
                if (until != null && until(r)) return r;
                if (deadline.Elapsed > TestDeadline) throw new TimeoutException($"process {handle.ProcessId} neither closed nor failed in {TestDeadline}");
                try
                {
                    await client.WaitForOutputAsync(handle, TimeSpan.FromSeconds(1), CancellationToken.None);
                }
                catch (ExecBridgeException ex)
                {
                    r.WaitError = ex;
                    if (sinceCut != null) r.FailureReportedAfterCut ??= sinceCut.Elapsed;
                    r.Failure ??= handle.Failure ?? ex;
                    r.Gaps.AddRange(handle.TakeGaps());
                    foreach (var c in handle.TakeUnread()) { r.Seqs.Add(c.Seq); if (c.Stream != OutputStreamKind.Stderr) r.Stdout.Write(c.Data); }
                    return r;
                }
            }
        }

        public enum Cut { Now, AfterBytes, AfterFrames }

        [Theory]
        [InlineData(Cut.Now)]
        [InlineData(Cut.AfterBytes)]
        [InlineData(Cut.AfterFrames)]
        public async Task CutMidStreamWithTheServerAliveResumesWithNothingLostOrDuplicated(Cut how)
        {
            using var proxy = FaultProxy.For(_f.Server.Uri);
            using var client = NewClient(proxy, "cut");
            await client.EnsureConnectedAsync(CancellationToken.None);
            var session = client.SessionId;
            var expected = ExpectedNumberedLines();

            var handle = await client.StartProcessAsync(Sh(NumberedLines), CancellationToken.None);
            var received = await DrainAsync(client, handle, until: r => r.Stdout.Length >= 2_000);
            if (how == Cut.AfterBytes) proxy.CutAfterBytes(5_000);   // mid-frame, a few hundred lines further on
            if (how == Cut.AfterFrames) proxy.CutAfterFrames(40);    // after 40 more whole server frames
            if (how == Cut.Now) proxy.CutNow();
            else
            {
                var wait = Stopwatch.StartNew();
                while (proxy.FaultsInjected == 0 && wait.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(20);
                Assert.True(proxy.FaultsInjected > 0, $"the armed cut ({how}) never fired");
            }
            long atCut = received.Stdout.Length;
            var sinceCut = Stopwatch.StartNew();
            await DrainAsync(client, handle, received, sinceCut: sinceCut);

            var bytes = received.Bytes;
            _out.WriteLine($"[{_f.Version}] cut={how} bytesBeforeCut={atCut} received={bytes.Length}/{expected.Length} " +
                           $"reconnects={client.ReconnectCount} gaps={received.Gaps.Count} failure={received.Failure?.Message ?? "none"} " +
                           $"faults={proxy.FaultsInjected} connections={proxy.ConnectionsAccepted} bytesForwarded={proxy.BytesForwarded} framesDown={proxy.FramesServerToClient}");

            Assert.True(atCut < expected.Length, "the cut happened after the process had finished: the test proved nothing");
            Assert.True(client.ReconnectCount >= 1);
            Assert.Equal(session, client.SessionId); // resumed, not a new session
            // Both dialects keep a detached session (10 s / 80 s) and 33 KB is far below the ~1 MiB retention,
            // so resume + process/read must give back every byte exactly once.
            Assert.Null(received.Failure);
            Assert.Empty(received.Gaps);
            Assert.Equal(received.Seqs.Distinct().Count(), received.Seqs.Count);
            Assert.Equal(Sha(expected), Sha(bytes));
            Assert.Equal(0, handle.ExitCode);
            FaultFigures.Add(faults: proxy.FaultsInjected, bytesVerified: bytes.Length, calls: 0);
        }

        [Fact]
        public async Task MoreThanTheRetentionWrittenWhileAwayIsReportedAsAGapNeverHidden()
        {
            using var proxy = FaultProxy.For(_f.Server.Uri);
            using var client = NewClient(proxy, "gap");
            // ~3 MiB of known bytes after a marker, written while the client cannot reconnect.
            var handle = await client.StartProcessAsync(
                Sh("echo first; sleep 0.5; head -c 3000000 /dev/zero | tr '\\0' 'a'; echo; echo last; sleep 0.3"), CancellationToken.None);
            var received = await DrainAsync(client, handle, until: r => r.Stdout.Length >= 6);
            proxy.RefuseFor(TimeSpan.FromSeconds(2.5));
            proxy.CutNow();
            await Task.Delay(2700); // nobody calls while refused: the session is merely detached
            var sinceBack = Stopwatch.StartNew();
            await DrainAsync(client, handle, received, sinceCut: sinceBack);

            var text = Encoding.ASCII.GetString(received.Bytes);
            _out.WriteLine($"[{_f.Version}] gap test: received={received.Bytes.Length} of 3000011, gaps={received.Gaps.Count} " +
                           $"({string.Join(" | ", received.Gaps.Select(g => g.Message))}) failure={received.Failure?.Message ?? "none"} refused={proxy.ConnectionsRefused}");
            Assert.StartsWith("first\n", text);
            Assert.True(received.Bytes.Length < 3_000_000 + 12, "all 3 MB came back: the retention cap was not exceeded");
            // The loss must be reported: a gap naming the process (or a failure), never a silently shorter stream.
            Assert.True(received.Gaps.Count > 0 || received.Failure != null, "output was lost but no gap or failure was reported");
            var report = received.Gaps.FirstOrDefault() ?? received.Failure!;
            Assert.Equal(ExecBridgeErrorKind.OutputLost, report.Kind);
            Assert.Contains(handle.ProcessId, report.Message);
            if (received.Failure == null)
            {
                Assert.EndsWith("\nlast\n", text);
                Assert.Equal(0, handle.ExitCode);
            }
            FaultFigures.Add(faults: proxy.FaultsInjected, bytesVerified: received.Bytes.Length, calls: 0);
        }

        [Fact]
        public async Task AnOutageLongerThanTheRedialBudgetIsReportedQuickly()
        {
            using var proxy = FaultProxy.For(_f.Server.Uri);
            using var client = NewClient(proxy, "outage");
            var handle = await client.StartProcessAsync(Sh("for i in $(seq 1 100); do echo tick-$i; sleep 0.05; done"), CancellationToken.None);
            var received = await DrainAsync(client, handle, until: r => r.Stdout.Length > 0);
            proxy.RefuseFor(TimeSpan.FromSeconds(8));
            proxy.CutNow();
            var sinceCut = Stopwatch.StartNew();
            await DrainAsync(client, handle, received, sinceCut: sinceCut);
            _out.WriteLine($"[{_f.Version}] outage: failure after {sinceCut.ElapsedMilliseconds} ms: {received.Failure?.Kind} {received.Failure?.Message}");
            Assert.NotNull(received.Failure);
            Assert.InRange(received.FailureReportedAfterCut!.Value, TimeSpan.Zero, TimeSpan.FromSeconds(2));
            Assert.Contains(received.Failure!.Kind, new[] { ExecBridgeErrorKind.ConnectionLost, ExecBridgeErrorKind.OutputLost });
            Assert.Contains(client.ExecutorId, received.Failure.Message);
            proxy.StopRefusing();
            // The client itself recovers once the network is back (the failed process stays failed).
            using var m = await client.CallAsync("fs/getMetadata", w => { w.WriteStartObject(); w.WriteString("path", _f.IsLegacy ? "/" : "file:///"); w.WriteEndObject(); },
                CancellationToken.None);
            FaultFigures.Add(faults: proxy.FaultsInjected, bytesVerified: 0, calls: 1);
        }

        [Fact]
        public async Task SessionExpiredWhileAwayNamesTheLostProcess()
        {
            if (!_f.IsLegacy) return; // 0.169 keeps a detached session 80 s: too long for a test; legacy keeps it 10 s
            using var proxy = FaultProxy.For(_f.Server.Uri);
            using var client = NewClient(proxy, "expired");
            var handle = await client.StartProcessAsync(Sh("for i in $(seq 1 400); do echo tick-$i; sleep 0.05; done"), CancellationToken.None);
            var received = await DrainAsync(client, handle, until: r => r.Stdout.Length > 0);
            proxy.CutNow();
            await Task.Delay(11_500); // past the 10 s detached-session retention of 0.130 (notes §2.3)
            var sinceBack = Stopwatch.StartNew();
            await DrainAsync(client, handle, received, sinceCut: sinceBack);
            _out.WriteLine($"[{_f.Version}] expired session: after {sinceBack.ElapsedMilliseconds} ms: {received.Failure?.Kind} {received.Failure?.Message}");
            Assert.NotNull(received.Failure);
            Assert.Equal(ExecBridgeErrorKind.OutputLost, received.Failure!.Kind);
            Assert.InRange(received.FailureReportedAfterCut!.Value, TimeSpan.Zero, TimeSpan.FromSeconds(2));
            Assert.Contains(handle.ProcessId, received.Failure.Message);
            Assert.NotEqual(ExecutorState.Closed, client.State);
            FaultFigures.Add(faults: proxy.FaultsInjected, bytesVerified: 0, calls: 0);
        }

        [Theory]
        [InlineData(false)]
        [InlineData(true)] // calls completed on the socket reader: timeouts and the redial must behave the same
        public async Task StalledNetworkEndsEveryCallAtItsDeadlineAndTheClientRecovers(bool completeOnReader)
        {
            using var proxy = FaultProxy.For(_f.Server.Uri);
            var endpoint = new ExecutorEndpoint($"stall-{_f.Version}-{completeOnReader}", proxy.Uri, null) { CompleteOnReader = completeOnReader };
            using var client = new ExecutorClient(endpoint);
            await client.EnsureConnectedAsync(CancellationToken.None);
            string root = _f.IsLegacy ? "/" : "file:///";
            void Meta(System.Text.Json.Utf8JsonWriter w) { w.WriteStartObject(); w.WriteString("path", root); w.WriteEndObject(); }
            // Short deadlines only once connected (a cold first dial on a busy 2-core machine can take a second).
            endpoint.RequestTimeout = TimeSpan.FromSeconds(1);
            endpoint.ConnectTimeout = TimeSpan.FromSeconds(1);

            proxy.Stall();
            // Warm-up, not measured: the first timeout in a fresh process pays for JIT of the timeout path.
            try { using var _ = await client.CallAsync("fs/getMetadata", Meta, CancellationToken.None, TimeSpan.FromMilliseconds(100)); }
            catch (ExecBridgeException ex) when (ex.Kind == ExecBridgeErrorKind.Timeout) { }
            var timings = new List<(string What, TimeSpan Took, ExecBridgeErrorKind? Kind, string? Message, TimeSpan Deadline)>();
            async Task Measure(string what, Func<Task> call, TimeSpan deadline)
            {
                var sw = Stopwatch.StartNew();
                ExecBridgeErrorKind? kind = null;
                string? message = null;
                try { await call(); }
                catch (ExecBridgeException ex) { kind = ex.Kind; message = ex.Message; }
                lock (timings) timings.Add((what, sw.Elapsed, kind, message, deadline));
            }
            var calls = new List<Task>();
            for (int i = 0; i < 6; i++)
                calls.Add(Measure($"fs/getMetadata #{i}", async () => { using var _ = await client.CallAsync("fs/getMetadata", Meta, CancellationToken.None); },
                    endpoint.RequestTimeout));
            calls.Add(Measure("short call (300 ms)", async () =>
            {
                using var _ = await client.CallAsync("fs/getMetadata", Meta, CancellationToken.None, TimeSpan.FromMilliseconds(300));
            }, TimeSpan.FromMilliseconds(300)));
            calls.Add(Measure("process/start", () => client.StartProcessAsync(Sh("echo hi"), CancellationToken.None), endpoint.RequestTimeout));
            await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(10));

            // A request larger than every socket buffer on the way: its send blocks in the stall and must still end
            // at the deadline, and so must a small call queued behind it.
            var big = new string('a', 24 << 20);
            var bigCall = Measure("24 MiB request", async () =>
            {
                using var _ = await client.CallAsync("fs/getMetadata", w => { w.WriteStartObject(); w.WriteString("path", big); w.WriteEndObject(); }, CancellationToken.None);
            }, endpoint.RequestTimeout);
            await Task.Delay(100);
            // (The big call's timeout drops the connection, so this one may end as ConnectionLost, still by its deadline.)
            var behind = Measure("call queued behind it", async () => { using var _ = await client.CallAsync("fs/getMetadata", Meta, CancellationToken.None); },
                endpoint.RequestTimeout);
            await Task.WhenAll(bigCall, behind).WaitAsync(TimeSpan.FromSeconds(10));

            // A redial into the stall: the WebSocket upgrade never completes, so the dial times out too.
            client.DropConnection();
            await Measure("redial", () => client.EnsureConnectedAsync(CancellationToken.None), endpoint.ConnectTimeout);

            foreach (var t in timings) _out.WriteLine($"[{_f.Version}] stalled {t.What}: {t.Took.TotalMilliseconds:0} ms -> {t.Kind}: {t.Message}");
            Assert.All(timings, t =>
            {
                if (t.What == "call queued behind it") Assert.Contains(t.Kind, new ExecBridgeErrorKind?[] { ExecBridgeErrorKind.Timeout, ExecBridgeErrorKind.ConnectionLost });
                else Assert.Equal(ExecBridgeErrorKind.Timeout, t.Kind);
                Assert.True(t.Took <= t.Deadline + TimeSpan.FromMilliseconds(500), $"{t.What} took {t.Took.TotalMilliseconds:0} ms, deadline {t.Deadline.TotalMilliseconds} ms");
                if (t.Kind == ExecBridgeErrorKind.Timeout)
                    Assert.True(t.Took >= t.Deadline - TimeSpan.FromMilliseconds(50), $"{t.What} ended before its deadline ({t.Took.TotalMilliseconds:0} ms)");
            });

            proxy.Unstall();
            // After the stall the client works again (it may redial first).
            using (var ok = await client.CallAsync("fs/getMetadata", Meta, CancellationToken.None)) { }
            var handle = await client.StartProcessAsync(Sh("echo back"), CancellationToken.None);
            var r = await DrainAsync(client, handle);
            Assert.Null(r.Failure);
            Assert.Equal("back\n", Encoding.ASCII.GetString(r.Bytes));
            FaultFigures.Add(faults: proxy.FaultsInjected, bytesVerified: r.Bytes.Length, calls: timings.Count + 2);
        }

        [Fact]
        public async Task DelayedNetworkStillDeliversEverything()
        {
            using var proxy = FaultProxy.For(_f.Server.Uri);
            using var client = NewClient(proxy, "delay");
            await client.EnsureConnectedAsync(CancellationToken.None);
            proxy.Delay = TimeSpan.FromMilliseconds(40);
            var sw = Stopwatch.StartNew();
            string root = _f.IsLegacy ? "/" : "file:///";
            using (await client.CallAsync("fs/getMetadata", w => { w.WriteStartObject(); w.WriteString("path", root); w.WriteEndObject(); }, CancellationToken.None)) { }
            var rtt = sw.Elapsed;
            var handle = await client.StartProcessAsync(Sh("for i in $(seq 1 200); do printf 'line %05d\\n' $i; done"), CancellationToken.None);
            var r = await DrainAsync(client, handle);
            _out.WriteLine($"[{_f.Version}] delay 40 ms per read: one call took {rtt.TotalMilliseconds:0} ms; {r.Bytes.Length} bytes received");
            Assert.True(rtt >= TimeSpan.FromMilliseconds(75), $"the delay was not applied ({rtt.TotalMilliseconds} ms)");
            Assert.Null(r.Failure);
            var expected = string.Concat(Enumerable.Range(1, 200).Select(i => $"line {i:00000}\n"));
            Assert.Equal(expected, Encoding.ASCII.GetString(r.Bytes));
            FaultFigures.Add(faults: proxy.FaultsInjected, bytesVerified: r.Bytes.Length, calls: 2);
        }

        [Fact]
        public async Task HostedEngineReceiveRawAcrossACutLosesNothing()
        {
            using var proxy = FaultProxy.For(_f.Server.Uri);
            using var ps = new PsHost();
            var id = "fault-ps-" + Guid.NewGuid().ToString("N").Substring(0, 6);
            ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId $args[1] | Out-Null", proxy.Uri, id).AssertOk();
            try
            {
                var started = ps.Run("$global:p = Start-RemoteProcess -ExecutorId $args[0] -Command $args[1]; $global:p",
                    id, NumberedLines);
                started.AssertOk();
                // Cut after a while, from another thread, while the cmdlet streams.
                var cutter = Task.Run(async () =>
                {
                    var w = Stopwatch.StartNew();
                    while (proxy.BytesServerToClient < 6_000 && w.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(5);
                    proxy.CutNow();
                });
                var sw = Stopwatch.StartNew();
                var result = ps.Run("Receive-RemoteOutput -Process $global:p -Wait -Raw");
                await cutter;
                var ms = new MemoryStream();
                // POSIX sh syntax on purpose: -Command runs under the server's shell, /bin/sh where it reports none (0.130).
                foreach (var o in result.Output)
                {
                    Assert.Equal("Stdout", o.P("Stream")); // anything on stderr means the script itself failed
                    ms.Write((byte[])o.Properties["Data"].Value);
                }
                _out.WriteLine($"[{_f.Version}] hosted -Raw across a cut: {ms.Length} bytes in {sw.ElapsedMilliseconds} ms; errors: {result.ErrorText}; faults={proxy.FaultsInjected}");
                result.AssertOk();
                Assert.True(proxy.FaultsInjected >= 1);
                Assert.Equal(Sha(ExpectedNumberedLines()), Sha(ms.ToArray()));
                FaultFigures.Add(faults: proxy.FaultsInjected, bytesVerified: ms.Length, calls: 0);
            }
            finally
            {
                ps.Run("Disconnect-ExecBridge -ExecutorId $args[0]", id);
            }
        }

        [Fact]
        public async Task HostedEngineReportsOutputLostAsAnErrorRecord()
        {
            using var proxy = FaultProxy.For(_f.Server.Uri);
            using var ps = new PsHost();
            var id = "fault-gap-" + Guid.NewGuid().ToString("N").Substring(0, 6);
            ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId $args[1] | Out-Null", proxy.Uri, id).AssertOk();
            try
            {
                ps.Run("$global:p = Start-RemoteProcess -ExecutorId $args[0] -Command $args[1]", id,
                    "echo first; sleep 1; head -c 3000000 /dev/zero | tr '\\0' 'a'; echo; echo last; sleep 0.3").AssertOk();
                var first = ps.Run("$o = @(); $w = [Diagnostics.Stopwatch]::StartNew(); while ($o.Count -eq 0 -and $w.ElapsedMilliseconds -lt 5000) { $o += Receive-RemoteOutput -Process $global:p; [Threading.Thread]::Sleep(20) }; $o");
                first.AssertOk();
                Assert.Contains(first.Output, o => o.ToString() == "first");
                proxy.RefuseFor(TimeSpan.FromSeconds(2.5));
                proxy.CutNow();
                await Task.Delay(2700);
                var result = ps.Run("Receive-RemoteOutput -Process $global:p -Wait -Raw");
                long bytes = result.Output.Sum(o => (long)((byte[])o.Properties["Data"].Value).Length);
                var ids = result.AllErrors.Select(e => e.FullyQualifiedErrorId).ToList();
                _out.WriteLine($"[{_f.Version}] hosted gap: {bytes} bytes after the cut; errors: {result.ErrorText}");
                Assert.Contains(ids, e => e.StartsWith("RemoteOutputLost", StringComparison.Ordinal));
                Assert.True(bytes < 3_000_000);
                FaultFigures.Add(faults: proxy.FaultsInjected, bytesVerified: 0, calls: 0);
            }
            finally
            {
                ps.Run("Disconnect-ExecBridge -ExecutorId $args[0]", id);
            }
        }
    }

    /// <summary>Totals across the fault suite, printed by the soak and hostile tests (and kept for the closing note).</summary>
    public static class FaultFigures
    {
        private static long _faults, _bytes, _calls, _leaks;

        public static void Add(long faults = 0, long bytesVerified = 0, long calls = 0, long leaks = 0)
        {
            Interlocked.Add(ref _faults, faults);
            Interlocked.Add(ref _bytes, bytesVerified);
            Interlocked.Add(ref _calls, calls);
            Interlocked.Add(ref _leaks, leaks);
        }

        public static string Summary =>
            $"fault suite so far: faults injected={Interlocked.Read(ref _faults)}, calls made={Interlocked.Read(ref _calls)}, " +
            $"bytes verified={Interlocked.Read(ref _bytes)}, leaks found={Interlocked.Read(ref _leaks)}";
    }
}
