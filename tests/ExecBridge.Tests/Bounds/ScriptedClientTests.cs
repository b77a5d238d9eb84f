using System;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Tests.Faults;
using ExecBridge.Tests.Rpc;
using Xunit;

namespace ExecBridge.Tests.Bounds
{
    /// <summary>Issue #16 items 5 and 8: answers of the wrong shape and misleading messages, where only a scripted server can provoke them.</summary>
    public sealed class ScriptedClientTests : IDisposable
    {
        private readonly ScriptedWebSocketServer _server = new ScriptedWebSocketServer();

        public void Dispose() => _server.Dispose();

        private ExecutorClient NewClient(double timeoutSec = 5) =>
            new ExecutorClient(new ExecutorEndpoint("scripted", _server.Uri, null)
            {
                RequestTimeout = TimeSpan.FromSeconds(timeoutSec),
                ConnectTimeout = TimeSpan.FromSeconds(5),
            });

        /// <summary>Connects through a normal handshake and returns the session for the script to go on.</summary>
        private async Task<ScriptedSession> ConnectAsync(ExecutorClient client)
        {
            var connect = client.EnsureConnectedAsync(CancellationToken.None);
            var session = await _server.NextSessionAsync();
            Assert.True(await HostileServerTests.HandshakeAsync(session));
            await connect;
            return session;
        }

        [Theory]
        [InlineData("null")]
        [InlineData("42")]
        [InlineData("[]")]
        [InlineData(null)]
        public async Task A_result_that_is_not_an_object_is_ProtocolViolation_not_success(string? result)
        {
            using var client = NewClient();
            var session = await ConnectAsync(client);
            var remove = client.CallAsync("fs/remove", null, CancellationToken.None);
            var request = await HostileServerTests.NextRequestAsync(session, "fs/remove", TimeSpan.FromSeconds(5));
            await session.SendTextAsync(result == null ? $"{{\"id\":{request!.Id}}}" : $"{{\"id\":{request!.Id},\"result\":{result}}}");
            var ex = await Assert.ThrowsAsync<ExecBridgeException>(async () => { using var _ = await remove; });
            Assert.Equal(ExecBridgeErrorKind.ProtocolViolation, ex.Kind);
            Assert.Contains("fs/remove", ex.Message);
        }

        [Fact]
        public async Task A_sessionId_that_is_a_number_is_ProtocolViolation()
        {
            using var client = NewClient();
            var connect = client.EnsureConnectedAsync(CancellationToken.None);
            var session = await _server.NextSessionAsync();
            var init = await session.ExpectAsync();
            await session.RespondAsync(init.Id, "{\"sessionId\":42}");
            var ex = await Assert.ThrowsAsync<ExecBridgeException>(() => connect);
            Assert.Equal(ExecBridgeErrorKind.ProtocolViolation, ex.Kind);
            Assert.Contains("sessionId", ex.Message);
        }

        [Theory]
        [InlineData("{\"isFile\":true,\"size\":\"big\"}")]
        [InlineData("{\"isFile\":true,\"size\":1e40}")]
        [InlineData("{\"isFile\":true,\"size\":-5}")]
        public async Task Metadata_with_a_size_that_is_not_a_byte_count_is_ProtocolViolation(string metadata)
        {
            using var client = NewClient();
            var session = await ConnectAsync(client);
            var get = client.GetMetadataAsync("/x", CancellationToken.None);
            var request = await HostileServerTests.NextRequestAsync(session, "fs/getMetadata", TimeSpan.FromSeconds(5));
            await session.RespondAsync(request!.Id, metadata);
            var ex = await Assert.ThrowsAsync<ExecBridgeException>(() => get);
            Assert.Equal(ExecBridgeErrorKind.ProtocolViolation, ex.Kind);
            Assert.Contains("'/x'", ex.Message);
        }

        [Fact]
        public async Task A_timeout_after_a_resend_names_the_callers_limit_not_the_time_that_was_left()
        {
            using var client = NewClient(timeoutSec: 2);
            var first = await ConnectAsync(client);
            var get = client.GetMetadataAsync("/x", CancellationToken.None);
            await HostileServerTests.NextRequestAsync(first, "fs/getMetadata", TimeSpan.FromSeconds(5));
            await Task.Delay(300);
            first.Abort(); // read-only: the client redials and sends it again
            var second = await _server.NextSessionAsync();
            var init = await second.ExpectAsync();
            await second.RespondAsync(init.Id, "{\"sessionId\":\"s-1\"}");
            // ...and the resent request is never answered.
            var ex = await Assert.ThrowsAsync<ExecBridgeException>(() => get);
            Assert.Equal(ExecBridgeErrorKind.Timeout, ex.Kind);
            Assert.Contains("within 2 s", ex.Message);
        }

        [Fact]
        public async Task Output_missing_at_close_that_cannot_be_read_back_does_not_claim_a_reconnect()
        {
            using var client = NewClient();
            var session = await ConnectAsync(client);
            var start = client.StartProcessAsync(new ProcessStartSpec { Argv = new[] { "true" } }, CancellationToken.None);
            var request = await HostileServerTests.NextRequestAsync(session, "process/start", TimeSpan.FromSeconds(5));
            var pid = request!.Json().GetProperty("params").GetProperty("processId").GetString();
            await session.RespondAsync(request.Id, $"{{\"processId\":\"{pid}\"}}");
            var handle = await start;
            await session.SendTextAsync($"{{\"method\":\"process/closed\",\"params\":{{\"processId\":\"{pid}\",\"seq\":4}}}}");
            var waits = Task.Run(async () =>
            {
                while (!handle.IsFinished) await client.WaitForOutputAsync(handle, TimeSpan.FromMilliseconds(200), CancellationToken.None);
            });
            var read = await HostileServerTests.NextRequestAsync(session, "process/read", TimeSpan.FromSeconds(5));
            await session.RespondErrorAsync(read!.Id, -32600, $"unknown process id {pid}");
            await waits.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(ExecBridgeErrorKind.OutputLost, handle.Failure!.Kind);
            Assert.DoesNotContain("reconnect", handle.Failure.Message);
            Assert.Contains("closed with output missing", handle.Failure.Message);
            Assert.Equal(0, client.ReconnectCount);
        }
    }
}
