using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ExecBridge.Tests.Gateway
{
    /// <summary>
    /// A loopback Kestrel server implementing the agentserver gateway contract (issue 4) in front of real
    /// exec-servers: the /bridge WebSocket relay, the internal relay-ticket API and the public /relay endpoints,
    /// with switches for faults. Test infrastructure only.
    /// </summary>
    public sealed class GatewayFixture : IAsyncDisposable, IDisposable
    {
        public const int DefaultMaxActiveRelays = 16;

        private readonly ConcurrentDictionary<string, ExecutorRegistration> _executors =
            new ConcurrentDictionary<string, ExecutorRegistration>(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, string> _workspaceTokens =
            new ConcurrentDictionary<string, string>(StringComparer.Ordinal); // token -> workspace id
        private readonly ConcurrentDictionary<string, RelayTicketState> _tickets =
            new ConcurrentDictionary<string, RelayTicketState>(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<long, BridgeSession> _bridges = new ConcurrentDictionary<long, BridgeSession>();
        private readonly object _mintLock = new object();
        private WebApplication? _app;
        private long _bridgeIds;
        private int _ticketsMinted;
        private int _bridgeConnections;
        private long _bridgedBytes;

        public GatewayFixture()
        {
            WorkspaceId = "ws-" + RandomToken(6);
            WorkspaceToken = "wst_" + RandomToken(24);
            InternalSecret = "igs_" + RandomToken(24);
            _workspaceTokens[WorkspaceToken] = WorkspaceId;
        }

        // ---- identity -------------------------------------------------------------------------------------

        public string WorkspaceId { get; }
        public string WorkspaceToken { get; }
        public string InternalSecret { get; }

        /// <summary>http://127.0.0.1:port — public and internal base at once.</summary>
        public Uri BaseUri { get; private set; } = new Uri("http://127.0.0.1:0");

        /// <summary>Same server; named for readability where the internal API is meant.</summary>
        public Uri InternalBaseUri => BaseUri;

        /// <summary>ws://127.0.0.1:port/bridge (no trailing slash); executors are dialed at BridgeBaseUri + "/" + id.</summary>
        public Uri BridgeBaseUri { get; private set; } = new Uri("ws://127.0.0.1:0/bridge");

        public Uri BridgeUri(string executorId) => new Uri(BridgeBaseUri + "/" + Uri.EscapeDataString(executorId));

        // ---- switches ---------------------------------------------------------------------------------------

        /// <summary>When false the relay API answers 503 (relay not configured).</summary>
        public bool RelayEnabled { get; set; } = true;

        /// <summary>Cut each bridged WebSocket (both sides, no close frame) once this many payload bytes crossed it (both directions).</summary>
        public long? DropBridgeAfterBytes { get; set; }

        /// <summary>Cut a relay stream (PUT fails with 500 and the GET is aborted) once this many bytes were streamed.</summary>
        public long? DropRelayAfterBytes { get; set; }

        /// <summary>Slow each relay chunk down (lets tests catch a copy in flight).</summary>
        public TimeSpan RelayChunkDelay { get; set; } = TimeSpan.Zero;

        /// <summary>Flip the bits of the relayed byte at this offset, the length staying right: a faulty middlebox.</summary>
        public long? CorruptRelayByteAt { get; set; }

        public int MaxActiveRelays { get; set; } = DefaultMaxActiveRelays;

        // ---- counters ---------------------------------------------------------------------------------------

        /// <summary>Minted tickets that are neither finished nor expired.</summary>
        public int ActiveRelays => _tickets.Values.Count(t => t.IsActive);
        public int TicketsMinted => Volatile.Read(ref _ticketsMinted);
        /// <summary>Bridged WebSocket connections accepted so far.</summary>
        public int BridgeConnections => Volatile.Read(ref _bridgeConnections);
        public int ActiveBridges => _bridges.Count;
        public long BridgedBytes => Interlocked.Read(ref _bridgedBytes);
        /// <summary>Tickets whose stream completed with 200.</summary>
        public int RelaysCompleted => _tickets.Values.Count(t => t.Outcome == "ok");
        public IReadOnlyCollection<string> MintedTickets => _tickets.Keys.ToArray();

        // ---- registration -----------------------------------------------------------------------------------

        /// <summary>Makes an executor reachable at /bridge/{executorId}; in the fixture's workspace unless another is given.</summary>
        public void RegisterExecutor(string executorId, Uri execServerUri, string? workspaceId = null, string? execServerToken = null)
            => _executors[executorId] = new ExecutorRegistration(execServerUri, workspaceId ?? WorkspaceId, execServerToken);

        public bool UnregisterExecutor(string executorId) => _executors.TryRemove(executorId, out _);

        /// <summary>Adds another workspace with its own token (for cross-workspace refusal tests).</summary>
        public void AddWorkspace(string workspaceId, string token) => _workspaceTokens[token] = workspaceId;

        /// <summary>Expires a ticket now: later requests get 410 and sides still waiting get 408.</summary>
        public bool ExpireTicket(string ticket)
        {
            if (!_tickets.TryGetValue(ticket, out var t)) return false;
            t.Expire();
            return true;
        }

        public void ExpireAllTickets()
        {
            foreach (var t in _tickets.Values) t.Expire();
        }

        /// <summary>Cuts every live bridged connection at once.</summary>
        public void DropAllBridges()
        {
            foreach (var b in _bridges.Values) b.Abort();
        }

        // ---- lifetime ---------------------------------------------------------------------------------------

        public static async Task<GatewayFixture> StartNewAsync()
        {
            var f = new GatewayFixture();
            await f.StartAsync();
            return f;
        }

        public async Task StartAsync()
        {
            if (_app != null) throw new InvalidOperationException("The gateway is already started.");
            // Polling instead of an inotify watcher for the (absent) config files: the user's 128 inotify instances are
            // shared by everything on the machine, and when they run out the fixture would not start.
            System.Environment.SetEnvironmentVariable("DOTNET_USE_POLLING_FILE_WATCHER", "true");
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(GatewayFixture).Assembly.GetName().Name });
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(o =>
            {
                o.Listen(IPAddress.Loopback, 0);
                o.Limits.MaxRequestBodySize = null;
                o.Limits.MinRequestBodyDataRate = null;
                o.Limits.MinResponseDataRate = null;
                o.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(5);
                o.Limits.RequestHeadersTimeout = TimeSpan.FromMinutes(5);
            });
            var app = builder.Build();
            app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
            app.Map("/bridge/{exeId}", new RequestDelegate(ctx => HandleBridgeAsync(ctx, Route(ctx, "exeId"))));
            app.MapPost("/api/exec-gateway/relay/create", new RequestDelegate(HandleCreateAsync));
            app.MapPut("/relay/{ticket}", new RequestDelegate(ctx => HandleRelayAsync(ctx, Route(ctx, "ticket"), upload: true)));
            app.MapGet("/relay/{ticket}", new RequestDelegate(ctx => HandleRelayAsync(ctx, Route(ctx, "ticket"), upload: false)));
            await app.StartAsync();
            _app = app;
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            int port = new Uri(address).Port;
            BaseUri = new Uri($"http://127.0.0.1:{port}");
            BridgeBaseUri = new Uri($"ws://127.0.0.1:{port}/bridge");
        }

        public async ValueTask DisposeAsync()
        {
            DropAllBridges();
            foreach (var t in _tickets.Values) t.Expire();
            var app = _app;
            _app = null;
            if (app != null)
            {
                try { await app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(3)).Token); } catch { }
                await app.DisposeAsync();
            }
        }

        public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

        // ---- /bridge ----------------------------------------------------------------------------------------

        private async Task HandleBridgeAsync(HttpContext ctx, string exeId)
        {
            var workspace = AuthenticateWorkspace(ctx.Request);
            if (workspace == null)
            {
                await PlainAsync(ctx, 401, ctx.Request.Headers.Authorization.Count == 0 ? "missing bearer token" : "invalid bearer token");
                return;
            }
            if (!_executors.TryGetValue(exeId, out var exe) || exe.WorkspaceId != workspace)
            {
                await PlainAsync(ctx, 404, "unknown executor");
                return;
            }
            if (!ctx.WebSockets.IsWebSocketRequest)
            {
                await PlainAsync(ctx, 400, "websocket upgrade required");
                return;
            }

            var upstream = new ClientWebSocket();
            // ClientWebSocket offers permessage-deflate only when DangerousDeflateOptions is set; it never is here.
            if (exe.ExecServerToken != null) upstream.Options.SetRequestHeader("Authorization", "Bearer " + exe.ExecServerToken);
            try
            {
                using var connectCts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await upstream.ConnectAsync(exe.Uri, connectCts.Token);
            }
            catch (Exception ex)
            {
                upstream.Dispose();
                await PlainAsync(ctx, 502, "executor unreachable: " + ex.GetType().Name);
                return;
            }

            using var downstream = await ctx.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { DangerousEnableCompression = false });
            Interlocked.Increment(ref _bridgeConnections);
            long id = Interlocked.Increment(ref _bridgeIds);
            var session = new BridgeSession(this, ctx, downstream, upstream);
            _bridges[id] = session;
            try
            {
                await session.RunAsync();
            }
            finally
            {
                _bridges.TryRemove(id, out _);
                upstream.Dispose();
            }
        }

        private sealed class BridgeSession
        {
            private readonly GatewayFixture _owner;
            private readonly HttpContext _ctx;
            private readonly WebSocket _down;
            private readonly WebSocket _up;
            private readonly CancellationTokenSource _cts = new CancellationTokenSource();
            private long _bytes;
            private int _aborted;

            public BridgeSession(GatewayFixture owner, HttpContext ctx, WebSocket down, WebSocket up)
            {
                _owner = owner;
                _ctx = ctx;
                _down = down;
                _up = up;
            }

            public async Task RunAsync()
            {
                var toUp = PumpAsync(_down, _up);
                var toDown = PumpAsync(_up, _down);
                var first = await Task.WhenAny(toUp, toDown);
                // The exec-server never answers a close frame (notes §1.2): give the other direction a moment, then cut.
                await Task.WhenAny(Task.WhenAll(toUp, toDown), Task.Delay(1000));
                Abort();
                try { await Task.WhenAll(toUp, toDown); } catch { }
            }

            private async Task PumpAsync(WebSocket from, WebSocket to)
            {
                var buffer = new byte[64 * 1024];
                try
                {
                    while (!_cts.IsCancellationRequested)
                    {
                        var r = await from.ReceiveAsync(new ArraySegment<byte>(buffer), _cts.Token);
                        if (r.MessageType == WebSocketMessageType.Close)
                        {
                            var status = from.CloseStatus ?? WebSocketCloseStatus.NormalClosure;
                            try
                            {
                                using var t = new CancellationTokenSource(1000);
                                await to.CloseOutputAsync(status, from.CloseStatusDescription, t.Token);
                            }
                            catch { }
                            // Complete the handshake on the side that closed first.
                            if (from.State == WebSocketState.CloseReceived)
                            {
                                try
                                {
                                    using var t = new CancellationTokenSource(1000);
                                    await from.CloseOutputAsync(status, from.CloseStatusDescription, t.Token);
                                }
                                catch { }
                            }
                            return;
                        }
                        await to.SendAsync(new ArraySegment<byte>(buffer, 0, r.Count), r.MessageType, r.EndOfMessage, _cts.Token);
                        Interlocked.Add(ref _owner._bridgedBytes, r.Count);
                        long total = Interlocked.Add(ref _bytes, r.Count);
                        var limit = _owner.DropBridgeAfterBytes;
                        if (limit.HasValue && total >= limit.Value)
                        {
                            Abort();
                            return;
                        }
                    }
                }
                catch (Exception) when (_cts.IsCancellationRequested || from.State != WebSocketState.Open || to.State != WebSocketState.Open)
                {
                }
                catch (WebSocketException)
                {
                }
                finally
                {
                    // One direction gone means the bridge is done: stop the other one too.
                    if (!_cts.IsCancellationRequested) _cts.CancelAfter(1000);
                }
            }

            public void Abort()
            {
                if (Interlocked.Exchange(ref _aborted, 1) != 0) return;
                try { _cts.Cancel(); } catch { }
                try { _up.Abort(); } catch { }
                try { _down.Abort(); } catch { }
                try { _ctx.Abort(); } catch { }
            }
        }

        private string? AuthenticateWorkspace(HttpRequest request)
        {
            var token = BearerOf(request);
            return token != null && _workspaceTokens.TryGetValue(token, out var ws) ? ws : null;
        }

        private static string? BearerOf(HttpRequest request)
        {
            var header = request.Headers.Authorization.ToString();
            const string scheme = "Bearer ";
            if (header.Length <= scheme.Length || !header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
            return header.Substring(scheme.Length).Trim();
        }

        private static bool FixedTimeEquals(string? a, string b)
        {
            if (a == null) return false;
            var x = Encoding.UTF8.GetBytes(a);
            var y = Encoding.UTF8.GetBytes(b);
            return x.Length == y.Length && CryptographicOperations.FixedTimeEquals(x, y);
        }

        // ---- relay API ---------------------------------------------------------------------------------------

        private async Task HandleCreateAsync(HttpContext ctx)
        {
            if (!RelayEnabled)
            {
                await JsonErrorAsync(ctx, 503, "relay is not configured");
                return;
            }
            if (!FixedTimeEquals(BearerOf(ctx.Request), InternalSecret))
            {
                await JsonErrorAsync(ctx, 401, "invalid internal secret");
                return;
            }

            string? workspace, source, dest;
            long ttlSeconds, maxBytes;
            try
            {
                using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
                var root = doc.RootElement;
                workspace = Str(root, "workspace_id");
                source = Str(root, "source_exe_id");
                dest = Str(root, "dest_exe_id");
                ttlSeconds = Num(root, "ttl_seconds");
                maxBytes = Num(root, "max_bytes");
            }
            catch (Exception ex) when (ex is JsonException || ex is InvalidOperationException || ex is FormatException)
            {
                await JsonErrorAsync(ctx, 400, "invalid request body: " + ex.Message);
                return;
            }
            if (string.IsNullOrEmpty(workspace) || string.IsNullOrEmpty(source) || string.IsNullOrEmpty(dest) || ttlSeconds <= 0 || maxBytes <= 0)
            {
                await JsonErrorAsync(ctx, 400, "workspace_id, source_exe_id, dest_exe_id, ttl_seconds > 0 and max_bytes > 0 are required");
                return;
            }
            if (!InWorkspace(source, workspace) || !InWorkspace(dest, workspace))
            {
                await JsonErrorAsync(ctx, 403, "executor is not in the workspace");
                return;
            }

            RelayTicketState state;
            lock (_mintLock)
            {
                int active = _tickets.Values.Count(t => t.WorkspaceId == workspace && t.IsActive);
                if (active >= MaxActiveRelays)
                {
                    state = null!;
                }
                else
                {
                    var ticket = "rly_" + RandomToken(24);
                    state = new RelayTicketState(ticket, workspace, source, dest, maxBytes, TimeSpan.FromSeconds(ttlSeconds));
                    _tickets[ticket] = state;
                    Interlocked.Increment(ref _ticketsMinted);
                }
            }
            if (state == null)
            {
                await JsonErrorAsync(ctx, 429, $"too many active relays in the workspace (max {MaxActiveRelays})");
                return;
            }

            var url = BaseUri + "relay/" + state.Ticket;
            ctx.Response.StatusCode = 201;
            ctx.Response.ContentType = "application/json";
            await WriteJsonAsync(ctx, w =>
            {
                w.WriteString("ticket", state.Ticket);
                w.WriteString("upload_url", url);
                w.WriteString("download_url", url);
                w.WriteString("expires_at", state.ExpiresAt.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"));
            });
        }

        private bool InWorkspace(string exeId, string workspace) => _executors.TryGetValue(exeId, out var e) && e.WorkspaceId == workspace;

        private static string? Str(JsonElement root, string name)
        {
            if (!root.TryGetProperty(name, out var v)) return null;
            if (v.ValueKind != JsonValueKind.String) throw new FormatException($"{name} must be a string");
            return v.GetString();
        }

        private static long Num(JsonElement root, string name)
        {
            if (!root.TryGetProperty(name, out var v)) return 0;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n)) throw new FormatException($"{name} must be an integer");
            return n;
        }

        // ---- /relay/{ticket} ------------------------------------------------------------------------------------

        private async Task HandleRelayAsync(HttpContext ctx, string ticket, bool upload)
        {
            if (!FixedTimeEquals(BearerOf(ctx.Request), ticket))
            {
                await JsonErrorAsync(ctx, 401, "ticket does not match");
                return;
            }
            if (!_tickets.TryGetValue(ticket, out var state) || !state.IsActive)
            {
                await JsonErrorAsync(ctx, 410, "ticket unknown, expired or finished");
                return;
            }
            if (!state.TryClaim(upload))
            {
                await JsonErrorAsync(ctx, 423, upload ? "ticket already has an uploader" : "ticket already has a downloader");
                return;
            }

            if (!upload)
            {
                state.Downloader.TrySetResult(ctx);
                var paired = await state.WaitForAsync(state.Uploader.Task, ctx.RequestAborted);
                if (!paired)
                {
                    state.Finish("timeout");
                    if (!ctx.RequestAborted.IsCancellationRequested) await JsonErrorAsync(ctx, 408, "the ticket expired while waiting for the uploader");
                    return;
                }
                // The uploader streams into this response; stay alive until it is done.
                bool ok = await state.Done.Task;
                if (!ok) ctx.Abort();
                return;
            }

            state.Uploader.TrySetResult(true);
            var pairedUp = await state.WaitForAsync(state.Downloader.Task, ctx.RequestAborted);
            if (!pairedUp)
            {
                state.Finish("timeout");
                if (!ctx.RequestAborted.IsCancellationRequested) await JsonErrorAsync(ctx, 408, "the ticket expired while waiting for the downloader");
                return;
            }
            var download = state.Downloader.Task.Result;
            long total = 0;
            string? failure = null;
            try
            {
                failure = await StreamAsync();
            }
            catch (Exception ex)
            {
                failure = "relay stream broken: " + ex.GetType().Name;
            }
            finally
            {
                state.BytesStreamed = total;
                state.Finish(failure == null ? "ok" : "failed");
                // Whatever happened, the downloader's request must end (aborted when the stream failed).
                state.Done.TrySetResult(failure == null);
            }

            if (failure != null)
            {
                if (!ctx.RequestAborted.IsCancellationRequested)
                {
                    if (failure.StartsWith("relay connection dropped", StringComparison.Ordinal)) { ctx.Abort(); return; }
                    ctx.Response.Headers.Connection = "close";
                    await JsonErrorAsync(ctx, 500, failure);
                }
                return;
            }
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "application/json";
            await WriteJsonAsync(ctx, w =>
            {
                w.WriteNumber("bytes", total);
                w.WriteString("status", "ok");
            });

            async Task<string?> StreamAsync()
            {
                try
                {
                    download.Response.StatusCode = 200;
                    download.Response.ContentType = "application/octet-stream";
                    if (ctx.Request.ContentLength is long len && len <= state.MaxBytes && DropRelayAfterBytes == null)
                        download.Response.ContentLength = len;
                    await download.Response.StartAsync(download.RequestAborted);
                    var buffer = new byte[64 * 1024];
                    while (true)
                    {
                        int n = await ctx.Request.Body.ReadAsync(buffer, ctx.RequestAborted);
                        if (n == 0) break;
                        if (total + n > state.MaxBytes)
                        {
                            // Forward what still fits, then fail: the receiver sees fewer bytes than were sent.
                            int fit = (int)(state.MaxBytes - total);
                            if (fit > 0) await download.Response.Body.WriteAsync(buffer.AsMemory(0, fit), download.RequestAborted);
                            total += fit;
                            failure = $"max_bytes ({state.MaxBytes}) exceeded";
                            break;
                        }
                        var drop = DropRelayAfterBytes;
                        if (drop.HasValue && total + n >= drop.Value)
                        {
                            int fit = (int)Math.Max(0, drop.Value - total);
                            if (fit > 0) await download.Response.Body.WriteAsync(buffer.AsMemory(0, fit), download.RequestAborted);
                            total += fit;
                            failure = "relay connection dropped";
                            break;
                        }
                        if (CorruptRelayByteAt is long at && at >= total && at < total + n) buffer[at - total] ^= 0xFF;
                        await download.Response.Body.WriteAsync(buffer.AsMemory(0, n), download.RequestAborted);
                        total += n;
                        if (RelayChunkDelay > TimeSpan.Zero) await Task.Delay(RelayChunkDelay);
                    }
                    if (failure == null) await download.Response.Body.FlushAsync(download.RequestAborted);
                }
                catch (Exception ex) when (ex is IOException || ex is OperationCanceledException || ex is InvalidOperationException
                                           || ex is Microsoft.AspNetCore.Connections.ConnectionResetException)
                {
                    failure ??= "relay stream broken: " + ex.GetType().Name;
                }
                return failure;
            }
        }

        private sealed class RelayTicketState
        {
            private readonly CancellationTokenSource _expiry;
            private int _putClaimed;
            private int _getClaimed;
            private int _finished;

            public RelayTicketState(string ticket, string workspaceId, string source, string dest, long maxBytes, TimeSpan ttl)
            {
                Ticket = ticket;
                WorkspaceId = workspaceId;
                SourceExeId = source;
                DestExeId = dest;
                MaxBytes = maxBytes;
                ExpiresAt = DateTime.UtcNow + ttl;
                _expiry = new CancellationTokenSource(ttl);
            }

            public string Ticket { get; }
            public string WorkspaceId { get; }
            public string SourceExeId { get; }
            public string DestExeId { get; }
            public long MaxBytes { get; }
            public DateTime ExpiresAt { get; private set; }
            public long BytesStreamed { get; set; }
            public string? Outcome { get; private set; }
            public TaskCompletionSource<bool> Uploader { get; } = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            public TaskCompletionSource<HttpContext> Downloader { get; } = new TaskCompletionSource<HttpContext>(TaskCreationOptions.RunContinuationsAsynchronously);
            public TaskCompletionSource<bool> Done { get; } = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);

            public bool Paired => Uploader.Task.IsCompleted && Downloader.Task.IsCompleted;

            /// <summary>Unfinished and unexpired; a stream already under way counts as active even past its TTL.</summary>
            public bool IsActive => Volatile.Read(ref _finished) == 0 && (!_expiry.IsCancellationRequested || Paired);

            public bool TryClaim(bool upload) =>
                Interlocked.Exchange(ref upload ? ref _putClaimed : ref _getClaimed, 1) == 0;

            public void Expire()
            {
                ExpiresAt = DateTime.UtcNow;
                try { _expiry.Cancel(); } catch (ObjectDisposedException) { }
            }

            public void Finish(string outcome)
            {
                if (Interlocked.Exchange(ref _finished, 1) == 0) Outcome = outcome;
            }

            /// <summary>Waits for the other side; false when the TTL ran out (or the caller went away) first.</summary>
            public async Task<bool> WaitForAsync(Task other, CancellationToken aborted)
            {
                if (other.IsCompleted) return true;
                var gone = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                using (_expiry.Token.Register(() => gone.TrySetResult(true)))
                using (aborted.Register(() => gone.TrySetResult(true)))
                {
                    await Task.WhenAny(other, gone.Task);
                }
                return other.IsCompleted;
            }
        }

        private sealed record ExecutorRegistration(Uri Uri, string WorkspaceId, string? ExecServerToken);

        // ---- helpers -------------------------------------------------------------------------------------------

        private static string Route(HttpContext ctx, string name) => ctx.Request.RouteValues[name]?.ToString() ?? "";

        private static async Task PlainAsync(HttpContext ctx, int status, string text)
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "text/plain; charset=utf-8";
            await ctx.Response.WriteAsync(text);
        }

        private static Task JsonErrorAsync(HttpContext ctx, int status, string message)
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "application/json";
            return WriteJsonAsync(ctx, w => w.WriteString("error", message));
        }

        private static async Task WriteJsonAsync(HttpContext ctx, Action<Utf8JsonWriter> body)
        {
            var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms))
            {
                w.WriteStartObject();
                body(w);
                w.WriteEndObject();
            }
            ctx.Response.ContentLength = ms.Length;
            await ctx.Response.Body.WriteAsync(ms.GetBuffer().AsMemory(0, (int)ms.Length));
        }

        private static string RandomToken(int bytes) =>
            Convert.ToBase64String(RandomNumberGenerator.GetBytes(bytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
