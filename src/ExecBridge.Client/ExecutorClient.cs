using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Files;
using ExecBridge.Client.Processes;
using ExecBridge.Client.Rpc;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ExecBridge.Client
{
    public enum ExecutorState { Disconnected, Connected, Closed }

    /// <summary>Where and how to reach one executor. The token is held here only to dial and is never printed.</summary>
    public sealed class ExecutorEndpoint
    {
        public ExecutorEndpoint(string executorId, Uri uri, string? token)
        {
            ExecutorId = executorId;
            Uri = uri;
            Token = token;
        }

        public string ExecutorId { get; }
        public Uri Uri { get; }
        internal string? Token { get; }
        public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);
        public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);
        public string ClientName { get; set; } = "ExecBridge";

        /// <summary>Largest message accepted from the server (bytes); a bigger one closes the connection with ProtocolViolation.</summary>
        public int MaxMessageSize { get; set; } = Rpc.RpcConnection.DefaultMaxReceiveBytes;

        /// <summary>Output of one process kept for a reader (bytes); past it the oldest is dropped and reported (OutputLost).</summary>
        public long MaxOutputBuffer { get; set; } = Processes.RemoteProcessHandle.DefaultMaxUnreadBytes;

        /// <summary>Longest line (characters) emitted as one string; a longer one is emitted in parts of this length.</summary>
        public int MaxLineLength { get; set; } = DefaultMaxLineLength;

        /// <summary>16 Mi characters (32 MiB as a .NET string): far beyond any text line, well below the ~1 Gi string limit.</summary>
        public const int DefaultMaxLineLength = 16 * 1024 * 1024;

        /// <summary>How a wss:// certificate is checked (system trust unless pinned or skipped).</summary>
        public Rpc.TlsPolicy Tls { get; set; } = Rpc.TlsPolicy.Default;

        /// <summary>Bulk calls too complete on the socket reader (RpcConnection.CompleteOnReader); small calls always do.</summary>
        public bool CompleteOnReader { get; set; }

        /// <summary>Direct, Local (embedded exec-server) or Gateway.</summary>
        public string Kind { get; set; } = "Direct";

        public override string ToString() => $"{ExecutorId} ({AuthenticationFailedException.SafeUri(Uri)})";
    }

    /// <summary>
    /// A connection to one exec-server: handshake, dialect traits found by probing, the process registry fed by
    /// notifications, redial with session resume. Thread-safe; shared by every cmdlet and runspace that uses it.
    /// </summary>
    public sealed partial class ExecutorClient : IDisposable
    {
        private readonly SemaphoreSlim _dialLock = new SemaphoreSlim(1, 1);
        private readonly ConcurrentDictionary<string, RemoteProcessHandle> _processes =
            new ConcurrentDictionary<string, RemoteProcessHandle>(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, bool> _unsupported = new ConcurrentDictionary<string, bool>();
        private readonly ILogger _logger;
        private readonly string _instanceTag = Guid.NewGuid().ToString("N").Substring(0, 8);
        private RpcConnection? _rpc;
        private PathStyle? _pathStyle;
        private long _processCounter;
        private long _writeCounter;
        private bool _disposed;

        public ExecutorClient(ExecutorEndpoint endpoint, ILogger? logger = null)
        {
            Endpoint = endpoint;
            _logger = logger ?? Logging.QueueLogger.Instance;
        }

        public ExecutorEndpoint Endpoint { get; }
        public string ExecutorId => Endpoint.ExecutorId;
        public string? SessionId { get; private set; }
        public string? ServerVersion { get; private set; }
        public string? Platform { get; private set; }
        public string? Shell { get; private set; }
        public string? Cwd { get; private set; }
        public string? HomeDirectory { get; private set; }
        public IReadOnlyList<string> PrependPathDirs { get; private set; } = Array.Empty<string>();
        public int ReconnectCount { get; private set; }

        /// <summary>Owned resources (a local exec-server) disposed together with this client.</summary>
        public IDisposable? OwnedResource { get; set; }

        public PathStyle PathStyle => _pathStyle ?? PathStyle.FileUri;

        /// <summary>"Legacy" (plain paths, codex 0.123/0.130) or "Current" (file:// URIs, 0.142+).</summary>
        public string Dialect => _pathStyle == null ? "Unknown" : _pathStyle == PathStyle.Plain ? "Legacy" : "Current";

        public ExecutorState State =>
            _disposed ? ExecutorState.Closed : (_rpc != null && _rpc.IsOpen ? ExecutorState.Connected : ExecutorState.Disconnected);

        public TimeSpan RequestTimeout => Endpoint.RequestTimeout;

        /// <summary>Whether a method is known to be missing on this server (it answered -32601).</summary>
        public bool IsKnownUnsupported(string method) => _unsupported.ContainsKey(method);

        internal void MarkUnsupported(string method) => _unsupported[method] = true;

        /// <summary>Dials (or redials, resuming the session) when there is no open connection.</summary>
        public async Task EnsureConnectedAsync(CancellationToken cancellationToken)
        {
            if (_disposed) throw new ObjectDisposedException(nameof(ExecutorClient), $"The connection to executor '{ExecutorId}' was closed.");
            if (_rpc != null && _rpc.IsOpen) return;
            await _dialLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_rpc != null && _rpc.IsOpen) return;
                await DialAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _dialLock.Release();
            }
        }

        private async Task DialAsync(CancellationToken cancellationToken)
        {
            // Once a session exists every dial is a redial, even after a failed attempt left _rpc null: the session must be resumed.
            bool redial = SessionId != null;
            _rpc?.Dispose();
            _rpc = null;

            _logger.LogInformation("{Action} executor {Executor} at {Uri}", redial ? "Redialing" : "Dialing", ExecutorId,
                AuthenticationFailedException.SafeUri(Endpoint.Uri));
            var rpc = await OpenAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                string? resumeId = redial ? SessionId : null;
                // Hold pushed output from the moment the session is resumed until process/read has filled the gap, or the
                // first new notification would advance the seq past the output produced while detached.
                if (resumeId != null)
                    foreach (var h in _processes.Values)
                        if (!h.IsFinished) h.BeginCatchUp(); // unconfirmed starts too: their starter reads them back
                bool resumed = false;
                RpcMessage init;
                try
                {
                    for (int attempt = 0; ; attempt++)
                    {
                        try
                        {
                            init = await rpc.CallAsync("initialize", w => WriteInitialize(w, resumeId), Endpoint.RequestTimeout, cancellationToken)
                                .ConfigureAwait(false);
                            break;
                        }
                        catch (RemoteErrorException ex) when (resumeId != null && attempt < 6 && ex.RemoteMessage.Contains("already attached"))
                        {
                            // We saw the cut before the server did: it still holds our old connection for a moment. Retry
                            // shortly instead of giving up the session and every live process in it (fault suite finding).
                            _logger.LogDebug("Session on {Executor} still attached to the old connection; retrying the resume", ExecutorId);
                            rpc.Dispose();
                            await Task.Delay(50 << attempt, cancellationToken).ConfigureAwait(false);
                            rpc = await OpenAsync(cancellationToken).ConfigureAwait(false);
                        }
                    }
                    resumed = resumeId != null;
                }
                catch (RemoteErrorException ex) when (resumeId != null)
                {
                    // The server forgot the session (expired) or it is attached elsewhere: processes of it are gone to us.
                    _logger.LogWarning("Could not resume session on {Executor}: {Error}", ExecutorId, ex.RemoteMessage);
                    FailLiveProcesses(new ExecBridgeException(ExecBridgeErrorKind.OutputLost,
                        $"The executor '{ExecutorId}' no longer has the session these processes ran in ({ex.RemoteMessage}); their remaining output and exit codes are lost."));
                    rpc.Dispose();
                    rpc = await OpenAsync(cancellationToken).ConfigureAwait(false);
                    init = await rpc.CallAsync("initialize", w => WriteInitialize(w, null), Endpoint.RequestTimeout, cancellationToken)
                        .ConfigureAwait(false);
                }

                using (init)
                {
                    var result = init.Result;
                    if (result.TryGetProperty("sessionId", out var sid))
                    {
                        if (string.IsNullOrEmpty(JsonText.TryString(sid)))
                            throw new ExecBridgeException(ExecBridgeErrorKind.ProtocolViolation,
                                $"The executor at {AuthenticationFailedException.SafeUri(Endpoint.Uri)} answered initialize with a sessionId that is {sid.ValueKind.ToString().ToLowerInvariant()}, not a string.");
                        SessionId = sid.GetString();
                    }
                    if (result.TryGetProperty("environmentInfo", out var envInfo))
                        ReadEnvironmentInfo(envInfo);
                }
                await rpc.NotifyAsync("initialized", cancellationToken).ConfigureAwait(false);
                _rpc = rpc;

                if (_pathStyle == null) await ProbeDialectAsync(rpc, cancellationToken).ConfigureAwait(false);
                if (redial)
                {
                    ReconnectCount++;
                    _logger.LogInformation("Reconnected to {Executor} (resumed: {Resumed})", ExecutorId, resumed);
                    if (resumed) await CatchUpProcessesAsync(rpc, cancellationToken).ConfigureAwait(false);
                }
            }
            catch
            {
                rpc.Dispose();
                if (ReferenceEquals(_rpc, rpc)) _rpc = null;
                throw;
            }
        }

        /// <summary>A new socket wired to this client's notification and close handlers.</summary>
        private async Task<RpcConnection> OpenAsync(CancellationToken cancellationToken)
        {
            RpcConnection rpc;
            try
            {
                rpc = await RpcConnection.ConnectAsync(Endpoint.Uri, Endpoint.Token, Endpoint.ConnectTimeout, cancellationToken, _logger,
                    Endpoint.MaxMessageSize, Endpoint.Tls).ConfigureAwait(false);
            }
            catch (AuthenticationFailedException ex) when (Endpoint.Kind == "Gateway")
            {
                // Through a gateway the refusal is the gateway's (the executor never saw the request).
                var gateway = new Uri(Endpoint.Uri.GetLeftPart(UriPartial.Authority));
                throw new AuthenticationFailedException(
                    $"The gateway at {AuthenticationFailedException.SafeUri(gateway)} refused the credentials for executor '{ExecutorId}' (HTTP {ex.StatusCode}).",
                    ex.StatusCode, ex);
            }

            rpc.NotificationHandler = OnNotification;
            rpc.Closed += OnConnectionClosed;
            rpc.CompleteOnReader = Endpoint.CompleteOnReader;
            return rpc;
        }

        private void WriteInitialize(Utf8JsonWriter w, string? resumeSessionId)
        {
            w.WriteStartObject();
            w.WriteString("clientName", Endpoint.ClientName);
            if (resumeSessionId != null) w.WriteString("resumeSessionId", resumeSessionId);
            w.WriteEndObject();
        }

        private void ReadEnvironmentInfo(JsonElement info)
        {
            if (info.ValueKind != JsonValueKind.Object) return;
            if (info.TryGetProperty("shell", out var shell) && shell.ValueKind == JsonValueKind.Object
                && shell.TryGetProperty("path", out var sp) && sp.ValueKind == JsonValueKind.String)
                Shell = JsonText.TryString(sp);
            if (info.TryGetProperty("cwd", out var cwd) && cwd.ValueKind == JsonValueKind.String)
                Cwd = RemotePath.FromWire(cwd.GetString()!);
            if (info.TryGetProperty("executorVersion", out var v) && v.ValueKind == JsonValueKind.String)
                ServerVersion = JsonText.TryString(v);
            if (info.TryGetProperty("platformOs", out var os) && os.ValueKind == JsonValueKind.String)
                Platform = JsonText.TryString(os);
            if (info.TryGetProperty("userHomeDir", out var home) && home.ValueKind == JsonValueKind.String)
                HomeDirectory = RemotePath.FromWire(home.GetString()!);
            if (info.TryGetProperty("prependPathDirs", out var dirs) && dirs.ValueKind == JsonValueKind.Array)
                PrependPathDirs = dirs.EnumerateArray().Where(d => d.ValueKind == JsonValueKind.String)
                    .Select(d => RemotePath.FromWire(d.GetString()!)).ToArray();
        }

        /// <summary>
        /// Decides each trait by asking, never by version: the path form by fs/getMetadata of "/" as a URI
        /// (notes §3), environment details by environment/info where the initialize result lacked them.
        /// </summary>
        private async Task ProbeDialectAsync(RpcConnection rpc, CancellationToken cancellationToken)
        {
            try
            {
                using var _ = await rpc.CallAsync("fs/getMetadata", w => { w.WriteStartObject(); w.WriteString("path", "file:///"); w.WriteEndObject(); },
                    Endpoint.RequestTimeout, cancellationToken).ConfigureAwait(false);
                _pathStyle = PathStyle.FileUri;
            }
            catch (RemoteErrorException ex) when (ex.Code == -32602)
            {
                _pathStyle = PathStyle.Plain;
            }

            if (Shell == null && !IsKnownUnsupported("environment/info"))
            {
                try
                {
                    using var info = await rpc.CallAsync("environment/info", null, Endpoint.RequestTimeout, cancellationToken).ConfigureAwait(false);
                    ReadEnvironmentInfo(info.Result);
                }
                catch (RemoteErrorException ex) when (ex.IsMethodNotFound)
                {
                    MarkUnsupported("environment/info");
                }
            }
            if (Platform == null) Platform = "linux";
            _logger.LogInformation("Executor {Executor}: {Dialect} dialect ({PathStyle} paths), server version {Version}, shell {Shell}",
                ExecutorId, Dialect, PathStyle, ServerVersion ?? "unknown", Shell ?? "unknown");
        }

        /// <summary>
        /// Sends one request on the current connection, dialing first if needed. A connection found dead while
        /// sending is redialed and the request sent once more: the server never saw it. Read-only methods are also
        /// retried once when the connection dies while they wait, since repeating them changes nothing.
        /// </summary>
        public async Task<RpcMessage> CallAsync(string method, Action<Utf8JsonWriter>? writeParams, CancellationToken cancellationToken,
            TimeSpan? timeout = null)
        {
            var total = timeout ?? Endpoint.RequestTimeout;
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            TimeSpan Elapsed() => TimeSpan.FromSeconds((System.Diagnostics.Stopwatch.GetTimestamp() - started) / (double)System.Diagnostics.Stopwatch.Frequency);
            for (int attempt = 0; ; attempt++)
            {
                var callTimeout = total;
                if (attempt == 0)
                {
                    await EnsureConnectedAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    // The retry lives within the caller's deadline, redial included.
                    callTimeout = total == Timeout.InfiniteTimeSpan ? total : total - Elapsed();
                    if (callTimeout != Timeout.InfiniteTimeSpan && callTimeout <= TimeSpan.Zero) throw Late(method, total);
                    using var redialCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    if (callTimeout != Timeout.InfiniteTimeSpan) redialCts.CancelAfter(callTimeout);
                    try
                    {
                        await EnsureConnectedAsync(redialCts.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw Late(method, total);
                    }
                    if (callTimeout != Timeout.InfiniteTimeSpan)
                    {
                        callTimeout = total - Elapsed();
                        if (callTimeout <= TimeSpan.Zero) throw Late(method, total);
                    }
                }
                var rpc = _rpc ?? throw new ExecBridgeException(ExecBridgeErrorKind.ConnectionLost, $"Executor '{ExecutorId}' is not connected.");
                try
                {
                    return await rpc.CallAsync(method, writeParams, callTimeout, cancellationToken).ConfigureAwait(false);
                }
                catch (RemoteErrorException ex) when (ex.IsMethodNotFound)
                {
                    MarkUnsupported(method);
                    throw;
                }
                catch (ExecBridgeException ex) when (attempt > 0 && ex.Kind == ExecBridgeErrorKind.Timeout && total != Timeout.InfiniteTimeSpan)
                {
                    // The resent call had only what was left of the deadline: the caller's limit is what to report.
                    throw new ExecBridgeException(ExecBridgeErrorKind.Timeout,
                        $"The executor did not answer {method} within {total.TotalSeconds:0.###} s (the connection was lost, redialed and the request sent again).", ex);
                }
                catch (ExecBridgeException ex) when (attempt == 0 && ex.Kind == ExecBridgeErrorKind.ConnectionLost
                                                     && (ex is RequestNotSentException || IsReadOnly(method))
                                                     && (total == Timeout.InfiniteTimeSpan || Elapsed() < TimeSpan.FromTicks(total.Ticks / 2)))
                {
                    // Only while at least half the deadline is left: a redial needs the time, and a call that has
                    // spent its time waiting (e.g. behind a stalled send) reports the loss rather than overrun.
                    _logger.LogInformation("Connection to {Executor} was lost during {Method}; redialing and sending it again", ExecutorId, method);
                }
            }
        }

        private static ExecBridgeException Late(string method, TimeSpan total) =>
            new ExecBridgeException(ExecBridgeErrorKind.Timeout,
                $"The executor did not answer {method} within {total.TotalSeconds:0.###} s (the connection was lost and could not be redialed in time).");

        private static bool IsReadOnly(string method)
        {
            switch (method)
            {
                case "fs/getMetadata":
                case "fs/readDirectory":
                case "fs/readFile":
                case "fs/canonicalize":
                case "fs/walk":
                case "environment/info":
                    return true;
                default:
                    return false;
            }
        }

        /// <summary>Like CallAsync but disposes the response; for methods whose result is not needed.</summary>
        public async Task InvokeAsync(string method, Action<Utf8JsonWriter>? writeParams, CancellationToken cancellationToken)
        {
            using var _ = await CallAsync(method, writeParams, cancellationToken).ConfigureAwait(false);
        }

        private void OnConnectionClosed(Exception reason)
        {
            _logger.LogDebug("Connection to {Executor} closed: {Reason}", ExecutorId, reason.Message);
            foreach (var handle in _processes.Values) handle.Signal();
        }

        private void FailLiveProcesses(ExecBridgeException failure)
        {
            // Each process gets its own error naming it and how far its output got, so the caller knows what was lost.
            foreach (var handle in _processes.Values)
                if (handle.IsLive)
                    handle.OnFailure(new ExecBridgeException(failure.Kind,
                        $"{failure.Message} Process '{handle.ProcessId}': output after the {handle.BytesReceived} bytes received (seq {handle.HighestSeq}) and its exit code are lost.",
                        failure.InnerException ?? failure));
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            try { _rpc?.Dispose(); } catch { }
            foreach (var handle in _processes.Values)
                handle.OnFailure(new ExecBridgeException(ExecBridgeErrorKind.ConnectionLost, $"The connection to executor '{ExecutorId}' was closed."));
            try { OwnedResource?.Dispose(); } catch { }
        }

        /// <summary>Test hook and fault handling: drops the socket without disposing the client (the next call redials).</summary>
        public void DropConnection() => _rpc?.Dispose();

        /// <summary>Test hook: the receive buffer the connection's reader holds now (0 when not connected).</summary>
        internal int ReceiveBufferBytes => _rpc?.ReceiveBufferBytes ?? 0;
        internal int PeakReceiveBufferBytes => _rpc?.PeakReceiveBufferBytes ?? 0;

        internal string NewWriteId() => $"w-{_instanceTag}-{Interlocked.Increment(ref _writeCounter)}";

        internal string NewProcessId() => $"eb-{_instanceTag}-{Interlocked.Increment(ref _processCounter)}";

        public override string ToString() => Endpoint.ToString();
    }
}
