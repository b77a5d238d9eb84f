using System;
using System.IO;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Client.Rpc
{
    /// <summary>
    /// Runs the connect path once against an in-memory peer, on a pool thread, when the module is imported: the
    /// first Connect-ExecBridge of a session then finds that code compiled (JIT) instead of compiling it while the
    /// user waits. Nothing goes over the network; every failure is swallowed (it only costs the warm-up).
    /// </summary>
    public static class WarmUp
    {
        private static int _started;

        public static void Start()
        {
            if (Interlocked.Exchange(ref _started, 1) == 1) return;
            Task.Run(async () =>
            {
                try { await RunAsync().ConfigureAwait(false); }
                catch { }
            });
        }

        private static async Task RunAsync()
        {
            // The pieces of a real handshake: socket object, upgrade key and accept check.
            using (new Socket(SocketType.Stream, ProtocolType.Tcp)) { }
            using (var sha1 = SHA1.Create()) sha1.ComputeHash(Encoding.ASCII.GetBytes(Guid.NewGuid().ToString()));
            _ = WebSocketDialer.ProxyApplies(new Uri("ws://127.0.0.1:1/"));

            var answer = Encoding.UTF8.GetBytes("{\"id\":1,\"result\":{\"sessionId\":\"warm-up\"}}");
            var peer = new ScriptedPeerStream(ServerTextFrame(answer));
            using var socket = WebSocketDialer.CreateOverStream(peer);
            if (socket == null) return;
            using var connection = RpcConnection.Over(socket, new Uri("ws://127.0.0.1:1/"), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            using var reply = await connection.CallAsync("initialize", w =>
            {
                w.WriteStartObject();
                w.WriteString("clientName", "warm-up");
                w.WriteEndObject();
            }, TimeSpan.FromSeconds(5), cts.Token).ConfigureAwait(false);
            if (reply.Result.ValueKind == JsonValueKind.Object && reply.Result.TryGetProperty("sessionId", out var sid)) _ = sid.GetString();
        }

        /// <summary>An unmasked, final text frame as a server sends it.</summary>
        private static byte[] ServerTextFrame(byte[] payload)
        {
            var frame = new byte[2 + payload.Length];
            frame[0] = 0x81;
            frame[1] = (byte)payload.Length; // < 126 here
            Buffer.BlockCopy(payload, 0, frame, 2, payload.Length);
            return frame;
        }

        /// <summary>Reads return the scripted bytes once the client has written something (its request), then end.</summary>
        private sealed class ScriptedPeerStream : Stream
        {
            private readonly byte[] _toClient;
            private readonly SemaphoreSlim _requestSeen = new SemaphoreSlim(0, 1);
            private int _position;
            private int _written;

            public ScriptedPeerStream(byte[] toClient) { _toClient = toClient; }

            public override bool CanRead => true;
            public override bool CanSeek => false;
            public override bool CanWrite => true;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();

            public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

            public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                if (_position == 0) await _requestSeen.WaitAsync(cancellationToken).ConfigureAwait(false);
                int n = Math.Min(count, _toClient.Length - _position);
                Buffer.BlockCopy(_toClient, _position, buffer, offset, n);
                _position += n;
                return n;
            }

            public override void Write(byte[] buffer, int offset, int count)
            {
                if (Interlocked.Exchange(ref _written, 1) == 0) _requestSeen.Release();
            }

            public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                Write(buffer, offset, count);
                return Task.CompletedTask;
            }
        }
    }
}
