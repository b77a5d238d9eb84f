using System;
using System.Buffers;
using System.Buffers.Text;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Bench
{
    /// <summary>What the floor needs to know about one received message; spans point into the receive buffer.</summary>
    internal ref struct Frame
    {
        public long Id;            // -1 when the message has no numeric id (a notification)
        public bool IsError;
        public string? ErrorText;
        public FrameMethod Method;
        public ReadOnlySpan<byte> Chunk; // params.chunk or result.chunk, base64 (no escapes in server output)
        public bool ChunkPresent;
        public bool Eof;
    }

    internal enum FrameMethod { None, Output, Exited, Closed, Other }

    /// <summary>
    /// THE BARE FLOOR: the same JSON-RPC calls over a plain ClientWebSocket, with no pool, no dispatcher, no
    /// object model. One reusable receive buffer, one reusable send buffer, Utf8JsonReader to find the few
    /// fields that matter, Base64.DecodeFromUtf8 into a reusable buffer. Not thread-safe: one caller.
    /// </summary>
    internal sealed class BareClient : IDisposable
    {
        private readonly ClientWebSocket _ws = new ClientWebSocket();
        private byte[] _rx = new byte[256 * 1024];
        private int _rxLen;
        private readonly ArrayBufferWriter<byte> _tx = new ArrayBufferWriter<byte>(64 * 1024);
        private long _nextId;

        public static async Task<BareClient> ConnectAsync(Uri uri, CancellationToken ct)
        {
            var c = new BareClient();
            await c._ws.ConnectAsync(uri, ct);
            long id = await c.SendAsync("initialize", w => { w.WriteStartObject(); w.WriteString("clientName", "bench-floor"); w.WriteEndObject(); }, ct);
            while (true)
            {
                var mem = await c.ReceiveAsync(ct);
                var f = Parse(mem.Span);
                if (f.Id == id) { if (f.IsError) throw new InvalidOperationException("initialize failed: " + f.ErrorText); break; }
            }
            var initialized = Encoding.UTF8.GetBytes("{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}");
            await c._ws.SendAsync(initialized, WebSocketMessageType.Text, true, ct);
            return c;
        }

        /// <summary>process/start with a minimal PATH and no tty; the same request every floor sends. Returns its id.</summary>
        public ValueTask<long> StartProcessAsync(string processId, string[] argv, string cwd, bool pipeStdin, CancellationToken ct) =>
            SendAsync("process/start", w =>
            {
                w.WriteStartObject();
                w.WriteString("processId", processId);
                w.WriteStartArray("argv");
                foreach (var a in argv) w.WriteStringValue(a);
                w.WriteEndArray();
                w.WriteString("cwd", cwd);
                w.WriteStartObject("env"); w.WriteString("PATH", "/usr/bin:/bin"); w.WriteEndObject();
                w.WriteBoolean("tty", false);
                if (pipeStdin) w.WriteBoolean("pipeStdin", true);
                w.WriteEndObject();
            }, ct);

        /// <summary>The id the next request will carry (a dispatcher registers it before sending).</summary>
        public long NextId => _nextId + 1;

        /// <summary>Sends one request; returns its id.</summary>
        public async ValueTask<long> SendAsync(string method, Action<Utf8JsonWriter> writeParams, CancellationToken ct)
        {
            long id = ++_nextId;
            _tx.ResetWrittenCount();
            using (var w = new Utf8JsonWriter(_tx))
            {
                w.WriteStartObject();
                w.WriteString("jsonrpc", "2.0");
                w.WriteNumber("id", id);
                w.WriteString("method", method);
                w.WritePropertyName("params");
                writeParams(w);
                w.WriteEndObject();
            }
            // Requests here stay far below the 16 MiB frame limit (a 1 MiB writeBlock is ~1.4 MiB), so one frame.
            await _ws.SendAsync(_tx.WrittenMemory, WebSocketMessageType.Text, true, ct);
            return id;
        }

        /// <summary>Receives one whole message; the memory is valid until the next call.</summary>
        public async ValueTask<ReadOnlyMemory<byte>> ReceiveAsync(CancellationToken ct)
        {
            _rxLen = 0;
            while (true)
            {
                if (_rx.Length - _rxLen < 64 * 1024) Array.Resize(ref _rx, _rx.Length * 2);
                var r = await _ws.ReceiveAsync(_rx.AsMemory(_rxLen), ct);
                if (r.MessageType == WebSocketMessageType.Close) throw new InvalidOperationException("The server closed the connection.");
                _rxLen += r.Count;
                if (r.EndOfMessage) return new ReadOnlyMemory<byte>(_rx, 0, _rxLen);
            }
        }

        /// <summary>Receives until the response with this id; throws on an error response. Notifications are skipped.</summary>
        public async ValueTask<ReadOnlyMemory<byte>> ReceiveResponseAsync(long id, CancellationToken ct)
        {
            while (true)
            {
                var mem = await ReceiveAsync(ct);
                var f = Parse(mem.Span);
                if (f.Id != id) continue;
                if (f.IsError) throw new InvalidOperationException($"request {id} failed: {f.ErrorText}");
                return mem;
            }
        }

        public async Task CallAsync(string method, Action<Utf8JsonWriter> writeParams, CancellationToken ct)
        {
            long id = await SendAsync(method, writeParams, ct);
            await ReceiveResponseAsync(id, ct);
        }

        /// <summary>Decodes base64 into 'dest' (which must be large enough); returns the byte count.</summary>
        public static int DecodeChunk(ReadOnlySpan<byte> base64, byte[] dest)
        {
            var status = Base64.DecodeFromUtf8(base64, dest, out _, out int written);
            if (status != OperationStatus.Done) throw new InvalidOperationException("bad base64 from the server: " + status);
            return written;
        }

        /// <summary>Finds id, error, method and the chunk/eof fields of a params or result object. Nothing is allocated.</summary>
        public static Frame Parse(ReadOnlySpan<byte> json)
        {
            var f = new Frame { Id = -1 };
            var r = new Utf8JsonReader(json);
            r.Read(); // StartObject
            while (r.Read())
            {
                if (r.TokenType == JsonTokenType.EndObject && r.CurrentDepth == 0) break;
                if (r.TokenType != JsonTokenType.PropertyName) continue;
                if (r.ValueTextEquals("id"u8))
                {
                    r.Read();
                    if (r.TokenType == JsonTokenType.Number) f.Id = r.GetInt64();
                }
                else if (r.ValueTextEquals("method"u8))
                {
                    r.Read();
                    f.Method = r.ValueTextEquals("process/output"u8) ? FrameMethod.Output
                        : r.ValueTextEquals("process/exited"u8) ? FrameMethod.Exited
                        : r.ValueTextEquals("process/closed"u8) ? FrameMethod.Closed : FrameMethod.Other;
                }
                else if (r.ValueTextEquals("error"u8))
                {
                    f.IsError = true;
                    int start = (int)r.TokenStartIndex;
                    r.Read();
                    r.Skip();
                    f.ErrorText = Encoding.UTF8.GetString(json.Slice(start, (int)r.BytesConsumed - start));
                }
                else if (r.ValueTextEquals("params"u8) || r.ValueTextEquals("result"u8))
                {
                    r.Read();
                    if (r.TokenType != JsonTokenType.StartObject) { r.Skip(); continue; }
                    while (r.Read() && !(r.TokenType == JsonTokenType.EndObject && r.CurrentDepth == 1))
                    {
                        if (r.TokenType != JsonTokenType.PropertyName) continue;
                        if (r.ValueTextEquals("chunk"u8))
                        {
                            r.Read();
                            if (r.ValueIsEscaped) throw new InvalidOperationException("escaped base64 (unexpected)");
                            f.Chunk = r.ValueSpan;
                            f.ChunkPresent = true;
                        }
                        else if (r.ValueTextEquals("eof"u8))
                        {
                            r.Read();
                            f.Eof = r.TokenType == JsonTokenType.True;
                        }
                        else
                        {
                            r.Read();
                            r.Skip();
                        }
                    }
                }
                else
                {
                    r.Read();
                    r.Skip();
                }
            }
            return f;
        }

        public void Dispose()
        {
            try { _ws.Abort(); } catch { }
            _ws.Dispose();
        }
    }
}
