using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Files;
using ExecBridge.Client.Processes;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Client
{
    /// <summary>One real exec-server of a version, shared by a test class, plus a client connected to it.</summary>
    public abstract class ExecServerFixture : IAsyncLifetime
    {
        protected ExecServerFixture(string version) => Version = version;

        public string Version { get; }
        public ExecServer Server { get; private set; } = null!;
        public ExecutorClient Client { get; private set; } = null!;
        public bool IsLegacy => Version == Peers.Legacy;

        public async Task InitializeAsync()
        {
            Server = await ExecServer.StartAsync(Version);
            Client = NewClient();
            await Client.EnsureConnectedAsync(CancellationToken.None);
        }

        public ExecutorClient NewClient() => new ExecutorClient(new ExecutorEndpoint("test-" + Version, Server.Uri, null));

        public Task DisposeAsync()
        {
            Client?.Dispose();
            Server?.Dispose();
            return Task.CompletedTask;
        }
    }

    public sealed class LegacyServerFixture : ExecServerFixture { public LegacyServerFixture() : base(Peers.Legacy) { } }

    public sealed class CurrentServerFixture : ExecServerFixture { public CurrentServerFixture() : base(Peers.Current) { } }

    public sealed class LegacyExecutorClientTests : ExecutorClientTests, IClassFixture<LegacyServerFixture>
    {
        public LegacyExecutorClientTests(LegacyServerFixture f) : base(f) { }
    }

    public sealed class CurrentExecutorClientTests : ExecutorClientTests, IClassFixture<CurrentServerFixture>
    {
        public CurrentExecutorClientTests(CurrentServerFixture f) : base(f) { }
    }

    /// <summary>ExecutorClient against real codex exec-servers; every test runs on both dialects.</summary>
    public abstract class ExecutorClientTests
    {
        private static readonly TimeSpan TestDeadline = TimeSpan.FromSeconds(25);
        private readonly ExecServerFixture _f;

        protected ExecutorClientTests(ExecServerFixture fixture) => _f = fixture;

        private ExecutorClient Client => _f.Client;

        private static ProcessStartSpec Sh(string script, bool pipeStdin = false) =>
            new ProcessStartSpec { Argv = new[] { "bash", "-c", script }, PipeStdin = pipeStdin };

        internal sealed class Collected
        {
            public MemoryStream Stdout { get; } = new MemoryStream();
            public MemoryStream Stderr { get; } = new MemoryStream();
            public List<long> Seqs { get; } = new List<long>();
            public string StdoutText => Encoding.UTF8.GetString(Stdout.ToArray());
            public string StderrText => Encoding.UTF8.GetString(Stderr.ToArray());
        }

        /// <summary>Takes output until the process is closed (not merely exited), failing on a recorded failure.</summary>
        internal static async Task<Collected> CollectAsync(ExecutorClient client, RemoteProcessHandle handle, Collected? into = null,
            Func<Collected, bool>? until = null)
        {
            var c = into ?? new Collected();
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                bool closed = handle.Closed;
                foreach (var chunk in handle.TakeUnread())
                {
                    c.Seqs.Add(chunk.Seq);
                    (chunk.Stream == OutputStreamKind.Stderr ? c.Stderr : c.Stdout).Write(chunk.Data);
                }
                if (handle.Failure != null) throw handle.Failure;
                if (closed) return c;
                if (until != null && until(c)) return c;
                if (deadline.Elapsed > TestDeadline) throw new TimeoutException($"process {handle.ProcessId} did not close in time");
                await client.WaitForOutputAsync(handle, TimeSpan.FromSeconds(1), CancellationToken.None);
            }
        }

        private async Task<(Collected Output, RemoteProcessHandle Handle)> RunAsync(ProcessStartSpec spec)
        {
            var handle = await Client.StartProcessAsync(spec, CancellationToken.None);
            var output = await CollectAsync(Client, handle);
            return (output, handle);
        }

        [Fact]
        public void DialectIsDetectedByProbing()
        {
            Assert.False(string.IsNullOrEmpty(Client.SessionId));
            Assert.Equal(ExecutorState.Connected, Client.State);
            if (_f.IsLegacy)
            {
                Assert.Equal(PathStyle.Plain, Client.PathStyle);
                Assert.Equal("Legacy", Client.Dialect);
            }
            else
            {
                Assert.Equal(PathStyle.FileUri, Client.PathStyle);
                Assert.Equal("Current", Client.Dialect);
                Assert.Equal(Peers.Current, Client.ServerVersion);
                Assert.Equal("linux", Client.Platform);
                Assert.False(string.IsNullOrEmpty(Client.Shell));
            }
        }

        [Theory]
        [InlineData(0)]
        [InlineData(7)]
        public async Task StdoutAndStderrArriveSeparatelyWithExitCode(int code)
        {
            var (output, handle) = await RunAsync(Sh($"echo out-1; echo err-1 >&2; echo out-2; exit {code}"));
            Assert.Equal("out-1\nout-2\n", output.StdoutText);
            Assert.Equal("err-1\n", output.StderrText);
            Assert.True(handle.Exited);
            Assert.True(handle.Closed);
            Assert.Equal(code, handle.ExitCode);
            Assert.Null(handle.Failure);
            Assert.Equal(output.Seqs.OrderBy(s => s).Distinct(), output.Seqs);
        }

        [Fact]
        public async Task OutputAfterExitIsNotLost()
        {
            // bash exits at once; a background child keeps stdout open and writes after the exit.
            var (output, handle) = await RunAsync(Sh("(sleep 0.4; echo late-line) & echo early-line; exit 3"));
            Assert.Equal("early-line\nlate-line\n", output.StdoutText);
            Assert.Equal(3, handle.ExitCode);
        }

        [Fact]
        public async Task FiveMiBOfRandomStdoutArrivesByteExact()
        {
            var file = $"/tmp/eb-rand-{Guid.NewGuid():N}.bin";
            try
            {
                var (output, handle) = await RunAsync(Sh($"dd if=/dev/urandom bs=1M count=5 2>/dev/null | tee {file}"));
                Assert.Equal(0, handle.ExitCode);
                var received = output.Stdout.ToArray();
                Assert.Equal(5 * 1024 * 1024, received.Length);
                var (sum, _) = await RunAsync(Sh($"sha256sum {file} | cut -d' ' -f1"));
                var local = Convert.ToHexString(SHA256.HashData(received)).ToLowerInvariant();
                Assert.Equal(sum.StdoutText.Trim(), local);
            }
            finally
            {
                await RunAsync(Sh($"rm -f {file}"));
            }
        }

        [Fact]
        public async Task StdinRoundTripWithTwoWrites()
        {
            var handle = await Client.StartProcessAsync(new ProcessStartSpec { Argv = new[] { "head", "-n", "2" }, PipeStdin = true }, CancellationToken.None);
            Assert.Equal("accepted", await Client.WriteInputAsync(handle, new ArraySegment<byte>(Encoding.UTF8.GetBytes("first line\n")), CancellationToken.None));
            await Task.Delay(100);
            Assert.Equal("accepted", await Client.WriteInputAsync(handle, new ArraySegment<byte>(Encoding.UTF8.GetBytes("second line\n")), CancellationToken.None));
            var output = await CollectAsync(Client, handle);
            Assert.Equal("first line\nsecond line\n", output.StdoutText);
            Assert.Equal(0, handle.ExitCode);
        }

        [Fact]
        public async Task WriteWithoutPipeStdinIsReportedAsClosed()
        {
            var handle = await Client.StartProcessAsync(Sh("sleep 5"), CancellationToken.None);
            try
            {
                var status = await Client.WriteInputAsync(handle, new ArraySegment<byte>(new byte[] { 65 }), CancellationToken.None);
                Assert.Equal("stdinClosed", status);
            }
            finally
            {
                await Client.TerminateAsync(handle, CancellationToken.None);
                await CollectAsync(Client, handle);
            }
        }

        [Fact]
        public async Task TerminateKillsTheProcess()
        {
            var handle = await Client.StartProcessAsync(Sh("echo started; sleep 30"), CancellationToken.None);
            await CollectAsync(Client, handle, until: c => c.StdoutText.Contains("started"));
            var sw = Stopwatch.StartNew();
            Assert.True(await Client.TerminateAsync(handle, CancellationToken.None));
            await CollectAsync(Client, handle);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5));
            Assert.Equal(_f.IsLegacy ? -1 : 137, handle.ExitCode);
            // A second terminate of a finished process reports it is not running.
            Assert.False(await Client.TerminateAsync(handle, CancellationToken.None));
        }

        [Fact]
        public async Task AStartCancelledWhileUnderWayLeavesNoProcessRunning()
        {
            // The caller gives up after process/start went out and before its answer (a proxy holds each read 300 ms):
            // the process the server then starts must not be left running with nobody to kill it (a cancelled Legacy
            // upload left its `head` writer holding a partial file).
            using var proxy = ExecBridge.Tests.Faults.FaultProxy.For(_f.Server.Uri);
            using var cts = new CancellationTokenSource();
            using var c = new ExecutorClient(new ExecutorEndpoint("cancel-start", proxy.Uri, null), new OnSend("process/start", () => cts.CancelAfter(100)));
            await c.EnsureConnectedAsync(CancellationToken.None);
            proxy.Delay = TimeSpan.FromMilliseconds(300);
            var tag = "61." + Random.Shared.Next(100000, 999999);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => c.StartProcessAsync(Sh($"exec sleep {tag}"), cts.Token));
            proxy.Delay = TimeSpan.Zero;
            // Long enough for a start that was under way to have happened.
            var deadline = DateTime.UtcNow.AddSeconds(3);
            bool seen = false;
            while (DateTime.UtcNow < deadline && !seen) { seen = Running(tag); await Task.Delay(50); }
            Assert.False(seen, "the process started by the cancelled call was left running");

            static bool Running(string tag) => ProcTree.All().Any(p => p.State != 'Z' && p.CommandLine.Any(a => a.Contains("sleep " + tag) || a == tag));
        }

        /// <summary>Runs an action when the client logs that it sends a request of a method.</summary>
        private sealed class OnSend : Microsoft.Extensions.Logging.ILogger
        {
            private readonly string _prefix;
            private readonly Action _action;
            public OnSend(string method, Action action) { _prefix = "-> " + method + " #"; _action = action; }
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
            public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state,
                Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (formatter(state, exception).StartsWith(_prefix, StringComparison.Ordinal)) _action();
            }
        }

        [Fact]
        public async Task InterruptRunsTheIntTrapWhereSupported()
        {
            var handle = await Client.StartProcessAsync(
                Sh("trap 'echo got-int; exit 3' INT; echo ready; while true; do sleep 0.1; done"), CancellationToken.None);
            var output = await CollectAsync(Client, handle, until: c => c.StdoutText.Contains("ready"));
            bool interrupted = await Client.InterruptAsync(handle, CancellationToken.None);
            if (_f.IsLegacy)
            {
                Assert.False(interrupted);
                Assert.True(Client.IsKnownUnsupported("process/signal"));
                Assert.False(await Client.InterruptAsync(handle, CancellationToken.None));
                Assert.True(await Client.TerminateAsync(handle, CancellationToken.None));
                await CollectAsync(Client, handle, output);
                Assert.DoesNotContain("got-int", output.StdoutText);
            }
            else
            {
                Assert.True(interrupted);
                await CollectAsync(Client, handle, output);
                Assert.Contains("got-int", output.StdoutText);
                Assert.Equal(3, handle.ExitCode);
            }
        }

        [Fact]
        public async Task ContinuationBlockingOnAnotherCallOfItsConnectionIsRescued()
        {
            // Small calls complete inline on the socket reader. A caller that then blocks, inside that continuation, on
            // another call of the same connection would wait for itself; the sweeper moves reading to a new reader.
            var log = new ExecBridge.Tests.Relay.ListLogger();
            using var client = new ExecutorClient(new ExecutorEndpoint($"rescue-{_f.Version}", _f.Server.Uri, null), log);
            await client.EnsureConnectedAsync(CancellationToken.None);
            // A 4 MiB fs/readFile sent first keeps the server busy (it answers one request at a time), so the metadata
            // answer arrives after the await below is registered and its continuation runs on the reader.
            var slowFile = $"/tmp/eb-rescue-{Guid.NewGuid():N}";
            var (o, h) = await RunAsync(Sh($"head -c 4194304 /dev/zero > {slowFile}"));
            Assert.True(h.ExitCode == 0, o.StderrText);
            try
            {
                var sw = Stopwatch.StartNew();
                // Should the answer still win the race (the caller continues itself, nothing blocks the reader), try again.
                int tries = 0;
                while (tries++ < 20 && !log.Text.Contains("reading moved to a new reader"))
                {
                    var inner = await Task.Run(() => BlockInsideContinuationAsync(client, slowFile)).WaitAsync(TimeSpan.FromSeconds(10));
                    Assert.True(inner == null || inner.IsDirectory);
                }
                Assert.Contains("reading moved to a new reader", log.Text);
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
                // The connection carries on with the new reader.
                for (int i = 0; i < 20; i++) Assert.True((await client.GetMetadataAsync("/tmp", CancellationToken.None)).IsDirectory);
            }
            finally
            {
                await RunAsync(Sh($"rm -f {slowFile}"));
            }
        }

        private static async Task<RemoteFileInfo?> BlockInsideContinuationAsync(ExecutorClient client, string slowFile)
        {
            int caller = Environment.CurrentManagedThreadId;
            var slow = client.ReadFileAsync(slowFile, CancellationToken.None);
            await client.GetMetadataAsync("/", CancellationToken.None).ConfigureAwait(false);
            if (Environment.CurrentManagedThreadId == caller) { await slow.ConfigureAwait(false); return null; }
            var inner = client.GetMetadataAsync("/tmp", CancellationToken.None).GetAwaiter().GetResult();
            await slow.ConfigureAwait(false);
            return inner;
        }

        [Theory]
        [InlineData(false)]
        [InlineData(true)] // responses completed inline on the socket reader
        public async Task ConcurrentMetadataCallsEachGetTheirOwnAnswer(bool completeOnReader)
        {
            using var own = completeOnReader
                ? new ExecutorClient(new ExecutorEndpoint($"inline-{_f.Version}", _f.Server.Uri, null) { CompleteOnReader = true })
                : null;
            var client = own ?? Client;
            if (own != null) await own.EnsureConnectedAsync(CancellationToken.None);
            var dir = $"/tmp/eb-meta-{Guid.NewGuid():N}";
            // Files with distinct modification times, so every answer is recognisably the right one.
            var setup = new StringBuilder($"mkdir -p {dir}");
            for (int t = 0; t < 8; t++)
                for (int k = 0; k < 5; k++)
                    setup.Append($" && touch -d @{Epoch(t, k)} {dir}/f{t}-{k}");
            var (o, h) = await RunAsync(Sh(setup.ToString()));
            Assert.True(h.ExitCode == 0, o.StderrText);
            try
            {
                int wrong = 0;
                var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
                var threads = Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
                {
                    for (int i = 0; i < 100; i++)
                    {
                        int k = i % 5;
                        var wire = RemotePath.ToWire($"{dir}/f{t}-{k}", client.PathStyle);
                        using var r = await client.CallAsync("fs/getMetadata", w =>
                        {
                            w.WriteStartObject();
                            w.WriteString("path", wire);
                            w.WriteEndObject();
                        }, CancellationToken.None);
                        long mtime = r.Result.GetProperty("modifiedAtMs").GetInt64();
                        if (mtime != Epoch(t, k) * 1000 || !r.Result.GetProperty("isFile").GetBoolean())
                        {
                            Interlocked.Increment(ref wrong);
                            failures.Enqueue($"t{t} k{k}: {mtime}");
                        }
                    }
                })).ToArray();
                await Task.WhenAll(threads).WaitAsync(TimeSpan.FromSeconds(25));
                Assert.True(wrong == 0, string.Join("; ", failures.Take(5)));
            }
            finally
            {
                await RunAsync(Sh($"rm -rf {dir}"));
            }
        }

        private static long Epoch(int t, int k) => 1_600_000_000L + t * 100 + k;

        [Fact]
        public async Task DroppedConnectionResumesSessionWithoutGapsOrDuplicates()
        {
            using var client = _f.NewClient();
            await client.EnsureConnectedAsync(CancellationToken.None);
            var sessionId = client.SessionId;
            var handle = await client.StartProcessAsync(Sh("for i in $(seq 1 30); do echo line-$i; sleep 0.1; done; echo done >&2"), CancellationToken.None);
            var output = await CollectAsync(client, handle, until: c => c.StdoutText.Contains("line-8\n"));

            client.DropConnection();
            Assert.NotEqual(ExecutorState.Connected, client.State);
            await Task.Delay(600); // output produced while detached is only recoverable by process/read
            await CollectAsync(client, handle, output);

            var lines = output.StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(Enumerable.Range(1, 30).Select(i => "line-" + i), lines);
            Assert.Equal("done\n", output.StderrText);
            Assert.Equal(0, handle.ExitCode);
            Assert.Equal(1, client.ReconnectCount);
            Assert.Equal(sessionId, client.SessionId);
            Assert.Empty(handle.TakeGaps());
            Assert.Equal(output.Seqs.OrderBy(s => s).Distinct(), output.Seqs);
        }

        [Fact]
        public async Task RepeatedDropsDuringOutputStillLoseNothing()
        {
            using var client = _f.NewClient();
            var handle = await client.StartProcessAsync(Sh("for i in $(seq 1 40); do echo line-$i; sleep 0.05; done"), CancellationToken.None);
            var output = new Collected();
            for (int drop = 0; drop < 3; drop++)
            {
                long seen = output.Stdout.Length;
                await CollectAsync(client, handle, output, c => c.Stdout.Length > seen);
                client.DropConnection();
                await Task.Delay(150);
                await client.WaitForOutputAsync(handle, TimeSpan.FromSeconds(1), CancellationToken.None); // redials
            }
            await CollectAsync(client, handle, output);
            var lines = output.StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(Enumerable.Range(1, 40).Select(i => "line-" + i), lines);
            Assert.Equal(3, client.ReconnectCount);
        }
        [Fact]
        public async Task ResumeStillHappensWhenTheFirstRedialAttemptFails()
        {
            using var proxy = new ExecBridge.Tests.Faults.FaultProxy(_f.Server.Port);
            using var client = new ExecutorClient(new ExecutorEndpoint("proxied", proxy.Uri, null));
            await client.EnsureConnectedAsync(CancellationToken.None);
            var sessionId = client.SessionId;
            var handle = await client.StartProcessAsync(Sh("for i in $(seq 1 25); do echo line-$i; sleep 0.1; done"), CancellationToken.None);
            var output = await CollectAsync(client, handle, until: c => c.StdoutText.Contains("line-5\n"));

            // The connection breaks and the executor is unreachable for a moment; the session lives on.
            proxy.RefuseFor(TimeSpan.FromMilliseconds(250));
            proxy.CutNow();
            await CollectAsync(client, handle, output);

            Assert.True(proxy.ConnectionsRefused >= 1);
            Assert.Equal(sessionId, client.SessionId);
            var lines = output.StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(Enumerable.Range(1, 25).Select(i => "line-" + i), lines);
            Assert.Equal(0, handle.ExitCode);
        }

        [Fact]
        public async Task ResumeCatchesUpEveryLiveProcess()
        {
            using var client = _f.NewClient();
            var handles = new List<RemoteProcessHandle>();
            for (int p = 0; p < 4; p++)
                handles.Add(await client.StartProcessAsync(Sh($"for i in $(seq 1 120); do echo p{p}-$i; sleep 0.01; done"), CancellationToken.None));
            var outputs = handles.Select(_ => new Collected()).ToArray();
            for (int p = 0; p < 4; p++)
                await CollectAsync(client, handles[p], outputs[p], c => c.StdoutText.Contains($"p{p}-3\n"));

            client.DropConnection();
            await Task.Delay(300);
            for (int p = 0; p < 4; p++)
            {
                await CollectAsync(client, handles[p], outputs[p]);
                var lines = outputs[p].StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal(Enumerable.Range(1, 120).Select(i => $"p{p}-{i}"), lines);
                Assert.Empty(handles[p].TakeGaps());
            }
        }
        [Fact]
        public async Task OutputBeyondTheServersRetentionWhileDetachedIsReportedAsAGap()
        {
            using var client = _f.NewClient();
            var handle = await client.StartProcessAsync(
                Sh("echo first; sleep 0.5; head -c 3000000 /dev/zero | tr '\\0' 'a'; echo; echo last; sleep 0.5"), CancellationToken.None);
            var output = await CollectAsync(client, handle, until: c => c.StdoutText.Contains("first\n"));
            client.DropConnection();
            await Task.Delay(1500); // the 3 MB are written while nobody listens; the server keeps only ~1 MiB
            await CollectAsync(client, handle, output);

            var gaps = handle.TakeGaps();
            var gap = Assert.Single(gaps);
            Assert.Equal(ExecBridgeErrorKind.OutputLost, gap.Kind);
            Assert.Null(handle.Failure);
            var text = output.StdoutText;
            Assert.StartsWith("first\n", text);
            Assert.EndsWith("\nlast\n", text);
            Assert.InRange(output.Stdout.Length, 1_000_000, 2_000_000); // the kept tail, not all 3 MB
            Assert.Equal(0, handle.ExitCode);
        }
    }

    /// <summary>Killing and restarting the server; each test has a server of its own.</summary>
    public sealed class ExecutorClientServerLossTests
    {
        [Theory]
        [InlineData(Peers.Legacy)]
        [InlineData(Peers.Current)]
        public async Task ServerKilledMidReceiveFailsFastAndRedialsAfterRestart(string version)
        {
            using var server = await ExecServer.StartAsync(version);
            using var client = new ExecutorClient(new ExecutorEndpoint("loss-" + version, server.Uri, null));
            var handle = await client.StartProcessAsync(new ProcessStartSpec
            {
                Argv = new[] { "bash", "-c", "for i in $(seq 1 600); do echo tick-$i; sleep 0.05; done" },
            }, CancellationToken.None);
            var output = await ExecutorClientTests.CollectAsync(client, handle, until: c => c.StdoutText.Contains("tick-3\n"));

            server.Kill();
            var sw = Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<ExecBridgeException>(async () =>
            {
                while (sw.Elapsed < TimeSpan.FromSeconds(10))
                {
                    await client.WaitForOutputAsync(handle, TimeSpan.FromSeconds(5), CancellationToken.None);
                    handle.TakeUnread();
                    if (handle.Failure != null) throw handle.Failure;
                    if (handle.Closed) return;
                }
            });
            sw.Stop();
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"took {sw.Elapsed}");
            Assert.Contains(ex.Kind, new[] { ExecBridgeErrorKind.ConnectionLost, ExecBridgeErrorKind.ConnectionRefused });
            Assert.False(handle.Closed);
            Assert.NotNull(handle.Failure);

            await server.RestartAsync();
            using (var r = await client.CallAsync("fs/getMetadata", w =>
                   {
                       w.WriteStartObject();
                       w.WriteString("path", RemotePath.ToWire("/tmp", client.PathStyle));
                       w.WriteEndObject();
                   }, CancellationToken.None))
            {
                Assert.True(r.Result.GetProperty("isDirectory").GetBoolean());
            }
            Assert.Equal(ExecutorState.Connected, client.State);

            // Processes work again on the new session.
            var again = await client.StartProcessAsync(new ProcessStartSpec { Argv = new[] { "bash", "-c", "echo back; exit 5" } }, CancellationToken.None);
            var o2 = await ExecutorClientTests.CollectAsync(client, again);
            Assert.Equal("back\n", o2.StdoutText);
            Assert.Equal(5, again.ExitCode);
        }
    }
}
