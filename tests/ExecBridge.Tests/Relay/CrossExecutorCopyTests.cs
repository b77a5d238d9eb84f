using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Client.Relay;
using ExecBridge.Tests.Gateway;
using Xunit;
using Xunit.Abstractions;

namespace ExecBridge.Tests.Relay
{
    /// <summary>
    /// Copies between two real exec-servers (0.130 and 0.169) behind the gateway fixture, by relay ticket and by
    /// pumping through the client, with the gateway's faults.
    /// </summary>
    public sealed class CrossExecutorCopyTests : IClassFixture<GatewayWithExecutors>, IDisposable
    {
        private const string L = GatewayWithExecutors.LegacyId;
        private const string C = GatewayWithExecutors.CurrentId;
        private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(28);
        private readonly GatewayWithExecutors _f;
        private readonly ITestOutputHelper _out;
        private readonly ExecutorClient _legacy;
        private readonly ExecutorClient _current;
        private readonly string _root = "/tmp/eb-relay-" + Guid.NewGuid().ToString("N").Substring(0, 10);

        public CrossExecutorCopyTests(GatewayWithExecutors f, ITestOutputHelper output)
        {
            _f = f;
            _out = output;
            _legacy = f.Client(L);
            _current = f.Client(C);
            Directory.CreateDirectory(_root + "/src");
            Directory.CreateDirectory(_root + "/dst");
        }

        public void Dispose()
        {
            _legacy.Dispose();
            _current.Dispose();
            try { Directory.Delete(_root, true); } catch { }
        }

        private GatewayFixture G => _f.Gateway;
        private ExecutorClient Of(string id) => id == L ? _legacy : _current;
        private RelaySettings Settings(string? secret = null) => new RelaySettings(G.InternalBaseUri, G.WorkspaceId, secret ?? G.InternalSecret);

        private CrossExecutorCopyOptions Options(CopyTransport transport, ListLogger? log = null, bool relay = true) => new CrossExecutorCopyOptions
        {
            Transport = transport,
            RelaySettings = relay ? Settings() : null,
            Logger = log,
            TicketTimeToLive = TimeSpan.FromSeconds(30),
        };

        private async Task<string> MakeFileAsync(string name, long size, CancellationToken ct)
        {
            var path = $"{_root}/src/{name}";
            await Sh.RunAsync(_legacy, $"head -c {size} /dev/urandom > {Sh.Q(path)}", ct);
            return path;
        }

        // ---- files, both transports, both directions ----------------------------------------------------------------

        public static IEnumerable<object[]> FileCases()
        {
            foreach (var t in new[] { CopyTransport.Relay, CopyTransport.Pump })
                foreach (var size in new long[] { 0, (1 << 20) + 1 })
                {
                    yield return new object[] { t, L, C, size };
                    yield return new object[] { t, C, L, size };
                }
        }

        [Theory]
        [MemberData(nameof(FileCases))]
        public async Task Copies_a_file_byte_exact(CopyTransport transport, string fromId, string toId, long size)
        {
            using var cts = new CancellationTokenSource(Deadline);
            var src = await MakeFileAsync($"f-{size}.bin", size, cts.Token);
            var dst = $"{_root}/dst/copy-{size}.bin";
            int minted = G.TicketsMinted;
            var log = new ListLogger();
            var opts = Options(transport, log);
            var r = await CrossExecutorCopy.CopyAsync(Of(fromId), src, Of(toId), dst, opts, cts.Token);
            Assert.Equal(transport, r.Transport);
            Assert.Equal(size, r.Result.Length);
            Assert.Equal(dst, r.Result.Destination);
            Assert.Equal(toId, r.Result.DestinationStore);
            Assert.Equal(await Sh.FingerprintAsync(_legacy, src, cts.Token), await Sh.FingerprintAsync(_current, dst, cts.Token));
            Assert.StartsWith(r.Result.Sha256!, await Sh.FingerprintAsync(_current, dst, cts.Token));
            Assert.Equal(transport == CopyTransport.Relay ? minted + 1 : minted, G.TicketsMinted);
            Assert.Equal(size, opts.Progress.BytesDone);
            Assert.Equal(1, opts.Progress.FilesDone);
            Assert.Empty(await Sh.PartialsAsync(_current, _root, cts.Token));
        }

        [Theory]
        [InlineData(CopyTransport.Relay, L, C)]
        [InlineData(CopyTransport.Pump, C, L)]
        public async Task Copies_128_MiB(CopyTransport transport, string fromId, string toId)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            const long size = 128L << 20;
            var src = await MakeFileAsync("big.bin", size, cts.Token);
            var dst = $"{_root}/dst/big.bin";
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var r = await CrossExecutorCopy.CopyAsync(Of(fromId), src, Of(toId), dst, Options(transport), cts.Token);
            _out.WriteLine($"{transport} 128 MiB {fromId} -> {toId}: {sw.ElapsedMilliseconds} ms");
            Assert.Equal(transport, r.Transport);
            Assert.Equal(size, r.Result.Length);
            Assert.Equal(await Sh.FingerprintAsync(_legacy, src, cts.Token), await Sh.FingerprintAsync(_current, dst, cts.Token));
        }

        // ---- folders ----------------------------------------------------------------------------------------------

        private async Task<string> MakeTreeAsync(CancellationToken ct)
        {
            var dir = $"{_root}/src/tree one";
            await Sh.RunAsync(_legacy,
                $"mkdir -p {Sh.Q(dir + "/sub #1/deeper %20 dir")} {Sh.Q(dir + "/ünïcødé ✓")} {Sh.Q(dir + "/empty")} && cd {Sh.Q(dir)} && " +
                "head -c 70000 /dev/urandom > 'a file.bin' && printf 'hash' > 'sub #1/x#y.txt' && : > 'sub #1/deeper %20 dir/zero' && " +
                "head -c 1048577 /dev/urandom > 'ünïcødé ✓/naïve 100%.dat' && printf q > \"it's.txt\"", ct);
            return dir;
        }

        [Theory]
        [InlineData(CopyTransport.Relay, L, C)]
        [InlineData(CopyTransport.Relay, C, L)]
        [InlineData(CopyTransport.Pump, L, C)]
        [InlineData(CopyTransport.Pump, C, L)]
        public async Task Copies_a_folder_tree_with_odd_names(CopyTransport transport, string fromId, string toId)
        {
            using var cts = new CancellationTokenSource(Deadline);
            var src = await MakeTreeAsync(cts.Token);
            var dstParent = $"{_root}/dst";
            var opts = Options(transport);
            opts.Recurse = true;
            var r = await CrossExecutorCopy.CopyAsync(Of(fromId), src, Of(toId), dstParent, opts, cts.Token);
            Assert.Equal(transport, r.Transport);
            Assert.True(r.Result.IsDirectory);
            Assert.Equal($"{dstParent}/tree one", r.Result.Destination);
            Assert.Equal(70000 + 4 + 1048577 + 1, r.Result.Length);
            var expected = await Sh.FingerprintAsync(_legacy, src, cts.Token);
            Assert.Contains("./ünïcødé ✓/naïve 100%.dat", expected);
            Assert.Contains("d ./empty", expected);
            Assert.Equal(expected, await Sh.FingerprintAsync(_current, $"{dstParent}/tree one", cts.Token));
            Assert.Empty(await Sh.PartialsAsync(_current, _root, cts.Token));

            // Without -Force an existing folder is refused; with it the copy merges into it.
            var again = await Assert.ThrowsAsync<ExecBridgeException>(() => CrossExecutorCopy.CopyAsync(Of(fromId), src, Of(toId), dstParent, Options(transport), cts.Token));
            Assert.Equal(ExecBridgeErrorKind.InvalidArgument, again.Kind); // no -Recurse
            var opts2 = Options(transport);
            opts2.Recurse = true;
            var exists = await Assert.ThrowsAsync<ExecBridgeException>(() => CrossExecutorCopy.CopyAsync(Of(fromId), src, Of(toId), dstParent, opts2, cts.Token));
            Assert.Equal(ExecBridgeErrorKind.DestinationExists, exists.Kind);
            await Sh.RunAsync(_current, $"printf extra > {Sh.Q(dstParent + "/tree one/extra.txt")} && printf old > {Sh.Q(dstParent + "/tree one/a file.bin")}", cts.Token);
            opts2.Force = true;
            await CrossExecutorCopy.CopyAsync(Of(fromId), src, Of(toId), dstParent, opts2, cts.Token);
            var merged = await Sh.FingerprintAsync(_current, $"{dstParent}/tree one", cts.Token);
            Assert.Contains("extra.txt", merged);
            Assert.Equal(expected, string.Join("\n", merged.Split('\n').Where(l => !l.Contains("extra.txt"))));
            Assert.Empty(await Sh.PartialsAsync(_current, _root, cts.Token));
        }

        // ---- Auto ---------------------------------------------------------------------------------------------------

        [Fact]
        public async Task Auto_relays_when_configured_and_pumps_when_not()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var src = await MakeFileAsync("auto.bin", 300_000, cts.Token);
            var expected = await Sh.FingerprintAsync(_legacy, src, cts.Token);

            var r1 = await CrossExecutorCopy.CopyAsync(_legacy, src, _current, $"{_root}/dst/a1", Options(CopyTransport.Auto), cts.Token);
            Assert.Equal(CopyTransport.Relay, r1.Transport);
            Assert.Null(r1.FallbackReason);

            var log = new ListLogger();
            var r2 = await CrossExecutorCopy.CopyAsync(_legacy, src, _current, $"{_root}/dst/a2", Options(CopyTransport.Auto, log, relay: false), cts.Token);
            Assert.Equal(CopyTransport.Pump, r2.Transport);
            Assert.Contains("no relay settings", r2.FallbackReason);
            Assert.Contains("Falling back to pumping", log.Text);

            G.RelayEnabled = false;
            try
            {
                log = new ListLogger();
                var r3 = await CrossExecutorCopy.CopyAsync(_current, src, _legacy, $"{_root}/dst/a3", Options(CopyTransport.Auto, log), cts.Token);
                Assert.Equal(CopyTransport.Pump, r3.Transport);
                Assert.Contains("HTTP 503", r3.FallbackReason);
                Assert.Contains("not configured", log.Text);
                // Relay explicitly: the 503 is an error, not a silent pump.
                var ex = await Assert.ThrowsAsync<RelayApiException>(() =>
                    CrossExecutorCopy.CopyAsync(_current, src, _legacy, $"{_root}/dst/a4", Options(CopyTransport.Relay), cts.Token));
                Assert.True(ex.IsNotConfigured);
            }
            finally
            {
                G.RelayEnabled = true;
            }
            var notConfigured = await Assert.ThrowsAsync<ExecBridgeException>(() =>
                CrossExecutorCopy.CopyAsync(_current, src, _legacy, $"{_root}/dst/a5", Options(CopyTransport.Relay, relay: false), cts.Token));
            Assert.Equal(ExecBridgeErrorKind.RelayNotConfigured, notConfigured.Kind);
            foreach (var n in new[] { "a1", "a2", "a3" })
                Assert.Equal(expected, await Sh.FingerprintAsync(_current, $"{_root}/dst/{n}", cts.Token));
            Assert.False(await Sh.ExistsAsync(_current, $"{_root}/dst/a4", cts.Token));
        }

        /// <summary>A bin folder with everything of /usr/bin and /bin except curl, used as PATH on one side.</summary>
        private async Task<Dictionary<string, string>> PathWithoutCurlAsync(CancellationToken ct)
        {
            var bin = $"{_root}/nocurl-bin";
            await Sh.RunAsync(_legacy, $"mkdir -p {bin} && for f in /bin/* /usr/bin/*; do n=${{f##*/}}; [ \"$n\" = curl ] || [ -e {bin}/\"$n\" ] || ln -s \"$f\" {bin}/\"$n\"; done", ct);
            return new Dictionary<string, string> { ["PATH"] = bin };
        }

        [Theory]
        [InlineData(true)]
        [InlineData(false)]
        public async Task Auto_pumps_when_curl_is_missing_on_one_side(bool onSource)
        {
            using var cts = new CancellationTokenSource(Deadline);
            var env = await PathWithoutCurlAsync(cts.Token);
            var src = await MakeFileAsync("nocurl.bin", 100_000, cts.Token);
            var log = new ListLogger();
            var opts = Options(CopyTransport.Auto, log);
            if (onSource) opts.SourceEnvironment = env; else opts.DestinationEnvironment = env;
            int minted = G.TicketsMinted;
            var r = await CrossExecutorCopy.CopyAsync(_current, src, _legacy, $"{_root}/dst/nc", opts, cts.Token);
            Assert.Equal(CopyTransport.Pump, r.Transport);
            Assert.Contains("curl is missing on executor '" + (onSource ? C : L) + "'", r.FallbackReason);
            Assert.Contains("exit 127", log.Text);
            Assert.Equal(minted, G.TicketsMinted); // checked before a ticket was spent
            Assert.Equal(await Sh.FingerprintAsync(_legacy, src, cts.Token), await Sh.FingerprintAsync(_current, $"{_root}/dst/nc", cts.Token));

            // -Transport Relay: a clear error instead.
            var opts2 = Options(CopyTransport.Relay);
            if (onSource) opts2.SourceEnvironment = env; else opts2.DestinationEnvironment = env;
            var ex = await Assert.ThrowsAsync<RelayToolMissingException>(() => CrossExecutorCopy.CopyAsync(_current, src, _legacy, $"{_root}/dst/nc2", opts2, cts.Token));
            Assert.Equal(ExecBridgeErrorKind.NotSupported, ex.Kind);
            Assert.Contains("curl", ex.Message);
            Assert.False(await Sh.ExistsAsync(_current, $"{_root}/dst/nc2", cts.Token));
        }

        // ---- failures: destination untouched, nothing left behind ------------------------------------------------------

        private async Task<(string Src, string Dst, string Before)> ExistingDestinationAsync(long size, CancellationToken ct)
        {
            var src = await MakeFileAsync("fail.bin", size, ct);
            var dst = $"{_root}/dst/keep.bin";
            await Sh.RunAsync(_current, $"printf 'the old content' > {Sh.Q(dst)}", ct);
            return (src, dst, await Sh.FingerprintAsync(_current, dst, ct));
        }

        private async Task<RelayTransferException> FailingRelayAsync(CrossExecutorCopyOptions opts, long size, CancellationToken ct)
        {
            var (src, dst, before) = await ExistingDestinationAsync(size, ct);
            opts.Force = true;
            var ex = await Assert.ThrowsAsync<RelayTransferException>(() => CrossExecutorCopy.CopyAsync(_legacy, src, _current, dst, opts, ct));
            _out.WriteLine(ex.Message);
            Assert.Equal(ExecBridgeErrorKind.RelayFailed, ex.Kind);
            Assert.Equal(before, await Sh.FingerprintAsync(_current, dst, ct));
            Assert.Empty(await Sh.PartialsAsync(_current, _root, ct));
            Assert.Equal(0, opts.Progress.BytesDone);
            return ex;
        }

        [Fact]
        public async Task Expired_ticket_is_a_clear_error_and_the_destination_is_untouched()
        {
            using var cts = new CancellationTokenSource(Deadline);
            string? ticket = null;
            var opts = Options(CopyTransport.Relay);
            opts.OnTicketMinted = t => { ticket = t.Ticket; G.ExpireTicket(t.Ticket); return Task.CompletedTask; };
            var ex = await FailingRelayAsync(opts, 200_000, cts.Token);
            Assert.Contains("expired", ex.Message);
            Assert.True(ex.HttpStatus == 410 || ex.HttpStatus == 408, $"status {ex.HttpStatus}");
            Assert.DoesNotContain(ticket!, ex.ToString());
        }

        [Fact]
        public async Task Reused_ticket_is_a_clear_error_and_the_destination_is_untouched()
        {
            using var cts = new CancellationTokenSource(Deadline);
            string? ticket = null;
            var opts = Options(CopyTransport.Relay);
            opts.OnTicketMinted = async t =>
            {
                ticket = t.Ticket;
                // Someone else uses the ticket first.
                using var http = new HttpClient();
                using var get = new HttpRequestMessage(HttpMethod.Get, t.DownloadUri);
                get.Headers.Authorization = new AuthenticationHeaderValue("Bearer", t.Ticket);
                var download = http.SendAsync(get);
                using var put = new HttpRequestMessage(HttpMethod.Put, t.UploadUri) { Content = new ByteArrayContent(new byte[] { 1, 2, 3 }) };
                put.Headers.Authorization = new AuthenticationHeaderValue("Bearer", t.Ticket);
                using var putResp = await http.SendAsync(put);
                Assert.Equal(200, (int)putResp.StatusCode);
                (await download).Dispose();
            };
            var ex = await FailingRelayAsync(opts, 200_000, cts.Token);
            Assert.Equal(410, ex.HttpStatus);
            Assert.Contains("already used", ex.Message);
            Assert.DoesNotContain(ticket!, ex.ToString());
        }

        [Fact]
        public async Task Going_over_max_bytes_fails_and_the_destination_is_untouched()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var opts = Options(CopyTransport.Relay);
            opts.TicketMaxBytesOverride = 100_000; // as if the file grew after it was measured
            var ex = await FailingRelayAsync(opts, 400_000, cts.Token);
            Assert.Contains("more bytes than the ticket allows", ex.Message);
        }

        [Fact]
        public async Task A_source_that_grows_during_a_relay_copy_is_named_as_the_cause()
        {
            // Issue #16 item 9: the relay cuts what the ticket does not allow, and curl then only reports exit 52 (an
            // empty reply); the error must say that the source changed size.
            using var cts = new CancellationTokenSource(Deadline);
            var opts = Options(CopyTransport.Relay);
            string? grow = null;
            opts.OnTicketMinted = async t => await Sh.RunAsync(_legacy, $"head -c 300000 /dev/zero >> {Sh.Q(grow!)}", cts.Token);
            var (src, dst, before) = await ExistingDestinationAsync(200_000, cts.Token);
            grow = src;
            opts.Force = true;
            var ex = await Assert.ThrowsAsync<RelayTransferException>(() => CrossExecutorCopy.CopyAsync(_legacy, src, _current, dst, opts, cts.Token));
            _out.WriteLine(ex.Message);
            Assert.Contains("changed size during the relay copy (200000 bytes when it started, 500000 now)", ex.Message);
            Assert.Equal(before, await Sh.FingerprintAsync(_current, dst, cts.Token));
            Assert.Empty(await Sh.PartialsAsync(_current, _root, cts.Token));
        }

        [Fact]
        public async Task Gateway_dropping_the_relay_mid_copy_fails_and_the_destination_is_untouched()
        {
            using var cts = new CancellationTokenSource(Deadline);
            G.DropRelayAfterBytes = 300_000;
            try
            {
                var ex = await FailingRelayAsync(Options(CopyTransport.Relay), 1 << 20, cts.Token);
                Assert.True(ex.HttpStatus == 500 || ex.CurlExit != 0);
            }
            finally
            {
                G.DropRelayAfterBytes = null;
            }
        }

        [Fact]
        public async Task A_relay_that_changes_a_byte_is_caught_and_the_destination_is_untouched()
        {
            // Every byte arrives and curl succeeds on both sides; only the SHA-256 of the partial against the source's
            // can tell, and then nothing may land.
            using var cts = new CancellationTokenSource(Deadline);
            var (src, dst, before) = await ExistingDestinationAsync(300_000, cts.Token);
            G.CorruptRelayByteAt = 123_456;
            try
            {
                var opts = Options(CopyTransport.Relay);
                opts.Force = true;
                var ex = await Assert.ThrowsAsync<ExecBridgeException>(() => CrossExecutorCopy.CopyAsync(_legacy, src, _current, dst, opts, cts.Token));
                _out.WriteLine(ex.Message);
                Assert.Equal(ExecBridgeErrorKind.IntegrityCheckFailed, ex.Kind);
                Assert.Contains((await Sh.FingerprintAsync(_legacy, src, cts.Token)).Substring(0, 64), ex.Message); // the source's digest
                Assert.Equal(0, opts.Progress.BytesDone);
            }
            finally
            {
                G.CorruptRelayByteAt = null;
            }
            Assert.Equal(before, await Sh.FingerprintAsync(_current, dst, cts.Token));
            Assert.Empty(await Sh.PartialsAsync(_current, _root, cts.Token));
        }

        [Fact]
        public async Task Cancelling_a_relay_stops_both_sides_and_leaves_nothing()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var (src, dst, before) = await ExistingDestinationAsync(2 << 20, cts.Token);
            G.RelayChunkDelay = TimeSpan.FromMilliseconds(200);
            try
            {
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
                var opts = Options(CopyTransport.Relay);
                opts.Force = true;
                opts.OnTicketMinted = _ => { stop.CancelAfter(1500); return Task.CompletedTask; };
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => CrossExecutorCopy.CopyAsync(_legacy, src, _current, dst, opts, stop.Token));
            }
            finally
            {
                G.RelayChunkDelay = TimeSpan.Zero;
            }
            Assert.Equal(before, await Sh.FingerprintAsync(_current, dst, cts.Token));
            Assert.Empty(await Sh.PartialsAsync(_current, _root, cts.Token));
            // Only this executor's processes (children of its server, the shell's parent): other test classes run
            // relays of their own at the same time, and their curl is not this copy's.
            Assert.DoesNotContain("curl -q -K", await Sh.RunAsync(_current, "ps -o args= --ppid $PPID", cts.Token));
        }

        [Fact]
        public async Task Pump_into_a_dropped_bridge_fails_and_the_destination_is_untouched()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var (src, dst, before) = await ExistingDestinationAsync(3 << 20, cts.Token);
            await _current.EnsureConnectedAsync(cts.Token);
            await _legacy.EnsureConnectedAsync(cts.Token);
            G.DropBridgeAfterBytes = 1 << 20;
            var opts = Options(CopyTransport.Pump);
            opts.Force = true;
            try
            {
                var ex = await Assert.ThrowsAnyAsync<ExecBridgeException>(() => CrossExecutorCopy.CopyAsync(_legacy, src, _current, dst, opts, cts.Token));
                _out.WriteLine(ex.Message);
            }
            finally
            {
                G.DropBridgeAfterBytes = null;
            }
            Assert.Equal(before, await Sh.FingerprintAsync(_current, dst, cts.Token));
            // The sink's cleanup may have run on a dead connection: give the redialed session a moment.
            for (int i = 0; i < 20 && (await Sh.PartialsAsync(_current, _root, cts.Token)).Length > 0; i++) await Task.Delay(250, cts.Token);
            Assert.Empty(await Sh.PartialsAsync(_current, _root, cts.Token));
        }

        // ---- secrets --------------------------------------------------------------------------------------------------

        [Fact]
        public async Task Wrong_workspace_token_and_wrong_internal_secret_are_authentication_errors_without_either_secret()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var src = await MakeFileAsync("auth.bin", 1000, cts.Token);
            const string wrongToken = "wst_definitely-not-the-workspace-token-0001";
            using (var bad = _f.Client(C, wrongToken))
            {
                var ex = await Assert.ThrowsAsync<AuthenticationFailedException>(() =>
                    CrossExecutorCopy.CopyAsync(_legacy, src, bad, $"{_root}/dst/auth1", Options(CopyTransport.Auto), cts.Token));
                Assert.Equal(ExecBridgeErrorKind.AuthenticationFailed, ex.Kind);
                Assert.DoesNotContain(wrongToken, ex.ToString());
                Assert.DoesNotContain(G.WorkspaceToken, ex.ToString());
            }
            const string wrongSecret = "igs_definitely-not-the-internal-secret-0002";
            foreach (var transport in new[] { CopyTransport.Auto, CopyTransport.Relay })
            {
                var opts = Options(transport);
                opts.RelaySettings = Settings(wrongSecret);
                // Auto reports the refused secret instead of silently pumping.
                var ex = await Assert.ThrowsAsync<RelayApiException>(() => CrossExecutorCopy.CopyAsync(_legacy, src, _current, $"{_root}/dst/auth2", opts, cts.Token));
                Assert.Equal(ExecBridgeErrorKind.AuthenticationFailed, ex.Kind);
                Assert.Equal(401, ex.StatusCode);
                Assert.DoesNotContain(wrongSecret, ex.ToString());
                Assert.DoesNotContain(G.InternalSecret, ex.ToString());
            }
            Assert.False(await Sh.ExistsAsync(_current, $"{_root}/dst/auth2", cts.Token));
        }

        [Fact]
        public async Task The_ticket_never_appears_in_the_process_list_during_a_copy()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var src = await MakeFileAsync("ps.bin", 1 << 20, cts.Token);
            string? ticket = null;
            var opts = Options(CopyTransport.Relay);
            opts.OnTicketMinted = t => { ticket = t.Ticket; return Task.CompletedTask; };
            G.RelayChunkDelay = TimeSpan.FromMilliseconds(150);
            int seenCurl = 0, samples = 0;
            try
            {
                var copy = CrossExecutorCopy.CopyAsync(_legacy, src, _current, $"{_root}/dst/ps.bin", opts, cts.Token);
                while (!copy.IsCompleted)
                {
                    // Every process on this machine (the executors run here): argv via /proc, as 'ps -eo args' shows it.
                    foreach (var dir in Directory.EnumerateDirectories("/proc"))
                    {
                        string args;
                        try { args = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' '); }
                        catch { continue; }
                        if (ticket != null) Assert.DoesNotContain(ticket, args);
                        Assert.DoesNotContain("rly_", args);
                        if (args.Contains("curl -q -K -")) seenCurl++;
                    }
                    var ps = await _current.RunCommandAsync("ps -eo args", cts.Token);
                    if (ticket != null) Assert.DoesNotContain(ticket, ps.StdoutText);
                    samples++;
                    await Task.Delay(100, cts.Token);
                }
                var r = await copy;
                Assert.Equal(CopyTransport.Relay, r.Transport);
            }
            finally
            {
                G.RelayChunkDelay = TimeSpan.Zero;
            }
            Assert.NotNull(ticket);
            Assert.True(seenCurl > 0, $"no curl process was seen in {samples} samples: the check did not run during the transfer");
        }

        // ---- the relay cap ----------------------------------------------------------------------------------------------

        /// <summary>Holds 'count' active tickets in the workspace.</summary>
        private async Task<List<RelayTicketInfo>> HoldTicketsAsync(int count)
        {
            using var api = _f.RelayApi();
            var held = new List<RelayTicketInfo>();
            for (int i = 0; i < count; i++)
                held.Add(await api.CreateTicketAsync(L, C, TimeSpan.FromMinutes(2), 10, CancellationToken.None));
            return held;
        }

        [Fact]
        public async Task The_17th_relay_waits_then_falls_back_and_says_so()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var src = await MakeFileAsync("cap.bin", 50_000, cts.Token);
            G.ExpireAllTickets();
            var held = await HoldTicketsAsync(GatewayFixture.DefaultMaxActiveRelays);
            try
            {
                Assert.Equal(16, G.ActiveRelays);
                // Auto: waits, then pumps.
                var log = new ListLogger();
                var opts = Options(CopyTransport.Auto, log);
                opts.CapacityWait = TimeSpan.FromSeconds(1);
                var sw = System.Diagnostics.Stopwatch.StartNew();
                var r = await CrossExecutorCopy.CopyAsync(_legacy, src, _current, $"{_root}/dst/cap1", opts, cts.Token);
                Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(0.9), "it did not wait");
                Assert.Equal(CopyTransport.Pump, r.Transport);
                Assert.Contains("HTTP 429", r.FallbackReason);
                Assert.Contains("waiting up to 1 s for a free slot", log.Text);
                Assert.Contains("Falling back to pumping", log.Text);

                // Relay: a slot frees up while it waits, and it relays.
                log = new ListLogger();
                var opts2 = Options(CopyTransport.Relay, log);
                opts2.CapacityWait = TimeSpan.FromSeconds(10);
                var copy = CrossExecutorCopy.CopyAsync(_legacy, src, _current, $"{_root}/dst/cap2", opts2, cts.Token);
                await Task.Delay(700, cts.Token);
                Assert.False(copy.IsCompleted);
                G.ExpireTicket(held[0].Ticket);
                var r2 = await copy;
                Assert.Equal(CopyTransport.Relay, r2.Transport);
                Assert.Contains("waiting up to 10 s", log.Text);
                Assert.Contains("slot became free", log.Text);

                // Relay with the cap still full after the wait: the 429 is the error.
                var opts3 = Options(CopyTransport.Relay);
                opts3.CapacityWait = TimeSpan.FromMilliseconds(300);
                var again = await HoldTicketsAsync(1);
                held.AddRange(again);
                var ex = await Assert.ThrowsAsync<RelayApiException>(() => CrossExecutorCopy.CopyAsync(_legacy, src, _current, $"{_root}/dst/cap3", opts3, cts.Token));
                Assert.True(ex.IsCapacityExceeded);
            }
            finally
            {
                foreach (var t in held) G.ExpireTicket(t.Ticket);
            }
            var expected = await Sh.FingerprintAsync(_legacy, src, cts.Token);
            Assert.Equal(expected, await Sh.FingerprintAsync(_current, $"{_root}/dst/cap1", cts.Token));
            Assert.Equal(expected, await Sh.FingerprintAsync(_current, $"{_root}/dst/cap2", cts.Token));
        }

        [Fact]
        public async Task Seventeen_concurrent_copies_sixteen_relay_and_one_falls_back()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var src = await MakeFileAsync("c17.bin", 300_000, cts.Token);
            var expected = await Sh.FingerprintAsync(_legacy, src, cts.Token);
            G.ExpireAllTickets();
            Assert.Equal(0, G.ActiveRelays);
            G.RelayChunkDelay = TimeSpan.FromMilliseconds(400);
            var logs = Enumerable.Range(0, 17).Select(_ => new ListLogger()).ToArray();
            try
            {
                var copies = Enumerable.Range(0, 17).Select(i =>
                {
                    var o = Options(CopyTransport.Auto, logs[i]);
                    o.CapacityWait = TimeSpan.FromMilliseconds(500);
                    // Half the copies go each way, over the two shared connections.
                    return i % 2 == 0
                        ? CrossExecutorCopy.CopyAsync(_legacy, src, _current, $"{_root}/dst/c{i}", o, cts.Token)
                        : CrossExecutorCopy.CopyAsync(_current, src, _legacy, $"{_root}/dst/c{i}", o, cts.Token);
                }).ToList();
                var results = await Task.WhenAll(copies);
                int relayed = results.Count(r => r.Transport == CopyTransport.Relay);
                int pumped = results.Count(r => r.Transport == CopyTransport.Pump);
                _out.WriteLine($"relayed {relayed}, pumped {pumped}");
                Assert.Equal(17, relayed + pumped);
                Assert.True(pumped >= 1, "the 17th did not fall back");
                Assert.True(relayed >= 10, $"only {relayed} relayed");
                for (int i = 0; i < 17; i++)
                    if (results[i].Transport == CopyTransport.Pump)
                    {
                        Assert.Contains("HTTP 429", logs[i].Text);
                        Assert.Contains("Falling back", logs[i].Text);
                    }
            }
            finally
            {
                G.RelayChunkDelay = TimeSpan.Zero;
            }
            for (int i = 0; i < 17; i++)
                Assert.Equal(expected, await Sh.FingerprintAsync(_current, $"{_root}/dst/c{i}", cts.Token));
        }
    }
}
