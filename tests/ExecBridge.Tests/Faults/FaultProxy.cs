using System;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Tests.Faults
{
    /// <summary>
    /// A loopback raw-TCP proxy in front of a real server (exec-server or gateway; WebSocket and HTTP alike) that
    /// injects network faults on command: per-read latency, a stall of both directions with the sockets kept open,
    /// a cut after N server-to-client bytes or N WebSocket frames, refusing new connections for a while, and an
    /// immediate cut. Every pump ends when the proxy is disposed, so a test can never leave it running.
    /// </summary>
    public sealed class FaultProxy : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly IPEndPoint _target;
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly ConcurrentDictionary<long, Link> _links = new ConcurrentDictionary<long, Link>();
        private readonly object _gate = new object();
        private TaskCompletionSource<bool>? _stallGate;
        private long _linkIds;
        private long _refuseUntilTicks;
        private long _cutAfterBytes = -1;   // server->client bytes still allowed before a cut; -1 = unarmed
        private long _cutAfterFrames = -1;  // server->client WebSocket frames still allowed before a cut; -1 = unarmed
        private long _accepted, _refused, _bytesUp, _bytesDown, _faults, _framesDown;
        private int _delayMs;

        public FaultProxy(int targetPort) : this(new IPEndPoint(IPAddress.Loopback, targetPort)) { }

        public FaultProxy(IPEndPoint target)
        {
            _target = target;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start(128);
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = Task.Run(AcceptLoopAsync);
        }

        public static FaultProxy For(Uri target) => new FaultProxy(target.Port);

        public int Port { get; }

        /// <summary>ws://127.0.0.1:port (add a path for the gateway).</summary>
        public Uri Uri => new Uri($"ws://127.0.0.1:{Port}");

        public Uri HttpUri => new Uri($"http://127.0.0.1:{Port}");

        // ---- counters ---------------------------------------------------------------------------------------

        public long ConnectionsAccepted => Interlocked.Read(ref _accepted);
        public long ConnectionsRefused => Interlocked.Read(ref _refused);
        public long BytesClientToServer => Interlocked.Read(ref _bytesUp);
        public long BytesServerToClient => Interlocked.Read(ref _bytesDown);
        public long BytesForwarded => BytesClientToServer + BytesServerToClient;
        public long FramesServerToClient => Interlocked.Read(ref _framesDown);

        /// <summary>Cuts (of any kind), stalls, refused connections and delay settings applied.</summary>
        public long FaultsInjected => Interlocked.Read(ref _faults);

        public int ActiveConnections => _links.Count;

        // ---- switches ---------------------------------------------------------------------------------------

        /// <summary>Latency added before forwarding each read, both directions. Zero turns it off.</summary>
        public TimeSpan Delay
        {
            get => TimeSpan.FromMilliseconds(Volatile.Read(ref _delayMs));
            set
            {
                Volatile.Write(ref _delayMs, (int)value.TotalMilliseconds);
                if (value > TimeSpan.Zero) Interlocked.Increment(ref _faults);
            }
        }

        public bool IsStalled { get { lock (_gate) return _stallGate != null; } }

        /// <summary>Stops forwarding in both directions; sockets stay open, data read meanwhile is held back.</summary>
        public void Stall()
        {
            lock (_gate)
            {
                if (_stallGate != null) return;
                _stallGate = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            Interlocked.Increment(ref _faults);
        }

        /// <summary>Resumes forwarding, the held data first.</summary>
        public void Unstall()
        {
            TaskCompletionSource<bool>? g;
            lock (_gate) { g = _stallGate; _stallGate = null; }
            g?.TrySetResult(true);
        }

        /// <summary>Forwards n more server-to-client bytes (over all connections), then aborts every connection.</summary>
        public void CutAfterBytes(long n) => Interlocked.Exchange(ref _cutAfterBytes, Math.Max(0, n));

        /// <summary>Forwards n more whole server-to-client WebSocket frames (after the 101 upgrade), then aborts every connection.</summary>
        public void CutAfterFrames(long n) => Interlocked.Exchange(ref _cutAfterFrames, Math.Max(0, n));

        /// <summary>New connections are accepted and closed at once (RST) until the time has passed.</summary>
        public void RefuseFor(TimeSpan duration)
        {
            Interlocked.Exchange(ref _refuseUntilTicks, DateTime.UtcNow.Add(duration).Ticks);
            Interlocked.Increment(ref _faults);
        }

        public void StopRefusing() => Interlocked.Exchange(ref _refuseUntilTicks, 0);

        public bool IsRefusing => DateTime.UtcNow.Ticks < Interlocked.Read(ref _refuseUntilTicks);

        /// <summary>Aborts every live connection (RST on both sides). Returns how many were cut.</summary>
        public int CutNow()
        {
            int n = 0;
            foreach (var pair in _links)
            {
                if (_links.TryRemove(pair.Key, out var link)) { link.Abort(); n++; }
            }
            if (n > 0) Interlocked.Increment(ref _faults);
            return n;
        }

        // ---- plumbing -----------------------------------------------------------------------------------------

        private async Task AcceptLoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket inbound;
                try { inbound = await _listener.AcceptSocketAsync(_stop.Token); }
                catch { return; }
                if (IsRefusing)
                {
                    Interlocked.Increment(ref _refused);
                    Abort(inbound);
                    continue;
                }
                Interlocked.Increment(ref _accepted);
                _ = Task.Run(() => RunLinkAsync(inbound));
            }
        }

        private async Task RunLinkAsync(Socket inbound)
        {
            var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                using var connectCts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                connectCts.CancelAfter(TimeSpan.FromSeconds(5));
                await outbound.ConnectAsync(_target, connectCts.Token);
            }
            catch
            {
                Abort(inbound);
                Abort(outbound);
                return;
            }
            inbound.NoDelay = outbound.NoDelay = true;
            var link = new Link(Interlocked.Increment(ref _linkIds), inbound, outbound);
            _links[link.Id] = link;
            if (_stop.IsCancellationRequested) { link.Abort(); _links.TryRemove(link.Id, out _); return; }
            try
            {
                var up = PumpAsync(link, inbound, outbound, toClient: false);
                var down = PumpAsync(link, outbound, inbound, toClient: true);
                await Task.WhenAny(up, down);
                // One side ended (FIN): pass the half-close on briefly, then drop both.
                await Task.WhenAny(Task.WhenAll(up, down), Task.Delay(200));
            }
            finally
            {
                _links.TryRemove(link.Id, out _);
                link.Abort();
            }
        }

        private async Task PumpAsync(Link link, Socket from, Socket to, bool toClient)
        {
            var buffer = new byte[64 * 1024];
            var frames = toClient ? new WebSocketFrameCounter() : null;
            try
            {
                while (!_stop.IsCancellationRequested && !link.Aborted)
                {
                    int n = await from.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, _stop.Token);
                    if (n == 0)
                    {
                        try { to.Shutdown(SocketShutdown.Send); } catch { }
                        return;
                    }
                    int delay = Volatile.Read(ref _delayMs);
                    if (delay > 0) await Task.Delay(delay, _stop.Token);
                    Task? stall;
                    lock (_gate) stall = _stallGate?.Task;
                    if (stall != null) await stall.WaitAsync(_stop.Token);
                    if (link.Aborted) return;

                    int forward = n;
                    bool cut = false;
                    if (toClient)
                    {
                        long allowedBytes = Interlocked.Read(ref _cutAfterBytes);
                        if (allowedBytes >= 0)
                        {
                            long left = Interlocked.Add(ref _cutAfterBytes, -n) + n;
                            if (left <= n)
                            {
                                forward = (int)Math.Max(0, Math.Min(n, left));
                                Interlocked.Exchange(ref _cutAfterBytes, -1);
                                cut = true;
                            }
                        }
                        int complete = frames!.Feed(buffer.AsSpan(0, forward), Interlocked.Read(ref _cutAfterFrames), out int consumed);
                        Interlocked.Add(ref _framesDown, complete);
                        if (Interlocked.Read(ref _cutAfterFrames) >= 0)
                        {
                            long left = Interlocked.Add(ref _cutAfterFrames, -complete);
                            if (left <= 0)
                            {
                                forward = consumed;
                                Interlocked.Exchange(ref _cutAfterFrames, -1);
                                cut = true;
                            }
                        }
                    }
                    int sent = 0;
                    while (sent < forward)
                        sent += await to.SendAsync(buffer.AsMemory(sent, forward - sent), SocketFlags.None, _stop.Token);
                    Interlocked.Add(ref toClient ? ref _bytesDown : ref _bytesUp, forward);
                    if (cut)
                    {
                        Interlocked.Increment(ref _faults);
                        // Give the bytes just sent a moment to leave before the RST discards them.
                        await Task.Delay(20);
                        CutNowNoCount();
                        return;
                    }
                }
            }
            catch
            {
                // a cut, an abort or dispose
            }
        }

        private void CutNowNoCount()
        {
            foreach (var pair in _links)
                if (_links.TryRemove(pair.Key, out var link)) link.Abort();
        }

        private static void Abort(Socket s)
        {
            try { s.LingerState = new LingerOption(true, 0); } catch { }
            try { s.Close(0); } catch { }
            try { s.Dispose(); } catch { }
        }

        public void Dispose()
        {
            if (_stop.IsCancellationRequested) return;
            _stop.Cancel();
            try { _listener.Stop(); } catch { }
            Unstall();
            CutNowNoCount();
        }

        private sealed class Link
        {
            private int _aborted;

            public Link(long id, Socket client, Socket server)
            {
                Id = id;
                Client = client;
                Server = server;
            }

            public long Id { get; }
            public Socket Client { get; }
            public Socket Server { get; }
            public bool Aborted => Volatile.Read(ref _aborted) != 0;

            public void Abort()
            {
                if (Interlocked.Exchange(ref _aborted, 1) != 0) return;
                FaultProxy.Abort(Client);
                FaultProxy.Abort(Server);
            }
        }
    }

    /// <summary>
    /// Counts WebSocket frames in a server-to-client byte stream: skips the HTTP response head, then only if it
    /// was a 101 parses frame headers (2 bytes, 16/64-bit extended length, optional mask) and skips payloads.
    /// </summary>
    public sealed class WebSocketFrameCounter
    {
        private enum State { HttpHead, Header, Payload, NotWebSocket }

        private State _state = State.HttpHead;
        private readonly byte[] _head = new byte[14];
        private int _headLength;
        private long _payloadLeft;
        private readonly System.Text.StringBuilder _http = new System.Text.StringBuilder();

        public long FramesSeen { get; private set; }

        /// <summary>
        /// Feeds bytes; returns how many frames completed in them. When stopAfter is 0 or more, stops at the end of
        /// the stopAfter-th completed frame and reports in consumed how many bytes that took (else data.Length).
        /// </summary>
        public int Feed(ReadOnlySpan<byte> data, long stopAfter, out int consumed)
        {
            int completed = 0;
            int i = 0;
            consumed = data.Length;
            if (stopAfter == 0) { consumed = 0; return 0; }
            while (i < data.Length)
            {
                switch (_state)
                {
                    case State.NotWebSocket:
                        return completed;
                    case State.HttpHead:
                        _http.Append((char)data[i++]);
                        if (_http.Length >= 4 && _http[_http.Length - 1] == '\n' && _http[_http.Length - 2] == '\r'
                            && _http[_http.Length - 3] == '\n' && _http[_http.Length - 4] == '\r')
                            _state = _http.ToString().StartsWith("HTTP/1.1 101", StringComparison.Ordinal) ? State.Header : State.NotWebSocket;
                        else if (_http.Length > 64 * 1024) _state = State.NotWebSocket;
                        break;
                    case State.Header:
                        _head[_headLength++] = data[i++];
                        int need = HeaderLength();
                        if (_headLength < need) break;
                        long len = _head[1] & 0x7F;
                        if (len == 126) len = (_head[2] << 8) | _head[3];
                        else if (len == 127) { len = 0; for (int k = 0; k < 8; k++) len = (len << 8) | _head[2 + k]; }
                        _headLength = 0;
                        _payloadLeft = len;
                        if (len == 0) { if (FrameDone(ref completed, stopAfter)) { consumed = i; return completed; } }
                        else _state = State.Payload;
                        break;
                    case State.Payload:
                        int take = (int)Math.Min(_payloadLeft, data.Length - i);
                        i += take;
                        _payloadLeft -= take;
                        if (_payloadLeft == 0)
                        {
                            _state = State.Header;
                            if (FrameDone(ref completed, stopAfter)) { consumed = i; return completed; }
                        }
                        break;
                }
            }
            return completed;
        }

        private bool FrameDone(ref int completed, long stopAfter)
        {
            completed++;
            FramesSeen++;
            return stopAfter > 0 && completed >= stopAfter;
        }

        private int HeaderLength()
        {
            if (_headLength < 2) return 2;
            int len7 = _head[1] & 0x7F;
            bool masked = (_head[1] & 0x80) != 0;
            return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
        }
    }
}
