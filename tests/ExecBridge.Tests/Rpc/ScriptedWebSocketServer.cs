using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;

namespace ExecBridge.Tests.Rpc
{
    /// <summary>
    /// A loopback WebSocket server written directly on a TCP socket (RFC 6455 by hand), so a test can make it do
    /// what a real exec-server never does: garbage frames, out-of-order or unknown-id answers, silence, a close in
    /// the middle of a frame, an HTTP 401 on the upgrade. Every frame the client sends is recorded.
    /// </summary>
    public sealed class ScriptedWebSocketServer : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly Channel<ScriptedSession> _sessions = Channel.CreateUnbounded<ScriptedSession>();
        private readonly ConcurrentQueue<ScriptedSession> _all = new ConcurrentQueue<ScriptedSession>();
        private readonly ConcurrentQueue<IReadOnlyDictionary<string, string>> _upgradeRequests =
            new ConcurrentQueue<IReadOnlyDictionary<string, string>>();

        public ScriptedWebSocketServer()
        {
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = Task.Run(AcceptLoopAsync);
        }

        public int Port { get; }
        public Uri Uri => new Uri($"ws://127.0.0.1:{Port}/");

        /// <summary>When set (e.g. 401), the upgrade is answered with this HTTP status and the body, then closed.</summary>
        public int? RejectUpgradeStatus { get; set; }
        public string RejectBody { get; set; } = "invalid websocket bearer token";

        /// <summary>When set, the upgrade is answered with this text (given the correct Sec-WebSocket-Accept) and the
        /// connection is then kept open but silent; an empty string answers nothing at all.</summary>
        public Func<string, string>? UpgradeResponse { get; set; }

        /// <summary>Headers (lower-case names) of every upgrade request seen, accepted or not.</summary>
        public IReadOnlyCollection<IReadOnlyDictionary<string, string>> UpgradeRequests => _upgradeRequests;

        /// <summary>The next connection whose upgrade was accepted.</summary>
        public async Task<ScriptedSession> NextSessionAsync(TimeSpan? timeout = null)
        {
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
            return await _sessions.Reader.ReadAsync(cts.Token);
        }

        private async Task AcceptLoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch { return; }
                _ = Task.Run(() => HandshakeAsync(client));
            }
        }

        private async Task HandshakeAsync(TcpClient client)
        {
            try
            {
                client.NoDelay = true;
                var stream = client.GetStream();
                var headers = await ReadHttpHeadersAsync(stream);
                _upgradeRequests.Enqueue(headers);
                if (RejectUpgradeStatus is int status)
                {
                    var body = Encoding.UTF8.GetBytes(RejectBody);
                    var head = $"HTTP/1.1 {status} Rejected\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
                    await stream.WriteAsync(body);
                    await stream.FlushAsync();
                    client.Close();
                    return;
                }
                headers.TryGetValue("sec-websocket-key", out var key);
                string accept;
                using (var sha1 = SHA1.Create())
                    accept = Convert.ToBase64String(sha1.ComputeHash(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
                if (UpgradeResponse != null)
                {
                    var scripted = UpgradeResponse(accept);
                    if (scripted.Length > 0) await stream.WriteAsync(Encoding.ASCII.GetBytes(scripted));
                    _ = HoldOpenAsync(client);
                    return;
                }
                var response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                               $"Sec-WebSocket-Accept: {accept}\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(response));
                var session = new ScriptedSession(client, headers);
                _all.Enqueue(session);
                session.Start();
                await _sessions.Writer.WriteAsync(session);
            }
            catch
            {
                client.Dispose();
            }
        }

        private async Task HoldOpenAsync(TcpClient client)
        {
            try { await Task.Delay(Timeout.Infinite, _stop.Token); } catch { }
            client.Dispose();
        }

        private static async Task<Dictionary<string, string>> ReadHttpHeadersAsync(NetworkStream stream)
        {
            var bytes = new List<byte>();
            var one = new byte[1];
            while (true)
            {
                int n = await stream.ReadAsync(one, 0, 1);
                if (n == 0) throw new IOException("closed during upgrade");
                bytes.Add(one[0]);
                int c = bytes.Count;
                if (c >= 4 && bytes[c - 4] == '\r' && bytes[c - 3] == '\n' && bytes[c - 2] == '\r' && bytes[c - 1] == '\n') break;
                if (c > 64 * 1024) throw new IOException("upgrade request too large");
            }
            var lines = Encoding.ASCII.GetString(bytes.ToArray()).Split("\r\n");
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { [":request-line"] = lines[0] };
            foreach (var line in lines)
            {
                int colon = line.IndexOf(':');
                if (colon > 0) headers[line.Substring(0, colon).Trim().ToLowerInvariant()] = line.Substring(colon + 1).Trim();
            }
            return headers;
        }

        public void Dispose()
        {
            _stop.Cancel();
            try { _listener.Stop(); } catch { }
            foreach (var s in _all) s.Abort();
        }
    }

    /// <summary>One frame the client sent: opcode, FIN bit and payload length.</summary>
    public readonly record struct FrameInfo(int Opcode, bool Fin, int Length);

    /// <summary>One whole data message the client sent (fragments joined).</summary>
    public sealed class ReceivedMessage
    {
        public ReceivedMessage(int opcode, byte[] payload, IReadOnlyList<FrameInfo> frames)
        {
            Opcode = opcode;
            Payload = payload;
            Frames = frames;
        }

        public int Opcode { get; }
        public byte[] Payload { get; }
        public IReadOnlyList<FrameInfo> Frames { get; }
        public string Text => Encoding.UTF8.GetString(Payload);

        public JsonElement Json()
        {
            using var doc = JsonDocument.Parse(Payload);
            return doc.RootElement.Clone();
        }

        public long Id => Json().GetProperty("id").GetInt64();
        public string Method => Json().GetProperty("method").GetString()!;
    }

    /// <summary>The server side of one accepted WebSocket connection; the test drives it.</summary>
    public sealed class ScriptedSession
    {
        private readonly TcpClient _client;
        private readonly NetworkStream _stream;
        private readonly SemaphoreSlim _writeLock = new SemaphoreSlim(1, 1);
        private readonly Channel<ReceivedMessage> _messages = Channel.CreateUnbounded<ReceivedMessage>();
        private readonly ConcurrentQueue<FrameInfo> _frames = new ConcurrentQueue<FrameInfo>();
        private int _dataMessages;

        internal ScriptedSession(TcpClient client, IReadOnlyDictionary<string, string> headers)
        {
            _client = client;
            _stream = client.GetStream();
            UpgradeHeaders = headers;
        }

        public IReadOnlyDictionary<string, string> UpgradeHeaders { get; }

        /// <summary>Every frame received so far, control frames included.</summary>
        public IReadOnlyCollection<FrameInfo> Frames => _frames;

        /// <summary>How many data messages (text/binary) the client has sent so far.</summary>
        public int DataMessageCount => Volatile.Read(ref _dataMessages);

        /// <summary>Completes when the client's side of the TCP stream ended or broke.</summary>
        public Task Completion { get; private set; } = Task.CompletedTask;

        internal void Start() => Completion = Task.Run(ReadLoopAsync);

        /// <summary>The next whole data message from the client, or null when none came in time / the client left.</summary>
        public async Task<ReceivedMessage?> ReceiveAsync(TimeSpan? timeout = null)
        {
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
            try { return await _messages.Reader.ReadAsync(cts.Token); }
            catch (OperationCanceledException) { return null; }
            catch (ChannelClosedException) { return null; }
        }

        /// <summary>Like ReceiveAsync but fails the test when nothing arrives.</summary>
        public async Task<ReceivedMessage> ExpectAsync(TimeSpan? timeout = null) =>
            await ReceiveAsync(timeout) ?? throw new TimeoutException("The client sent no message in time.");

        /// <summary>True when a message is waiting that nobody has received yet.</summary>
        public bool HasPendingMessage => _messages.Reader.TryPeek(out _);

        private async Task ReadLoopAsync()
        {
            var fragments = new MemoryStream();
            var fragmentFrames = new List<FrameInfo>();
            int messageOpcode = 0;
            try
            {
                while (true)
                {
                    var head = await ReadExactAsync(2);
                    if (head == null) break;
                    bool fin = (head[0] & 0x80) != 0;
                    int opcode = head[0] & 0x0F;
                    bool masked = (head[1] & 0x80) != 0;
                    long len = head[1] & 0x7F;
                    if (len == 126)
                    {
                        var ext = await ReadExactAsync(2) ?? throw new IOException("eof");
                        len = (ext[0] << 8) | ext[1];
                    }
                    else if (len == 127)
                    {
                        var ext = await ReadExactAsync(8) ?? throw new IOException("eof");
                        len = 0;
                        for (int i = 0; i < 8; i++) len = (len << 8) | ext[i];
                    }
                    byte[] mask = masked ? await ReadExactAsync(4) ?? throw new IOException("eof") : Array.Empty<byte>();
                    var payload = len == 0 ? Array.Empty<byte>() : await ReadExactAsync(checked((int)len)) ?? throw new IOException("eof");
                    if (masked) for (int i = 0; i < payload.Length; i++) payload[i] ^= mask[i & 3];
                    var info = new FrameInfo(opcode, fin, payload.Length);
                    _frames.Enqueue(info);

                    switch (opcode)
                    {
                        case 0x8: // close: answer and stop
                            try { await SendFrameAsync(0x8, payload.Length >= 2 ? payload.AsSpan(0, 2).ToArray() : Array.Empty<byte>(), true); } catch { }
                            return;
                        case 0x9: // ping
                            try { await SendFrameAsync(0xA, payload, true); } catch { }
                            continue;
                        case 0xA: // pong
                            continue;
                    }

                    if (opcode != 0) { messageOpcode = opcode; fragments.SetLength(0); fragmentFrames.Clear(); }
                    fragments.Write(payload);
                    fragmentFrames.Add(info);
                    if (fin)
                    {
                        Interlocked.Increment(ref _dataMessages);
                        await _messages.Writer.WriteAsync(new ReceivedMessage(messageOpcode, fragments.ToArray(), fragmentFrames.ToArray()));
                        fragments.SetLength(0);
                        fragmentFrames.Clear();
                    }
                }
            }
            catch
            {
                // the connection broke; Completion ends
            }
            finally
            {
                _messages.Writer.TryComplete();
            }
        }

        private async Task<byte[]?> ReadExactAsync(int count)
        {
            var buffer = new byte[count];
            int read = 0;
            while (read < count)
            {
                int n = await _stream.ReadAsync(buffer, read, count - read);
                if (n == 0)
                {
                    if (read == 0) return null;
                    throw new IOException("eof inside a frame");
                }
                read += n;
            }
            return buffer;
        }

        public Task SendTextAsync(string text) => SendFrameAsync(0x1, Encoding.UTF8.GetBytes(text), true);

        public Task SendBinaryAsync(byte[] data) => SendFrameAsync(0x2, data, true);

        /// <summary>Answers a request with {"id":id,"result":resultJson} (no "jsonrpc", like the real server).</summary>
        public Task RespondAsync(long id, string resultJson = "{}") => SendTextAsync($"{{\"id\":{id},\"result\":{resultJson}}}");

        public Task RespondErrorAsync(long id, int code, string message) =>
            SendTextAsync($"{{\"id\":{id},\"error\":{{\"code\":{code},\"message\":{JsonSerializer.Serialize(message)}}}}}");

        /// <summary>Writes one unmasked frame.</summary>
        public async Task SendFrameAsync(int opcode, byte[] payload, bool fin)
        {
            var header = FrameHeader(opcode, payload.Length, fin);
            await _writeLock.WaitAsync();
            try
            {
                await _stream.WriteAsync(header);
                await _stream.WriteAsync(payload);
                await _stream.FlushAsync();
            }
            finally { _writeLock.Release(); }
        }

        /// <summary>Announces a text frame of declaredLength bytes, sends only the first bytes of it, then resets the TCP connection.</summary>
        public async Task SendPartialFrameThenAbortAsync(int declaredLength, byte[] firstBytes)
        {
            var header = FrameHeader(0x1, declaredLength, true);
            await _writeLock.WaitAsync();
            try
            {
                await _stream.WriteAsync(header);
                await _stream.WriteAsync(firstBytes);
                await _stream.FlushAsync();
                await Task.Delay(50);
            }
            finally { _writeLock.Release(); }
            Abort();
        }

        /// <summary>Resets the TCP connection (RST, no close frame).</summary>
        public void Abort()
        {
            try { _client.Client.LingerState = new LingerOption(true, 0); } catch { }
            try { _client.Client.Close(0); } catch { }
            try { _client.Dispose(); } catch { }
        }

        private static byte[] FrameHeader(int opcode, long length, bool fin)
        {
            byte first = (byte)((fin ? 0x80 : 0) | (opcode & 0x0F));
            if (length < 126) return new[] { first, (byte)length };
            if (length <= ushort.MaxValue) return new[] { first, (byte)126, (byte)(length >> 8), (byte)length };
            var h = new byte[10];
            h[0] = first;
            h[1] = 127;
            for (int i = 0; i < 8; i++) h[9 - i] = (byte)(length >> (8 * i));
            return h;
        }
    }
}
