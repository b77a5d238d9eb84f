using System;
using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ExecBridge.Client.Rpc
{
    /// <summary>
    /// JSON-RPC 2.0 over one WebSocket: one reader loop routes responses to callers by id and hands
    /// notifications to a handler. Safe for any number of concurrent callers.
    /// </summary>
    public sealed class RpcConnection : IDisposable
    {
        /// <summary>
        /// Outgoing frames are cut at 4 MiB; the server drops frames over 16 MiB (notes §9). Every 1 MiB block request
        /// (~1.4 MB) goes as one frame: cut at 1 MiB into two fragments, legacy uploads (process/write) ran at 188-189
        /// MiB/s instead of 212-217 (bench W5 legacy client, two `--only W5L --runs 5` A/B pairs).
        /// </summary>
        public const int FrameSize = 4 << 20;

        /// <summary>The server drops whole messages over 64 MiB without answering, so we refuse to send them.</summary>
        public const int MaxMessageBytes = 64 * 1024 * 1024;

        /// <summary>
        /// Default bound on one received message. The largest answer the client asks for is a legacy whole-file read
        /// of at most 8 MiB (~11 MiB of JSON); anything past the bound is a broken or hostile server.
        /// </summary>
        public const int DefaultMaxReceiveBytes = 64 * 1024 * 1024;

        private static readonly Regex StatusCodePattern = new Regex(@"status code '(\d{3})'", RegexOptions.Compiled);

        private readonly WebSocket _socket;
        private readonly ConcurrentDictionary<long, PendingCall> _pending = new ConcurrentDictionary<long, PendingCall>();
        private Timer? _sweeper;
        private readonly SemaphoreSlim _sendLock = new SemaphoreSlim(1, 1);
        private readonly CancellationTokenSource _lifetime = new CancellationTokenSource();
        private readonly ILogger _logger;
        private readonly Uri _uri;
        private long _nextId;
        // Who reads the socket: reader id * 2, plus 1 while that reader runs a caller's continuation inline.
        private long _readerTurn;
        private long _lastReaderId;
        private long _inlineSince;
        private int _closed;
        private Exception? _closeReason;

        /// <summary>
        /// Completes bulk calls (block reads and writes, stdin, output replay) inline on the socket reader as well; every
        /// other call always does. Off by default: the continuation of a bulk call decodes, hashes or encodes a block,
        /// and on the pool it does that while the reader takes the next frame.
        /// </summary>
        public bool CompleteOnReader { get; set; }

        private readonly int _maxReceiveBytes;

        private RpcConnection(WebSocket socket, Uri uri, ILogger logger, int maxReceiveBytes)
        {
            _socket = socket;
            _uri = uri;
            _logger = logger;
            _maxReceiveBytes = maxReceiveBytes > 0 ? maxReceiveBytes : DefaultMaxReceiveBytes;
        }

        /// <summary>The largest message accepted from the server; a bigger one closes the connection (ProtocolViolation).</summary>
        public int MaxReceiveBytes => _maxReceiveBytes;

        /// <summary>Called on the reader thread for every server notification; must not block.</summary>
        public Action<string, JsonElement>? NotificationHandler { get; set; }

        /// <summary>Raised once when the connection ends for any reason.</summary>
        public event Action<Exception>? Closed;

        public bool IsOpen => Volatile.Read(ref _closed) == 0 && _socket.State == WebSocketState.Open;

        public Exception? CloseReason => _closeReason;

        public static async Task<RpcConnection> ConnectAsync(Uri uri, string? bearerToken, TimeSpan timeout,
            CancellationToken cancellationToken, ILogger? logger = null, int maxReceiveBytes = DefaultMaxReceiveBytes,
            TlsPolicy? tls = null)
        {
            logger ??= NullLogger.Instance;
            using var connectCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connectCts.CancelAfter(timeout);
            WebSocket socket;
            try
            {
                socket = await WebSocketDialer.ConnectAsync(uri, bearerToken, connectCts.Token, tls).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                cancellationToken.ThrowIfCancellationRequested();
                throw TranslateConnectFailure(uri, ex, connectCts.IsCancellationRequested, timeout);
            }

            var connection = new RpcConnection(socket, uri, logger, maxReceiveBytes);
            _ = Task.Run(() => connection.ReadLoopAsync(0));
            logger.LogDebug("Connected to {Uri}", AuthenticationFailedException.SafeUri(uri));
            return connection;
        }

        /// <summary>A connection over a WebSocket that is already open (the warm-up's in-memory peer).</summary>
        internal static RpcConnection Over(WebSocket socket, Uri uri, ILogger logger)
        {
            var connection = new RpcConnection(socket, uri, logger, DefaultMaxReceiveBytes);
            _ = Task.Run(() => connection.ReadLoopAsync(0));
            return connection;
        }

        private static Exception TranslateConnectFailure(Uri uri, Exception ex, bool timedOut, TimeSpan timeout)
        {
            if (ex is ExecBridgeException known && known.Kind == ExecBridgeErrorKind.CertificateValidationFailed) return known;
            var safe = AuthenticationFailedException.SafeUri(uri);
            if (ex is WebSocketUpgradeException upgrade && !timedOut)
            {
                if (upgrade.Status == 401 || upgrade.Status == 403) return new AuthenticationFailedException(uri, upgrade.Status.Value);
                return new ExecBridgeException(ExecBridgeErrorKind.ConnectionRefused, upgrade.Status != null
                    ? $"The executor at {safe} refused the WebSocket upgrade (HTTP {upgrade.Status})."
                    : $"Could not connect to {safe}: {upgrade.Message}.");
            }
            for (Exception? e = ex; e != null; e = e.InnerException)
            {
                var m = StatusCodePattern.Match(e.Message);
                if (m.Success)
                {
                    int status = int.Parse(m.Groups[1].Value);
                    if (status == 401 || status == 403) return new AuthenticationFailedException(uri, status);
                    return new ExecBridgeException(ExecBridgeErrorKind.ConnectionRefused,
                        $"The executor at {safe} refused the WebSocket upgrade (HTTP {status}).");
                }
                // Our own connect deadline cancels the socket with ECANCELED ("Operation canceled"): that is a timeout.
                if (e is SocketException se && !timedOut)
                    return new ExecBridgeException(ExecBridgeErrorKind.ConnectionRefused,
                        $"Could not connect to {safe}: {se.Message}");
            }
            if (timedOut)
                return new ExecBridgeException(ExecBridgeErrorKind.Timeout,
                    $"Connecting to {safe} did not complete within {timeout.TotalSeconds:0.#} s.");
            return new ExecBridgeException(ExecBridgeErrorKind.ConnectionRefused, $"Could not connect to {safe}: {ex.Message}");
        }

        /// <summary>Sends a request and waits for its response. Ends on response, timeout, cancellation or loss.</summary>
        public async Task<RpcMessage> CallAsync(string method, Action<Utf8JsonWriter>? writeParams, TimeSpan timeout,
            CancellationToken cancellationToken)
        {
            ThrowIfClosed(method);
            cancellationToken.ThrowIfCancellationRequested();
            long id = Interlocked.Increment(ref _nextId);
            var call = new PendingCall(method, timeout, CompleteOnReader || !IsBulk(method));
            // One deadline for the whole call, sending included (a send stuck in a stalled network counts too).
            call.Arm();
            _pending[id] = call;
            EnsureSweeper();
            try
            {
                var request = RequestWriter.Rent();
                try
                {
                    var w = request.Writer;
                    w.WriteStartObject();
                    w.WriteString("jsonrpc", "2.0");
                    w.WriteNumber("id", id);
                    w.WriteString("method", method);
                    w.WritePropertyName("params");
                    if (writeParams == null) { w.WriteStartObject(); w.WriteEndObject(); }
                    else writeParams(w);
                    w.WriteEndObject();
                    w.Flush();
                    // Params are never logged: they can carry file contents and stdin; headers never are logged at all.
                    if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("-> {Method} #{Id} ({Bytes} bytes)", method, id, request.Buffer.WrittenCount);
                    await SendAsync(request.Buffer.WrittenSegment, method, cancellationToken, call.Remaining()).ConfigureAwait(false);
                }
                catch
                {
                    // Nobody will await this call's completion; a failure Shutdown sets on it must not surface as an
                    // UnobservedTaskException.
                    _ = call.Completion.Task.ContinueWith(t => _ = t.Exception, CancellationToken.None,
                        TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    throw;
                }
                finally
                {
                    RequestWriter.Return(request);
                }

                // The deadline is enforced by one shared sweeper, not a timer per call. Cancellation is purely
                // local: $/cancelRequest would make the server drop the connection.
                var registration = cancellationToken.CanBeCanceled
                    ? cancellationToken.Register(state => ((PendingCall)state!).Cancel(), call)
                    : default;
                try
                {
                    var message = await call.Completion.Task.ConfigureAwait(false);
                    return CheckError(method, message);
                }
                finally
                {
                    registration.Dispose();
                }
            }
            finally
            {
                _pending.TryRemove(id, out _);
            }
        }

        private void EnsureSweeper()
        {
            if (_sweeper != null) return;
            var timer = new Timer(_ => SweepTimeouts(), null, Timeout.Infinite, Timeout.Infinite);
            if (Interlocked.CompareExchange(ref _sweeper, timer, null) != null) { timer.Dispose(); return; }
            timer.Change(SweepInterval, SweepInterval);
        }

        /// <summary>
        /// Calls whose continuation moves a block of data (decode, hash, write, encode the next one): those run on the
        /// pool so the reader takes the next frame meanwhile. Every other call completes inline on the reader.
        /// </summary>
        private static bool IsBulk(string method) =>
            method == "fs/readBlock" || method == "fs/writeBlock" || method == "process/write" || method == "process/read"
            || method == "fs/readFile" || method == "fs/writeFile";

        private void SweepTimeouts()
        {
            long now = Stopwatch.GetTimestamp();
            RescueReader(now);
            foreach (var pair in _pending)
            {
                var call = pair.Value;
                if (now < call.Deadline || !_pending.TryRemove(pair.Key, out _)) continue;
                call.Fail(new ExecBridgeException(ExecBridgeErrorKind.Timeout,
                    $"The executor did not answer {call.Method} within {call.Timeout.TotalSeconds:0.###} s."));
            }
        }

        private const int SweepInterval = 50;

        /// <summary>
        /// A continuation run inline on the reader that has not returned by the next sweep (it blocks, or works long)
        /// loses the reader role: a new reader takes the socket, so a caller blocking on another call of this
        /// connection inside its continuation is delayed by one sweep instead of waiting for itself for ever.
        /// </summary>
        private void RescueReader(long now)
        {
            long turn = Volatile.Read(ref _readerTurn);
            if ((turn & 1) == 0 || now - Volatile.Read(ref _inlineSince) < Stopwatch.Frequency * SweepInterval / 1000) return;
            long next = Interlocked.Increment(ref _lastReaderId);
            if (Interlocked.CompareExchange(ref _readerTurn, next * 2, turn) != turn) return;
            _logger.LogDebug("A continuation held the socket reader for over {Ms} ms; reading moved to a new reader.", SweepInterval);
            _ = Task.Run(() => ReadLoopAsync(next));
        }

        private sealed class PendingCall
        {
            public PendingCall(string method, TimeSpan timeout, bool inline)
            {
                Method = method;
                Timeout = timeout;
                Inline = inline;
                Completion = new TaskCompletionSource<RpcMessage>(inline ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously);
                LogScope = Logging.QueueLogger.CurrentScope;
            }

            /// <summary>The caller's log destination: the reader logs the response there, not to whoever dialed.</summary>
            public readonly System.Collections.Concurrent.ConcurrentQueue<Logging.LogLine>? LogScope;

            /// <summary>
            /// Inline (every call but bulk ones, unless CompleteOnReader): the response completes the call on the socket
            /// reader, which runs the continuation itself up to its next await (RescueReader covers one that blocks).
            /// Otherwise the continuation is queued to the pool.
            /// </summary>
            public readonly TaskCompletionSource<RpcMessage> Completion;
            public bool Inline { get; }

            // Failures (timeout, cancellation, loss) of an inline call are set from the pool, so that whoever cancels,
            // times out or disposes never runs a caller's retry or cleanup on its own stack.
            public void Fail(Exception reason) => SetOffStack(c => c.TrySetException(reason));

            public void Cancel() => SetOffStack(c => c.TrySetCanceled());

            private void SetOffStack(Action<TaskCompletionSource<RpcMessage>> set)
            {
                if (!Inline) set(Completion);
                else ThreadPool.UnsafeQueueUserWorkItem(_ => set(Completion), null);
            }
            public string Method { get; }
            public TimeSpan Timeout { get; }
            public long Deadline = long.MaxValue;

            /// <summary>Time left before the deadline (infinite when the call has none).</summary>
            public TimeSpan Remaining()
            {
                long deadline = Volatile.Read(ref Deadline);
                if (deadline == long.MaxValue) return System.Threading.Timeout.InfiniteTimeSpan;
                long left = deadline - Stopwatch.GetTimestamp();
                return left <= 0 ? TimeSpan.FromTicks(1) : TimeSpan.FromSeconds(left / (double)Stopwatch.Frequency);
            }

            /// <summary>Starts the clock when the call begins.</summary>
            public void Arm()
            {
                if (Timeout == System.Threading.Timeout.InfiniteTimeSpan) return;
                Volatile.Write(ref Deadline, Stopwatch.GetTimestamp() + (long)(Timeout.TotalSeconds * Stopwatch.Frequency));
            }
        }

        /// <summary>Request buffers and JSON writers are reused across calls instead of allocated per call.</summary>
        private sealed class RequestWriter
        {
            private static readonly ConcurrentBag<RequestWriter> Pool = new ConcurrentBag<RequestWriter>();

            public PooledBufferWriter Buffer { get; } = new PooledBufferWriter();
            public Utf8JsonWriter Writer { get; }

            private RequestWriter() => Writer = new Utf8JsonWriter(Buffer);

            public static RequestWriter Rent()
            {
                if (!Pool.TryTake(out var r)) r = new RequestWriter();
                return r;
            }

            public static void Return(RequestWriter r)
            {
                r.Writer.Reset(r.Buffer);
                // Huge requests (file blocks) give their big array back to the pool rather than keeping it here.
                if (!r.Buffer.Reset(maxRetained: 256 * 1024) || Pool.Count > 32) { r.Buffer.Dispose(); return; }
                Pool.Add(r);
            }
        }

        /// <summary>Sends a notification. Only "initialized" is safe: any other makes the server drop us.</summary>
        public async Task NotifyAsync(string method, CancellationToken cancellationToken)
        {
            if (method != "initialized")
                throw new InvalidOperationException("The exec-server drops the connection on any client notification but 'initialized'.");
            ThrowIfClosed(method);
            var bytes = System.Text.Encoding.UTF8.GetBytes("{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}");
            await SendAsync(new ArraySegment<byte>(bytes), method, cancellationToken).ConfigureAwait(false);
        }

        private static RpcMessage CheckError(string method, RpcMessage message)
        {
            if (message.Root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                // A code outside Int32 (hostile or broken server) must not turn into a FormatException.
                int code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number && c.TryGetInt32(out var ci) ? ci : 0;
                string text = error.TryGetProperty("message", out var m) ? JsonText.TryString(m) ?? "" : "";
                message.Dispose();
                throw new RemoteErrorException(method, code, text);
            }
            // Every exec-server method answers with an object ({} when there is nothing to say, notes §8): a missing,
            // null or scalar result is a broken answer, never a success.
            var kind = message.Root.TryGetProperty("result", out var result) ? result.ValueKind : JsonValueKind.Undefined;
            if (kind != JsonValueKind.Object)
            {
                message.Dispose();
                throw new ExecBridgeException(ExecBridgeErrorKind.ProtocolViolation,
                    $"The executor answered {method} with {(kind == JsonValueKind.Undefined ? "neither a result nor an error" : "a result that is " + kind.ToString().ToLowerInvariant() + ", not an object")}.");
            }
            return message;
        }

        /// <summary>
        /// Sends one message. The call's deadline also bounds the send: waiting behind another sender and a socket that
        /// takes no data (a stalled network with full buffers) end in a Timeout instead of hanging. Only the slow path
        /// pays for the deadline; a send that is cut mid-message drops the connection, whose stream is then corrupt.
        /// </summary>
        private async Task SendAsync(ArraySegment<byte> payload, string method, CancellationToken cancellationToken,
            TimeSpan? timeout = null)
        {
            if (payload.Count > MaxMessageBytes)
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument,
                    $"The {method} request is {payload.Count} bytes; the executor drops messages over {MaxMessageBytes} bytes.");
            bool bounded = timeout != null && timeout.Value != Timeout.InfiniteTimeSpan;
            long deadline = bounded ? Stopwatch.GetTimestamp() + (long)(timeout!.Value.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
            TimeSpan Remaining() => TimeSpan.FromSeconds(Math.Max(0, deadline - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);
            if (!_sendLock.Wait(0))
            {
                if (!bounded) await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
                else if (!await _sendLock.WaitAsync(Remaining(), cancellationToken).ConfigureAwait(false))
                    throw new ExecBridgeException(ExecBridgeErrorKind.Timeout,
                        $"The executor did not answer {method} within {timeout!.Value.TotalSeconds:0.###} s (the request could not even be sent: the connection is not taking data).");
            }
            try
            {
                ThrowIfClosed(method);
                int offset = 0;
                do
                {
                    int n = Math.Min(FrameSize, payload.Count - offset);
                    bool last = offset + n >= payload.Count;
                    // A frame already begun is always finished, or the stream would be corrupt.
                    var send = _socket.SendAsync(new ArraySegment<byte>(payload.Array!, payload.Offset + offset, n),
                        WebSocketMessageType.Text, last, _lifetime.Token);
                    if (bounded && !send.IsCompleted && !await CompletesInTimeAsync(send, Remaining()).ConfigureAwait(false))
                    {
                        _ = send.ContinueWith(t => _ = t.Exception, CancellationToken.None,
                            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                        Shutdown(new ExecBridgeException(ExecBridgeErrorKind.ConnectionLost,
                            $"The connection to {AuthenticationFailedException.SafeUri(_uri)} stopped taking data; {method} could not be sent within {timeout!.Value.TotalSeconds:0.###} s."));
                        throw new ExecBridgeException(ExecBridgeErrorKind.Timeout,
                            $"The executor did not answer {method} within {timeout!.Value.TotalSeconds:0.###} s (the connection stopped taking data while sending it and was dropped).");
                    }
                    await send.ConfigureAwait(false);
                    offset += n;
                } while (offset < payload.Count);
            }
            catch (Exception ex) when (!(ex is ExecBridgeException) && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                // The send failed, so the message is normally incomplete; but bytes the kernel had already taken can
                // still reach the server, so a resend must be harmless (process/start accepts its own id as started).
                var lost = new RequestNotSentException(
                    $"The connection to {AuthenticationFailedException.SafeUri(_uri)} was lost while sending {method}.", ex);
                Shutdown(lost);
                throw lost;
            }
            finally
            {
                _sendLock.Release();
            }
        }

        private static async Task<bool> CompletesInTimeAsync(Task task, TimeSpan within)
        {
            using var cts = new CancellationTokenSource();
            var winner = await Task.WhenAny(task, Task.Delay(within, cts.Token)).ConfigureAwait(false);
            cts.Cancel();
            return winner == task;
        }

        private void ThrowIfClosed(string method)
        {
            if (Volatile.Read(ref _closed) != 0)
                throw new RequestNotSentException(
                    $"The connection to {AuthenticationFailedException.SafeUri(_uri)} is closed; {method} was not sent.", _closeReason);
        }

        /// <summary>The receive buffer of a connection between messages, when the last one was small.</summary>
        internal const int IdleReceiveBytes = 4 * 1024;

        private int _receiveBufferBytes;

        private int _peakReceiveBufferBytes;

        /// <summary>Length of the array the reader is receiving into now (tests: what an idle connection holds).</summary>
        internal int ReceiveBufferBytes => Volatile.Read(ref _receiveBufferBytes);

        /// <summary>The largest receive array so far (tests: that large messages got a large one, without sampling races).</summary>
        internal int PeakReceiveBufferBytes => Volatile.Read(ref _peakReceiveBufferBytes);

        private void SetReceiveBuffer(byte[] buffer)
        {
            Volatile.Write(ref _receiveBufferBytes, buffer.Length);
            // Only the reader thread writes both: a plain compare is enough.
            if (buffer.Length > _peakReceiveBufferBytes) Volatile.Write(ref _peakReceiveBufferBytes, buffer.Length);
        }

        private async Task ReadLoopAsync(long readerId)
        {
            byte[] buffer = MessageBuffers.Rent(IdleReceiveBytes);
            SetReceiveBuffer(buffer);
            int length = 0;
            bool replaced = false;
            Exception reason = new ExecBridgeException(ExecBridgeErrorKind.ConnectionLost,
                $"The executor at {AuthenticationFailedException.SafeUri(_uri)} closed the connection.");
            try
            {
                while (true)
                {
                    if (buffer.Length - length < Math.Min(16 * 1024, buffer.Length / 2))
                    {
                        // Grown up to just past the bound, so one more receive shows whether the message exceeds it.
                        long grown = Math.Min((long)buffer.Length * 2, (long)_maxReceiveBytes + 16 * 1024 + 1);
                        var bigger = MessageBuffers.Rent((int)grown);
                        Buffer.BlockCopy(buffer, 0, bigger, 0, length);
                        MessageBuffers.Return(buffer);
                        buffer = bigger;
                        SetReceiveBuffer(buffer);
                    }
                    var result = await _socket.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length),
                        _lifetime.Token).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close) break;
                    length += result.Count;
                    if (length > _maxReceiveBytes)
                    {
                        reason = new ExecBridgeException(ExecBridgeErrorKind.ProtocolViolation,
                            $"The executor at {AuthenticationFailedException.SafeUri(_uri)} sent a message of more than {_maxReceiveBytes} bytes "
                            + $"({length} received so far), over the limit (-MaxMessageSize); the connection was closed.");
                        break;
                    }
                    if (!result.EndOfMessage) continue;

                    var messageBuffer = buffer;
                    int messageLength = length;
                    // Size the next buffer like this one, so a stream of 1 MiB blocks is not regrown and copied each time;
                    // after a small message (an answer, exited, closed: what a connection ends on before it idles) a small
                    // one: every idle connection held 64 KiB here (256 executors: +74 KiB managed heap each, issue 19).
                    buffer = MessageBuffers.Rent(messageLength <= IdleReceiveBytes / 2 ? IdleReceiveBytes : Math.Min(messageBuffer.Length, MessageBuffers.PooledMax));
                    SetReceiveBuffer(buffer);
                    length = 0;
                    if (!Dispatch(messageBuffer, messageLength, readerId))
                    {
                        replaced = true;
                        break;
                    }
                }
            }
            catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
            {
                reason = _closeReason ?? reason;
            }
            catch (Exception ex)
            {
                reason = new ExecBridgeException(ExecBridgeErrorKind.ConnectionLost,
                    $"The connection to {AuthenticationFailedException.SafeUri(_uri)} was lost: {ex.Message}", ex);
            }
            finally
            {
                MessageBuffers.Return(buffer);
                buffer = Array.Empty<byte>();
                // A replaced reader just stops: the socket and the connection carry on with the new one.
                if (!replaced) Shutdown(reason);
            }
        }

        /// <summary>Handles one message; false when this reader lost the socket to a new one while a continuation ran.</summary>
        private bool Dispatch(byte[] rented, int length, long readerId)
        {
            RpcMessage message;
            try
            {
                var document = JsonDocument.Parse(new ReadOnlyMemory<byte>(rented, 0, length));
                message = new RpcMessage(document, rented, length);
            }
            catch (JsonException ex)
            {
                MessageBuffers.Return(rented);
                _logger.LogWarning("Ignored a frame that is not JSON ({Length} bytes): {Error}", length, ex.Message);
                return true;
            }

            var root = message.Root;
            if (root.ValueKind != JsonValueKind.Object)
            {
                _logger.LogWarning("Ignored a JSON frame that is not an object.");
                message.Dispose();
                return true;
            }

            if (root.TryGetProperty("method", out var methodElement) && methodElement.ValueKind == JsonValueKind.String)
            {
                try
                {
                    if (_logger.IsEnabled(LogLevel.Trace)) _logger.LogTrace("<- {Method} ({Bytes} bytes)", methodElement.GetString(), length);
                    var p = root.TryGetProperty("params", out var pe) ? pe : default;
                    NotificationHandler?.Invoke(methodElement.GetString()!, p);
                }
                catch (Exception ex)
                {
                    _logger.LogWarning("A notification handler failed: {Error}", ex.Message);
                }
                finally
                {
                    message.Dispose();
                }
                return true;
            }

            if (root.TryGetProperty("id", out var idElement) && idElement.ValueKind == JsonValueKind.Number
                && idElement.TryGetInt64(out long id) && _pending.TryRemove(id, out var call))
            {
                if (_logger.IsEnabled(LogLevel.Debug))
                {
                    var previous = Logging.QueueLogger.EnterScope(call.LogScope);
                    _logger.LogDebug("<- {Kind} #{Id} ({Bytes} bytes)", root.TryGetProperty("error", out _) ? "error" : "result", id, length);
                    Logging.QueueLogger.RestoreScope(previous);
                }
                if (!call.Inline)
                {
                    if (!call.Completion.TrySetResult(message)) message.Dispose();
                    return true;
                }
                long busy = readerId * 2 + 1;
                Volatile.Write(ref _inlineSince, Stopwatch.GetTimestamp());
                Volatile.Write(ref _readerTurn, busy);
                if (!call.Completion.TrySetResult(message)) message.Dispose();
                return Interlocked.CompareExchange(ref _readerTurn, readerId * 2, busy) == busy;
            }

            // id -1 is the server's answer to a frame it could not parse; anything else is for a caller who gave up.
            _logger.LogDebug("Ignored a response with no waiting caller: {Id}", idElement.ValueKind == JsonValueKind.Undefined ? "(none)" : idElement.ToString());
            message.Dispose();
            return true;
        }

        private void Shutdown(Exception reason)
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0) return;
            _closeReason = reason;
            try { _lifetime.Cancel(); } catch (ObjectDisposedException) { }
            foreach (var pair in _pending)
            {
                if (_pending.TryRemove(pair.Key, out var call)) call.Fail(reason);
            }
            Interlocked.Exchange(ref _sweeper, null)?.Dispose();
            try { _socket.Abort(); } catch { }
            try { Closed?.Invoke(reason); } catch (Exception ex) { _logger.LogWarning("Close handler failed: {Error}", ex.Message); }
        }

        public void Dispose()
        {
            Shutdown(new ExecBridgeException(ExecBridgeErrorKind.ConnectionLost,
                $"The connection to {AuthenticationFailedException.SafeUri(_uri)} was closed by the client."));
            // The reader ends by itself once the socket is aborted; waiting for it here would block a pool thread.
            _socket.Dispose();
        }
    }
}
