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
