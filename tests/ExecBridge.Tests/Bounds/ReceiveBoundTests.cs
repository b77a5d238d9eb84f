using System;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Rpc;
using ExecBridge.Tests.Rpc;
using Xunit;

namespace ExecBridge.Tests.Bounds
{
    /// <summary>Issue #16 item 1: every received message is bounded (a real server cannot be made to send an oversized answer).</summary>
    public sealed class ReceiveBoundTests : IDisposable
    {
        private readonly ScriptedWebSocketServer _server = new ScriptedWebSocketServer();

        public void Dispose() => _server.Dispose();

        /// <summary>A response whose "result" carries a string member of 'size' bytes.</summary>
        private static byte[] Answer(long id, int size)
        {
            var head = Encoding.ASCII.GetBytes($"{{\"id\":{id},\"result\":{{\"x\":\"");
            var tail = Encoding.ASCII.GetBytes("\"}}");
            var bytes = new byte[head.Length + size + tail.Length];
            head.CopyTo(bytes, 0);
            bytes.AsSpan(head.Length, size).Fill((byte)'a');
            tail.CopyTo(bytes, head.Length + size);
            return bytes;
        }

        private async Task<ExecBridgeException> OversizedAnswerAsync(int? bound, int size)
        {
            var rpc = bound == null
                ? await RpcConnection.ConnectAsync(_server.Uri, null, TimeSpan.FromSeconds(10), CancellationToken.None)
                : await RpcConnection.ConnectAsync(_server.Uri, null, TimeSpan.FromSeconds(10), CancellationToken.None, null, bound.Value);
            using (rpc)
            {
                var session = await _server.NextSessionAsync();
                var call = rpc.CallAsync("test/big", null, TimeSpan.FromSeconds(20), CancellationToken.None);
                var request = await session.ExpectAsync();
                await session.SendFrameAsync(0x1, Answer(request.Id, size), true);
                var ex = await Assert.ThrowsAnyAsync<ExecBridgeException>(async () => { using var _ = await call; });
                Assert.False(rpc.IsOpen);
                return ex;
            }
        }

        [Fact]
        public async Task A_message_over_the_default_64_MiB_closes_the_connection_with_ProtocolViolation()
        {
            var ex = await OversizedAnswerAsync(null, 64 * 1024 * 1024 + 4096);
            Assert.Equal(ExecBridgeErrorKind.ProtocolViolation, ex.Kind);
            Assert.Contains("67108864 bytes", ex.Message);
        }

        [Fact]
        public async Task A_message_over_a_set_bound_names_the_bound_and_the_size_received()
        {
            var ex = await OversizedAnswerAsync(1024 * 1024, 3 * 1024 * 1024);
            Assert.Equal(ExecBridgeErrorKind.ProtocolViolation, ex.Kind);
            Assert.Contains("more than 1048576 bytes", ex.Message);
        }

        [Fact]
        public async Task A_message_just_under_the_bound_is_delivered()
        {
            using var rpc = await RpcConnection.ConnectAsync(_server.Uri, null, TimeSpan.FromSeconds(10), CancellationToken.None, null, 1024 * 1024);
            var session = await _server.NextSessionAsync();
            var call = rpc.CallAsync("test/big", null, TimeSpan.FromSeconds(20), CancellationToken.None);
            var request = await session.ExpectAsync();
            await session.SendFrameAsync(0x1, Answer(request.Id, 1024 * 1024 - 64), true);
            using var response = await call;
            Assert.Equal(1024 * 1024 - 64, response.Result.GetProperty("x").GetString()!.Length);
            Assert.True(rpc.IsOpen);
        }
    }
}

namespace ExecBridge.Tests.Bounds
{
    using System.IO;
    using System.Net;
    using System.Net.Http;
    using ExecBridge.Client.Relay;

    /// <summary>Issue #16 item 1: the relay API's answer is bounded too (a gateway answering without end must not fill memory).</summary>
    public sealed class RelayBodyBoundTests
    {
        /// <summary>Answers every request with 'status' and an endless stream of bytes (no Content-Length).</summary>
        private sealed class EndlessHandler : HttpMessageHandler
        {
            public long Served;
            protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct) =>
                Task.FromResult(new HttpResponseMessage(HttpStatusCode.Created) { Content = new StreamContent(new Endless(this)) });

            private sealed class Endless : Stream
            {
                private readonly EndlessHandler _owner;
                public Endless(EndlessHandler owner) { _owner = owner; }
                public override int Read(byte[] buffer, int offset, int count)
                {
                    buffer.AsSpan(offset, count).Fill((byte)'x');
                    _owner.Served += count;
                    return count;
                }
                public override bool CanRead => true;
                public override bool CanSeek => false;
                public override bool CanWrite => false;
                public override long Length => throw new NotSupportedException();
                public override long Position { get => 0; set => throw new NotSupportedException(); }
                public override void Flush() { }
                public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
                public override void SetLength(long value) => throw new NotSupportedException();
                public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            }
        }

        [Fact]
        public async Task An_endless_relay_API_answer_is_refused_at_the_bound_with_ProtocolViolation()
        {
            var handler = new EndlessHandler();
            using var api = new RelayApiClient(new RelaySettings(new Uri("http://gateway.invalid/"), "ws-1", "s3cret-value"), handler);
            var create = api.CreateTicketAsync("a", "b", TimeSpan.FromMinutes(1), 1024, CancellationToken.None);
            var finished = await Task.WhenAny(create, Task.Delay(TimeSpan.FromSeconds(20)));
            Assert.Same(create, finished);
            var ex = await Assert.ThrowsAsync<RelayApiException>(() => create);
            Assert.Equal(ExecBridgeErrorKind.ProtocolViolation, ex.Kind);
            Assert.Contains("1048576", ex.Message);
            Assert.DoesNotContain("s3cret", ex.Message);
            Assert.InRange(handler.Served, 1, 8L * 1024 * 1024);
        }
    }
}
