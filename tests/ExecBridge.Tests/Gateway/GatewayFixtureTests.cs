using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Files;
using ExecBridge.Client.Processes;
using ExecBridge.Client.Relay;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Gateway
{
    /// <summary>The gateway fixture in front of one real exec-server of each dialect.</summary>
    public sealed class GatewayWithExecutors : IAsyncLifetime
    {
        public const string LegacyId = "exe-legacy";
        public const string CurrentId = "exe-current";
        public const string ForeignId = "exe-foreign";
        public const string DeadId = "exe-dead";
        public const string ExecServerToken = "exec-server-capability-token-for-the-gateway";

        public GatewayFixture Gateway { get; private set; } = null!;
        public ExecServer Legacy { get; private set; } = null!;
        public ExecServer Current { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            var legacy = ExecServer.StartAsync(Peers.Legacy);
            // The current server demands its own capability token (notes §10): the gateway presents it, not the client.
            var current = ExecServer.StartAsync(Peers.Current, token: ExecServerToken);
            Legacy = await legacy;
            Current = await current;
            Gateway = await GatewayFixture.StartNewAsync();
            Gateway.RegisterExecutor(LegacyId, Legacy.Uri);
            Gateway.RegisterExecutor(CurrentId, Current.Uri, execServerToken: ExecServerToken);
            Gateway.RegisterExecutor(DeadId, new Uri($"ws://127.0.0.1:{ExecServer.FreePort()}"));
            Gateway.RegisterExecutor(ForeignId, Current.Uri, workspaceId: "ws-someone-else");
        }

        public ExecutorClient Client(string exeId, string? token = null) =>
            new ExecutorClient(new ExecutorEndpoint(exeId, new Uri(Gateway.BridgeBaseUri + "/" + exeId), token ?? Gateway.WorkspaceToken));

        public RelayApiClient RelayApi(string? secret = null, string? workspace = null) =>
            new RelayApiClient(new RelaySettings(Gateway.InternalBaseUri, workspace ?? Gateway.WorkspaceId, secret ?? Gateway.InternalSecret));

        public async Task DisposeAsync()
        {
            if (Gateway != null) await Gateway.DisposeAsync();
            Legacy?.Dispose();
            Current?.Dispose();
        }
    }

    public sealed class GatewayFixtureTests : IClassFixture<GatewayWithExecutors>
    {
        private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
        private readonly GatewayWithExecutors _f;
        private static readonly HttpClient Http = new HttpClient { Timeout = TimeSpan.FromSeconds(25) };

        public GatewayFixtureTests(GatewayWithExecutors f) => _f = f;

        private GatewayFixture G => _f.Gateway;

        public static IEnumerable<object[]> Dialects => new[] { new object[] { GatewayWithExecutors.LegacyId }, new object[] { GatewayWithExecutors.CurrentId } };

        // ---- bridge -------------------------------------------------------------------------------------------

        private static async Task<(string stdout, int? exit)> RunAsync(ExecutorClient client, string script, CancellationToken ct)
        {
            var handle = await client.StartProcessAsync(new ProcessStartSpec { Argv = new[] { "/bin/sh", "-c", script } }, ct);
            var output = new MemoryStream();
            while (true)
            {
                foreach (var chunk in handle.TakeUnread())
                    if (chunk.Stream != OutputStreamKind.Stderr) output.Write(chunk.Data, 0, chunk.Data.Length);
                if (handle.Failure != null) throw handle.Failure;
                if (handle.Closed && !handle.HasUnread) break;
                await client.WaitForOutputAsync(handle, TimeSpan.FromMilliseconds(500), ct);
            }
            return (Encoding.UTF8.GetString(output.ToArray()), handle.ExitCode);
        }

        [Theory]
        [MemberData(nameof(Dialects))]
        public async Task Bridge_runs_a_process_and_reads_its_output(string exeId)
        {
            using var cts = new CancellationTokenSource(Deadline);
            int before = G.BridgeConnections;
            using var client = _f.Client(exeId);
            var (stdout, exit) = await RunAsync(client, "echo bridged-$((6*7)); printf 'second line\\n'; exit 3", cts.Token);
            Assert.Equal("bridged-42\nsecond line\n", stdout);
            Assert.Equal(3, exit);
            Assert.Equal(exeId == GatewayWithExecutors.LegacyId ? "Legacy" : "Current", client.Dialect);
            Assert.True(G.BridgeConnections > before, "the connection did not go through the gateway");
        }

        [Theory]
        [MemberData(nameof(Dialects))]
        public async Task Bridge_relays_multi_megabyte_messages_byte_exact(string exeId)
        {
            using var cts = new CancellationTokenSource(Deadline);
            using var client = _f.Client(exeId);
            await client.EnsureConnectedAsync(cts.Token);
            var data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
            var path = RemotePath.ToWire("/tmp/eb-gw-" + Guid.NewGuid().ToString("N"), client.PathStyle);
            try
            {
                // Client -> server: a 4 MiB text message in 1 MiB fragments; server -> client: one 4 MiB frame.
                await client.InvokeAsync("fs/writeFile", w => { w.WriteStartObject(); w.WriteString("path", path); w.WriteBase64String("dataBase64", data); w.WriteEndObject(); }, cts.Token);
                using var read = await client.CallAsync("fs/readFile", w => { w.WriteStartObject(); w.WriteString("path", path); w.WriteEndObject(); }, cts.Token);
                var back = read.Result.GetProperty("dataBase64").GetBytesFromBase64();
                Assert.Equal(SHA256.HashData(data), SHA256.HashData(back));
                Assert.Equal(data.Length, back.Length);
            }
            finally
            {
                try { await client.InvokeAsync("fs/remove", w => { w.WriteStartObject(); w.WriteString("path", path); w.WriteBoolean("force", true); w.WriteEndObject(); }, CancellationToken.None); } catch { }
            }
        }

        [Fact]
        public async Task Bridge_refuses_a_wrong_or_missing_workspace_token_without_echoing_it()
        {
            using var cts = new CancellationTokenSource(Deadline);
            const string wrong = "wst_this-is-not-the-token-0123456789";
            using (var client = _f.Client(GatewayWithExecutors.CurrentId, wrong))
            {
                var ex = await Assert.ThrowsAsync<AuthenticationFailedException>(() => client.EnsureConnectedAsync(cts.Token));
                Assert.Equal(401, ex.StatusCode);
                Assert.DoesNotContain(wrong, ex.ToString());
                Assert.DoesNotContain(G.WorkspaceToken, ex.ToString());
            }
            using (var anonymous = new ExecutorClient(new ExecutorEndpoint("x", G.BridgeUri(GatewayWithExecutors.CurrentId), null)))
            {
                var ex = await Assert.ThrowsAsync<AuthenticationFailedException>(() => anonymous.EnsureConnectedAsync(cts.Token));
                Assert.Equal(401, ex.StatusCode);
            }
            // The plain-text body of the 401.
            using var req = new HttpRequestMessage(HttpMethod.Get, new Uri(G.BaseUri, "bridge/" + GatewayWithExecutors.CurrentId));
            req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", wrong);
            using var resp = await Http.SendAsync(req, cts.Token);
            Assert.Equal(HttpStatusCode.Unauthorized, resp.StatusCode);
            Assert.StartsWith("text/plain", resp.Content.Headers.ContentType!.ToString());
            Assert.DoesNotContain(wrong, await resp.Content.ReadAsStringAsync(cts.Token));
        }

        [Theory]
        [InlineData("exe-does-not-exist")]
        [InlineData(GatewayWithExecutors.ForeignId)]
        public async Task Bridge_refuses_an_unknown_executor_or_one_of_another_workspace(string exeId)
        {
            using var cts = new CancellationTokenSource(Deadline);
            using var client = _f.Client(exeId);
            var ex = await Assert.ThrowsAsync<ExecBridgeException>(() => client.EnsureConnectedAsync(cts.Token));
            Assert.Equal(ExecBridgeErrorKind.ConnectionRefused, ex.Kind);
            Assert.Contains("404", ex.Message);
            Assert.DoesNotContain(G.WorkspaceToken, ex.ToString());
        }

        [Fact]
        public async Task Bridge_cut_after_n_bytes_is_a_lost_connection_and_the_client_redials()
        {
            using var cts = new CancellationTokenSource(Deadline);
            using var client = _f.Client(GatewayWithExecutors.CurrentId);
            await client.EnsureConnectedAsync(cts.Token);
            int connections = G.BridgeConnections;
            G.DropBridgeAfterBytes = 200_000;
            try
            {
                var path = RemotePath.ToWire("/tmp/eb-gw-" + Guid.NewGuid().ToString("N"), client.PathStyle);
                var big = new byte[1 << 20];
                var ex = await Assert.ThrowsAnyAsync<ExecBridgeException>(() =>
                    client.InvokeAsync("fs/writeFile", w => { w.WriteStartObject(); w.WriteString("path", path); w.WriteBase64String("dataBase64", big); w.WriteEndObject(); }, cts.Token));
                Assert.Contains(ex.Kind, new[] { ExecBridgeErrorKind.ConnectionLost, ExecBridgeErrorKind.Timeout });
            }
            finally
            {
                G.DropBridgeAfterBytes = null;
            }
            var (stdout, _) = await RunAsync(client, "echo again", cts.Token);
            Assert.Equal("again\n", stdout);
            Assert.True(G.BridgeConnections > connections);
        }

        [Fact]
        public async Task Bridge_to_an_executor_that_is_down_is_refused_with_502()
        {
            using var cts = new CancellationTokenSource(Deadline);
            using var client = _f.Client(GatewayWithExecutors.DeadId);
            var ex = await Assert.ThrowsAsync<ExecBridgeException>(() => client.EnsureConnectedAsync(cts.Token));
            Assert.Equal(ExecBridgeErrorKind.ConnectionRefused, ex.Kind);
            Assert.Contains("502", ex.Message);
        }

        [Fact]
        public async Task Bridge_dropped_by_the_gateway_is_redialed_and_the_session_resumed()
        {
            using var cts = new CancellationTokenSource(Deadline);
            using var client = _f.Client(GatewayWithExecutors.LegacyId);
            var handle = await client.StartProcessAsync(new ProcessStartSpec { Argv = new[] { "/bin/sh", "-c", "sleep 1; echo after-drop" } }, cts.Token);
            Assert.True(G.ActiveBridges >= 1);
            G.DropAllBridges();
            var output = new MemoryStream();
            while (!(handle.Closed && !handle.HasUnread))
            {
                foreach (var chunk in handle.TakeUnread()) output.Write(chunk.Data, 0, chunk.Data.Length);
                if (handle.Failure != null) throw handle.Failure;
                await client.WaitForOutputAsync(handle, TimeSpan.FromMilliseconds(500), cts.Token);
            }
            foreach (var chunk in handle.TakeUnread()) output.Write(chunk.Data, 0, chunk.Data.Length);
            Assert.Equal("after-drop\n", Encoding.UTF8.GetString(output.ToArray()));
            Assert.True(client.ReconnectCount >= 1);
        }

        // ---- relay API ------------------------------------------------------------------------------------------

        [Fact]
        public async Task Minting_a_ticket_answers_201_with_urls_under_relay_and_a_masked_ToString()
        {
            using var cts = new CancellationTokenSource(Deadline);
            using var api = _f.RelayApi();
            int minted = G.TicketsMinted;
            var t = await api.CreateTicketAsync(GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId, TimeSpan.FromMinutes(2), 1 << 20, cts.Token);
            try
            {
                Assert.StartsWith("rly_", t.Ticket);
                Assert.True(t.Ticket.Length > 20);
                Assert.Equal(new Uri(G.BaseUri, "relay/" + t.Ticket), t.UploadUri);
                Assert.Equal(t.UploadUri, t.DownloadUri);
                Assert.InRange(t.ExpiresAt, DateTimeOffset.UtcNow.AddSeconds(100), DateTimeOffset.UtcNow.AddSeconds(125));
                Assert.Equal(GatewayWithExecutors.LegacyId, t.SourceExecutorId);
                Assert.Equal(GatewayWithExecutors.CurrentId, t.DestinationExecutorId);
                Assert.Equal(minted + 1, G.TicketsMinted);
                Assert.DoesNotContain(t.Ticket, t.ToString());
                Assert.Contains("rly_", t.ToString());
                Assert.Contains("…", t.MaskedTicket);
                Assert.DoesNotContain(t.Ticket, t.SafeUploadUri);
                Assert.DoesNotContain(G.InternalSecret, api.Settings.ToString());
                Assert.DoesNotContain(G.InternalSecret, api.ToString());
            }
            finally
            {
                G.ExpireTicket(t.Ticket);
            }
        }

        [Fact]
        public async Task Relay_api_errors_map_to_clear_exceptions_without_the_secret()
        {
            using var cts = new CancellationTokenSource(Deadline);
            const string wrongSecret = "igs_wrong-secret-value-123456789";
            using (var api = _f.RelayApi(secret: wrongSecret))
            {
                var ex = await Assert.ThrowsAsync<RelayApiException>(() =>
                    api.CreateTicketAsync(GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId, TimeSpan.FromMinutes(1), 100, cts.Token));
                Assert.Equal(401, ex.StatusCode);
                Assert.Equal(ExecBridgeErrorKind.AuthenticationFailed, ex.Kind);
                Assert.DoesNotContain(wrongSecret, ex.ToString());
                Assert.DoesNotContain(G.InternalSecret, ex.ToString());
            }
            using var good = _f.RelayApi();
            // 403: an executor outside the workspace, or an unknown one.
            foreach (var dest in new[] { GatewayWithExecutors.ForeignId, "exe-nowhere" })
            {
                var ex = await Assert.ThrowsAsync<RelayApiException>(() =>
                    good.CreateTicketAsync(GatewayWithExecutors.LegacyId, dest, TimeSpan.FromMinutes(1), 100, cts.Token));
                Assert.Equal(403, ex.StatusCode);
                Assert.Equal(ExecBridgeErrorKind.AuthenticationFailed, ex.Kind);
                Assert.Contains("workspace", ex.Message);
                Assert.DoesNotContain(G.InternalSecret, ex.ToString());
            }
            // 503 when relay is off.
            G.RelayEnabled = false;
            try
            {
                var ex = await Assert.ThrowsAsync<RelayApiException>(() =>
                    good.CreateTicketAsync(GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId, TimeSpan.FromMinutes(1), 100, cts.Token));
                Assert.Equal(503, ex.StatusCode);
                Assert.True(ex.IsNotConfigured);
                Assert.Equal(ExecBridgeErrorKind.RelayFailed, ex.Kind);
                Assert.Contains("not configured", ex.Message);
            }
            finally
            {
                G.RelayEnabled = true;
            }
            // Nobody listening.
            using (var dead = new RelayApiClient(new RelaySettings(new Uri($"http://127.0.0.1:{ExecServer.FreePort()}"), G.WorkspaceId, G.InternalSecret)))
            {
                var ex = await Assert.ThrowsAsync<RelayApiException>(() =>
                    dead.CreateTicketAsync("a", "b", TimeSpan.FromMinutes(1), 100, cts.Token));
                Assert.Null(ex.StatusCode);
                Assert.Equal(ExecBridgeErrorKind.RelayFailed, ex.Kind);
                Assert.DoesNotContain(G.InternalSecret, ex.ToString());
            }
        }

        [Fact]
        public async Task Relay_api_bad_body_is_400_from_the_gateway()
        {
            using var cts = new CancellationTokenSource(Deadline);
            foreach (var body in new[] { "{not json", "{\"workspace_id\":\"" + G.WorkspaceId + "\"}", "{\"workspace_id\":\"" + G.WorkspaceId + "\",\"source_exe_id\":\"exe-legacy\",\"dest_exe_id\":\"exe-current\",\"ttl_seconds\":\"ten\",\"max_bytes\":5}" })
            {
                using var req = new HttpRequestMessage(HttpMethod.Post, new Uri(G.InternalBaseUri, RelayApiClient.CreatePath))
                {
                    Content = new StringContent(body, Encoding.UTF8, "application/json"),
                };
                req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", G.InternalSecret);
                using var resp = await Http.SendAsync(req, cts.Token);
                Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
            }
        }

        /// <summary>Statuses the fixture cannot be made to produce through a valid client call (400, 500, 502, odd bodies).</summary>
        [Theory]
        [InlineData(400, ExecBridgeErrorKind.RelayFailed, "malformed")]
        [InlineData(429, ExecBridgeErrorKind.RelayFailed, "maximum number of active relays")]
        [InlineData(500, ExecBridgeErrorKind.RelayFailed, "HTTP 500")]
        [InlineData(502, ExecBridgeErrorKind.RelayFailed, "HTTP 502")]
        [InlineData(403, ExecBridgeErrorKind.AuthenticationFailed, "HTTP 403")]
        public async Task Relay_api_status_mapping_scrubs_a_secret_or_ticket_echoed_by_the_server(int status, ExecBridgeErrorKind kind, string expected)
        {
            const string secret = "igs_the-internal-secret-xyz";
            var handler = new StubHandler((HttpStatusCode)status,
                "{\"error\":\"bad things with " + secret + " and rly_ABCDEFGHIJKLMNOPQRSTUVWXYZ in them\"}");
            using var api = new RelayApiClient(new RelaySettings(new Uri("http://gateway.invalid/internal"), "ws-1", secret), handler);
            var ex = await Assert.ThrowsAsync<RelayApiException>(() => api.CreateTicketAsync("a", "b", TimeSpan.FromSeconds(30), 10, CancellationToken.None));
            Assert.Equal(status, ex.StatusCode);
            Assert.Equal(kind, ex.Kind);
            Assert.Contains(expected, ex.Message);
            Assert.DoesNotContain(secret, ex.ToString());
            Assert.DoesNotContain("rly_ABCDEFGHIJKLMNOPQRSTUVWXYZ", ex.ToString());
            Assert.Equal("http://gateway.invalid/internal/api/exec-gateway/relay/create", handler.LastUri!.AbsoluteUri);
            Assert.Equal("Bearer " + secret, handler.LastAuthorization);
        }

        [Fact]
        public async Task Relay_settings_from_environment_and_securestring_keep_the_secret_private()
        {
            var name = "EB_TEST_RELAY_SECRET_" + Guid.NewGuid().ToString("N");
            var missing = Assert.Throws<ExecBridgeException>(() => RelaySettings.FromEnvironment(G.InternalBaseUri, G.WorkspaceId, name));
            Assert.Contains(name, missing.Message);
            Environment.SetEnvironmentVariable(name, G.InternalSecret);
            try
            {
                var s = RelaySettings.FromEnvironment(G.InternalBaseUri, G.WorkspaceId, name);
                Assert.DoesNotContain(G.InternalSecret, s.ToString());
                Assert.Null(typeof(RelaySettings).GetProperty("Secret")); // not public
                using var secure = new System.Security.SecureString();
                foreach (var c in G.InternalSecret) secure.AppendChar(c);
                using var api = new RelayApiClient(new RelaySettings(G.InternalBaseUri, G.WorkspaceId, secure));
                var t = await api.CreateTicketAsync(GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId, TimeSpan.FromSeconds(30), 10, CancellationToken.None);
                G.ExpireTicket(t.Ticket);
            }
            finally
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }

        // ---- /relay/{ticket} ---------------------------------------------------------------------------------

        private async Task<RelayTicketInfo> MintAsync(long maxBytes = 64L << 20, int ttlSeconds = 60)
        {
            using var api = _f.RelayApi();
            return await api.CreateTicketAsync(GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId, TimeSpan.FromSeconds(ttlSeconds), maxBytes, CancellationToken.None);
        }

        private static HttpRequestMessage Put(RelayTicketInfo t, byte[] body, string? bearer = null)
        {
            var req = new HttpRequestMessage(HttpMethod.Put, t.UploadUri) { Content = new ByteArrayContent(body) };
            req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer ?? t.Ticket);
            return req;
        }

        private static HttpRequestMessage Get(RelayTicketInfo t, string? bearer = null)
        {
            var req = new HttpRequestMessage(HttpMethod.Get, t.DownloadUri);
            req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer ?? t.Ticket);
            return req;
        }

        /// <summary>Reads a download; returns the bytes received and whether the stream ended cleanly.</summary>
        private static async Task<(HttpStatusCode status, byte[] data, bool complete)> DownloadAsync(RelayTicketInfo t, CancellationToken ct)
        {
            using var req = Get(t);
            using var resp = await Http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct);
            var ms = new MemoryStream();
            bool complete = true;
            try
            {
                await (await resp.Content.ReadAsStreamAsync(ct)).CopyToAsync(ms, ct);
            }
            catch (Exception ex) when (ex is IOException || ex is HttpRequestException)
            {
                complete = false;
            }
            return (resp.StatusCode, ms.ToArray(), complete);
        }

        [Fact]
        public async Task Relay_streams_one_MiB_plus_one_byte_exact_and_the_ticket_is_then_finished()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var t = await MintAsync();
            var data = RandomNumberGenerator.GetBytes((1 << 20) + 1);
            // The downloader arrives first and waits for the uploader.
            var download = DownloadAsync(t, cts.Token);
            await Task.Delay(200);
            Assert.False(download.IsCompleted);
            using var put = Put(t, data);
            using var putResp = await Http.SendAsync(put, cts.Token);
            Assert.Equal(HttpStatusCode.OK, putResp.StatusCode);
            using (var doc = JsonDocument.Parse(await putResp.Content.ReadAsStringAsync(cts.Token)))
            {
                Assert.Equal(data.Length, doc.RootElement.GetProperty("bytes").GetInt64());
                Assert.Equal("ok", doc.RootElement.GetProperty("status").GetString());
            }
            var (status, got, complete) = await download;
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.True(complete);
            Assert.Equal(data.Length, got.Length);
            Assert.True(data.AsSpan().SequenceEqual(got));

            // Single use: both ends are now 410.
            using var again = await Http.SendAsync(Get(t), cts.Token);
            Assert.Equal(HttpStatusCode.Gone, again.StatusCode);
            using var againPut = await Http.SendAsync(Put(t, new byte[1]), cts.Token);
            Assert.Equal(HttpStatusCode.Gone, againPut.StatusCode);
        }

        [Fact]
        public async Task Relay_streams_128_MiB_with_bounded_memory()
        {
            using var cts = new CancellationTokenSource(Deadline);
            const long size = 128L << 20;
            var t = await MintAsync(maxBytes: size);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var download = Task.Run(async () =>
            {
                using var resp = await Http.SendAsync(Get(t), HttpCompletionOption.ResponseHeadersRead, cts.Token);
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var stream = await resp.Content.ReadAsStreamAsync(cts.Token);
                var buf = new byte[81920];
                long total = 0;
                int n;
                while ((n = await stream.ReadAsync(buf, cts.Token)) > 0) { hash.AppendData(buf, 0, n); total += n; }
                return (total, hash.GetHashAndReset());
            });
            using var put = new HttpRequestMessage(HttpMethod.Put, t.UploadUri) { Content = new StreamContent(new PatternStream(size)) };
            put.Headers.Authorization = new AuthenticationHeaderValue("Bearer", t.Ticket);
            using var putResp = await Http.SendAsync(put, cts.Token);
            Assert.Equal(HttpStatusCode.OK, putResp.StatusCode);
            var (got, digest) = await download;
            Assert.Equal(size, got);
            using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var p = new PatternStream(size);
            var b = new byte[81920];
            int r;
            while ((r = p.Read(b, 0, b.Length)) > 0) expected.AppendData(b, 0, r);
            Assert.Equal(expected.GetHashAndReset(), digest);
            Console.WriteLine($"128 MiB relay: {sw.ElapsedMilliseconds} ms");
        }

        private sealed class PatternStream : Stream
        {
            private readonly long _length;
            private long _pos;
            public PatternStream(long length) => _length = length;
            public override int Read(byte[] buffer, int offset, int count)
            {
                int n = (int)Math.Min(count, _length - _pos);
                for (int i = 0; i < n; i++) buffer[offset + i] = (byte)((_pos + i) * 31 % 251);
                _pos += n;
                return n;
            }
            public override bool CanRead => true;
            public override bool CanSeek => false;
            public override bool CanWrite => false;
            public override long Length => _length;
            public override long Position { get => _pos; set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        }

        [Fact]
        public async Task Relay_uploader_first_also_pairs_and_an_empty_body_is_zero_bytes()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var t = await MintAsync();
            var put = Http.SendAsync(Put(t, Array.Empty<byte>()), cts.Token);
            await Task.Delay(200);
            Assert.False(put.IsCompleted);
            var (status, got, complete) = await DownloadAsync(t, cts.Token);
            using var putResp = await put;
            Assert.Equal(HttpStatusCode.OK, putResp.StatusCode);
            Assert.Contains("\"bytes\":0", await putResp.Content.ReadAsStringAsync(cts.Token));
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.True(complete);
            Assert.Empty(got);
        }

        [Fact]
        public async Task Relay_second_get_or_put_is_423_and_a_wrong_bearer_is_401()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var t = await MintAsync();
            var first = DownloadAsync(t, cts.Token);
            await Task.Delay(200);
            using (var second = await Http.SendAsync(Get(t), cts.Token))
                Assert.Equal((HttpStatusCode)423, second.StatusCode);
            using (var wrong = await Http.SendAsync(Put(t, new byte[3], bearer: "rly_not-this-one"), cts.Token))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
                Assert.DoesNotContain(t.Ticket, await wrong.Content.ReadAsStringAsync(cts.Token));
            }
            var payload = Encoding.ASCII.GetBytes("abc");
            var put = Http.SendAsync(Put(t, payload), cts.Token);
            using (var putResp = await put) Assert.Equal(HttpStatusCode.OK, putResp.StatusCode);
            var (_, got, _) = await first;
            Assert.Equal(payload, got);
            // After completion a second PUT is 410 (finished); while streaming it would have been 423.
            var t2 = await MintAsync();
            var waitingPut = Http.SendAsync(Put(t2, payload), cts.Token);
            await Task.Delay(200);
            using (var secondPut = await Http.SendAsync(Put(t2, payload), cts.Token))
                Assert.Equal((HttpStatusCode)423, secondPut.StatusCode);
            var (_, got2, _) = await DownloadAsync(t2, cts.Token);
            Assert.Equal(payload, got2);
            using (var r = await waitingPut) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }

        [Fact]
        public async Task Relay_expired_ticket_is_410_and_a_ttl_running_out_while_waiting_is_408()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var t = await MintAsync();
            Assert.True(G.ExpireTicket(t.Ticket));
            using (var put = await Http.SendAsync(Put(t, new byte[10]), cts.Token)) Assert.Equal(HttpStatusCode.Gone, put.StatusCode);
            using (var get = await Http.SendAsync(Get(t), cts.Token)) Assert.Equal(HttpStatusCode.Gone, get.StatusCode);

            var unknown = new RelayTicketInfo("rly_unknown0000000000000", new Uri(G.BaseUri, "relay/rly_unknown0000000000000"),
                new Uri(G.BaseUri, "relay/rly_unknown0000000000000"), DateTimeOffset.UtcNow, "a", "b", 1);
            using (var get = await Http.SendAsync(Get(unknown), cts.Token)) Assert.Equal(HttpStatusCode.Gone, get.StatusCode);

            var shortLived = await MintAsync(ttlSeconds: 1);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            using (var lonely = await Http.SendAsync(Get(shortLived), cts.Token))
                Assert.Equal(HttpStatusCode.RequestTimeout, lonely.StatusCode);
            Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5));
            using (var late = await Http.SendAsync(Put(shortLived, new byte[1]), cts.Token))
                Assert.Equal(HttpStatusCode.Gone, late.StatusCode);

            // Expiring early wakes a waiting side with 408.
            var t3 = await MintAsync();
            var waiting = Http.SendAsync(Put(t3, new byte[5]), cts.Token);
            await Task.Delay(200);
            G.ExpireTicket(t3.Ticket);
            using (var r = await waiting) Assert.Equal(HttpStatusCode.RequestTimeout, r.StatusCode);
        }

        [Fact]
        public async Task Relay_over_max_bytes_fails_the_put_with_500_and_the_receiver_sees_fewer_bytes()
        {
            using var cts = new CancellationTokenSource(Deadline);
            const long max = 100_000;
            var t = await MintAsync(maxBytes: max);
            var data = RandomNumberGenerator.GetBytes(300_000);
            var download = DownloadAsync(t, cts.Token);
            await Task.Delay(100);
            using var put = await Http.SendAsync(Put(t, data), cts.Token);
            Assert.Equal(HttpStatusCode.InternalServerError, put.StatusCode);
            var (status, got, complete) = await download;
            Assert.Equal(HttpStatusCode.OK, status); // headers were already sent when the stream began
            Assert.False(complete);
            Assert.True(got.Length <= max, $"received {got.Length}");
            Assert.True(data.AsSpan(0, got.Length).SequenceEqual(got));
        }

        [Fact]
        public async Task Relay_dropped_mid_stream_cuts_both_sides()
        {
            using var cts = new CancellationTokenSource(Deadline);
            var t = await MintAsync();
            var data = RandomNumberGenerator.GetBytes(2 << 20);
            G.DropRelayAfterBytes = 500_000;
            try
            {
                var download = DownloadAsync(t, cts.Token);
                await Task.Delay(100);
                bool putFailed;
                try
                {
                    using var put = await Http.SendAsync(Put(t, data), cts.Token);
                    putFailed = put.StatusCode != HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    putFailed = true;
                }
                Assert.True(putFailed);
                var (_, got, complete) = await download;
                Assert.False(complete);
                Assert.True(got.Length < data.Length);
            }
            finally
            {
                G.DropRelayAfterBytes = null;
            }
        }

        [Fact]
        public async Task Relay_seventeenth_active_relay_in_a_workspace_is_429()
        {
            using var cts = new CancellationTokenSource(Deadline);
            G.ExpireAllTickets(); // tickets left by other tests do not count
            Assert.Equal(0, G.ActiveRelays);
            var tickets = new List<RelayTicketInfo>();
            using var api = _f.RelayApi();
            try
            {
                var mints = Enumerable.Range(0, 16).Select(_ => api.CreateTicketAsync(GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId, TimeSpan.FromMinutes(1), 100, cts.Token));
                tickets.AddRange(await Task.WhenAll(mints));
                Assert.Equal(16, tickets.Select(x => x.Ticket).Distinct().Count());
                Assert.Equal(16, G.ActiveRelays);
                var ex = await Assert.ThrowsAsync<RelayApiException>(() =>
                    api.CreateTicketAsync(GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId, TimeSpan.FromMinutes(1), 100, cts.Token));
                Assert.Equal(429, ex.StatusCode);
                Assert.True(ex.IsCapacityExceeded);

                // Finishing one relay frees a slot.
                var done = tickets[0];
                var dl = DownloadAsync(done, cts.Token);
                using (var put = await Http.SendAsync(Put(done, new byte[7]), cts.Token)) Assert.Equal(HttpStatusCode.OK, put.StatusCode);
                await dl;
                Assert.Equal(15, G.ActiveRelays);
                tickets.Add(await api.CreateTicketAsync(GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId, TimeSpan.FromMinutes(1), 100, cts.Token));
            }
            finally
            {
                foreach (var t in tickets) G.ExpireTicket(t.Ticket);
            }
        }

        // ---- curl through a real executor -------------------------------------------------------------------

        [Theory]
        [MemberData(nameof(Dialects))]
        public async Task Curl_config_on_stdin_uploads_and_downloads_through_the_relay_without_the_ticket_on_the_command_line(string exeId)
        {
            using var cts = new CancellationTokenSource(Deadline);
            using var client = _f.Client(exeId);
            await client.EnsureConnectedAsync(cts.Token);
            var dir = Path.Combine(Path.GetTempPath(), "eb-gw-curl-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            try
            {
                var source = Path.Combine(dir, "odd \"name\" \\ with\ttab");
                var dest = Path.Combine(dir, "dest.partial");
                var data = RandomNumberGenerator.GetBytes((1 << 20) + 1);
                await File.WriteAllBytesAsync(source, data, cts.Token);

                var t = await MintAsync();
                var upload = RunCurlAsync(client, t, RelayDirection.Upload, source, cts.Token);
                var download = RunCurlAsync(client, t, RelayDirection.Download, dest, cts.Token);
                var (upExit, upOut, upArgv) = await upload;
                var (downExit, downOut, downArgv) = await download;
                Assert.Equal(0, upExit);
                Assert.Equal(0, downExit);
                var upReport = RelayCurl.ParseReport(upOut);
                var downReport = RelayCurl.ParseReport(downOut);
                Assert.NotNull(upReport);
                Assert.NotNull(downReport);
                Assert.Equal(200, upReport!.HttpCode);
                Assert.Equal(data.Length, upReport.BytesUploaded);
                Assert.Equal(data.Length, downReport!.BytesDownloaded);
                Assert.Equal(SHA256.HashData(data), SHA256.HashData(await File.ReadAllBytesAsync(dest, cts.Token)));
                foreach (var argv in new[] { upArgv, downArgv })
                {
                    Assert.DoesNotContain(t.Ticket, string.Join(" ", argv));
                    Assert.DoesNotContain("/relay/", string.Join(" ", argv));
                }
                Assert.DoesNotContain(t.Ticket, upOut + downOut);
            }
            finally
            {
                try { Directory.Delete(dir, true); } catch { }
            }
        }

        private static async Task<(int? exit, string stdout, IList<string> argv)> RunCurlAsync(ExecutorClient client, RelayTicketInfo t,
            RelayDirection direction, string path, CancellationToken ct)
        {
            var config = RelayCurl.BuildConfigBytes(t, direction, path, TimeSpan.FromSeconds(30));
            var argv = RelayCurl.StdinArgv(config.Length);
            var handle = await client.StartProcessAsync(new ProcessStartSpec { Argv = argv, PipeStdin = true }, ct);
            await client.WriteInputAsync(handle, new ArraySegment<byte>(config), ct);
            var output = new MemoryStream();
            while (true)
            {
                foreach (var chunk in handle.TakeUnread()) output.Write(chunk.Data, 0, chunk.Data.Length);
                if (handle.Failure != null) throw handle.Failure;
                if (handle.Closed && !handle.HasUnread) break;
                await client.WaitForOutputAsync(handle, TimeSpan.FromMilliseconds(500), ct);
            }
            return (handle.ExitCode, Encoding.UTF8.GetString(output.ToArray()), argv);
        }

        private sealed class StubHandler : HttpMessageHandler
        {
            private readonly HttpStatusCode _status;
            private readonly string _body;

            public StubHandler(HttpStatusCode status, string body)
            {
                _status = status;
                _body = body;
            }

            public Uri? LastUri { get; private set; }
            public string? LastAuthorization { get; private set; }

            protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                LastUri = request.RequestUri;
                LastAuthorization = request.Headers.Authorization?.ToString();
                return Task.FromResult(new HttpResponseMessage(_status)
                {
                    Content = new StringContent(_body, Encoding.UTF8, "application/json"),
                    RequestMessage = request,
                });
            }
        }
    }
}
