using System;
using System.IO;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Rpc;
using Xunit;

namespace ExecBridge.Tests.Rpc
{
    /// <summary>The JSON-RPC layer against a scripted server, for what real exec-servers cannot be made to do.</summary>
    public sealed class RpcConnectionTests : IDisposable
    {
        private static readonly TimeSpan Long = TimeSpan.FromSeconds(20);
        private readonly ScriptedWebSocketServer _server = new ScriptedWebSocketServer();

        public void Dispose() => _server.Dispose();

        private async Task<(RpcConnection Rpc, ScriptedSession Session)> ConnectAsync(string? token = null)
        {
            var rpc = await RpcConnection.ConnectAsync(_server.Uri, token, TimeSpan.FromSeconds(10), CancellationToken.None);
            var session = await _server.NextSessionAsync();
            return (rpc, session);
        }

        private static Action<Utf8JsonWriter> Params(string name, string value) => w =>
        {
            w.WriteStartObject();
            w.WriteString(name, value);
            w.WriteEndObject();
        };

        /// <summary>Serves one request: answers with {"echo": params.tag}.</summary>
        private static async Task AnswerEchoAsync(ScriptedSession session)
        {
            var request = await session.ExpectAsync();
            var json = request.Json();
            var tag = json.GetProperty("params").GetProperty("tag").GetString();
            await session.RespondAsync(json.GetProperty("id").GetInt64(), $"{{\"echo\":{JsonSerializer.Serialize(tag)}}}");
        }

        private static async Task<string> EchoCallAsync(RpcConnection rpc, string tag, TimeSpan? timeout = null)
        {
            using var response = await rpc.CallAsync("test/echo", Params("tag", tag), timeout ?? Long, CancellationToken.None);
            return response.Result.GetProperty("echo").GetString()!;
        }

        [Fact]
        public async Task RequestIsWellFormedJsonRpc()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                var call = EchoCallAsync(rpc, "x");
                var request = await session.ExpectAsync();
                var json = request.Json();
                Assert.Equal(1, request.Opcode); // text frame
                Assert.Equal("2.0", json.GetProperty("jsonrpc").GetString());
                Assert.Equal("test/echo", json.GetProperty("method").GetString());
                Assert.Equal("x", json.GetProperty("params").GetProperty("tag").GetString());
                await session.RespondAsync(request.Id, "{\"echo\":\"x\"}");
                Assert.Equal("x", await call);
                // permessage-deflate is never offered (legacy servers drop the handshake on it).
                Assert.False(session.UpgradeHeaders.ContainsKey("sec-websocket-extensions"));
            }
        }

        [Fact]
        public async Task GarbageFramesAreIgnoredAndLaterCallsSucceed()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                var notifications = new ConcurrentQueue<string>();
                rpc.NotificationHandler = (m, _) => notifications.Enqueue(m);

                var first = EchoCallAsync(rpc, "before");
                var request = await session.ExpectAsync();

                var junk = new byte[4096];
                new Random(42).NextBytes(junk);
                junk[0] = 0xFF; // never valid UTF-8 / JSON
                await session.SendTextAsync("this is not json");
                await session.SendTextAsync("{\"id\":");
                await session.SendTextAsync("[1,2,3]");
                await session.SendTextAsync($"[{{\"id\":{request.Id},\"result\":{{\"echo\":\"batch\"}}}}]");
                await session.SendTextAsync("42");
                await session.SendTextAsync("null");
                await session.SendTextAsync("");
                await session.SendTextAsync("{}");
                await session.SendTextAsync("{\"id\":\"abc\",\"result\":{}}");
                await session.SendTextAsync("{\"id\":{\"nested\":1},\"result\":{}}");
                await session.SendTextAsync("{\"id\":1.5e300,\"result\":{}}");
                await session.SendTextAsync("{\"method\":42,\"params\":{}}");
                await session.SendTextAsync("{\"method\":\"garbage/notify\",\"params\":[1]}");
                await session.SendBinaryAsync(junk);
                await session.SendBinaryAsync(new byte[] { 0, 1, 2, 3 });
                await session.SendTextAsync("{\"error\":{\"code\":-32600,\"message\":\"failed to parse\"},\"id\":-1}");
                Assert.False(first.IsCompleted);

                await session.RespondAsync(request.Id, "{\"echo\":\"before\"}");
                Assert.Equal("before", await first.WaitAsync(Long));
                Assert.True(rpc.IsOpen);

                var second = EchoCallAsync(rpc, "after");
                await AnswerEchoAsync(session);
                Assert.Equal("after", await second.WaitAsync(Long));
                Assert.Contains("garbage/notify", notifications);

                // A binary frame that carries JSON is accepted like a text frame (the server accepts both too).
                var third = EchoCallAsync(rpc, "binary");
                var r3 = await session.ExpectAsync();
                await session.SendBinaryAsync(Encoding.UTF8.GetBytes($"{{\"id\":{r3.Id},\"result\":{{\"echo\":\"binary\"}}}}"));
                Assert.Equal("binary", await third.WaitAsync(Long));
            }
        }

        [Fact]
        public async Task OutOfOrderResponsesEachReachTheirCaller()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                var calls = Enumerable.Range(0, 5).Select(i => EchoCallAsync(rpc, "call-" + i)).ToArray();
                var requests = new List<ReceivedMessage>();
                for (int i = 0; i < 5; i++) requests.Add(await session.ExpectAsync());
                // Answer in reverse, then a shuffled order would be no stronger: every caller waits for its own.
                foreach (var r in Enumerable.Reverse(requests))
                {
                    var tag = r.Json().GetProperty("params").GetProperty("tag").GetString();
                    await session.RespondAsync(r.Id, $"{{\"echo\":\"{tag}\"}}");
                }
                var results = await Task.WhenAll(calls).WaitAsync(Long);
                for (int i = 0; i < 5; i++) Assert.Equal("call-" + i, results[i]);
            }
        }

        [Fact]
        public async Task UnknownIdResponseIsIgnored()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                var call = EchoCallAsync(rpc, "mine");
                var request = await session.ExpectAsync();
                await session.RespondAsync(request.Id + 1000, "{\"echo\":\"not yours\"}");
                await session.RespondAsync(-1, "{\"echo\":\"parse error id\"}");
                await session.RespondErrorAsync(request.Id + 7, -32600, "unknown");
                await Task.Delay(100);
                Assert.False(call.IsCompleted);
                await session.RespondAsync(request.Id, "{\"echo\":\"mine\"}");
                Assert.Equal("mine", await call.WaitAsync(Long));
                // A duplicate answer for an id already served is ignored as well.
                await session.RespondAsync(request.Id, "{\"echo\":\"again\"}");
                var next = EchoCallAsync(rpc, "next");
                await AnswerEchoAsync(session);
                Assert.Equal("next", await next.WaitAsync(Long));
            }
        }

        [Fact]
        public async Task RemoteErrorKeepsCodeAndMessage()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                var call = EchoCallAsync(rpc, "x");
                var request = await session.ExpectAsync();
                await session.RespondErrorAsync(request.Id, -32601, "exec-server stub does not implement `test/echo` yet");
                var ex = await Assert.ThrowsAsync<RemoteErrorException>(() => call.WaitAsync(Long));
                Assert.Equal(-32601, ex.Code);
                Assert.True(ex.IsMethodNotFound);
                Assert.Contains("does not implement", ex.RemoteMessage);
                Assert.True(rpc.IsOpen);
            }
        }

        [Fact]
        public async Task NeverAnsweringServerGivesTimeoutAtTheDeadline()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                var sw = Stopwatch.StartNew();
                var call = EchoCallAsync(rpc, "silence", TimeSpan.FromMilliseconds(600));
                await session.ExpectAsync();
                var ex = await Assert.ThrowsAsync<ExecBridgeException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
                sw.Stop();
                Assert.Equal(ExecBridgeErrorKind.Timeout, ex.Kind);
                Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(550), TimeSpan.FromSeconds(3));
                Assert.Contains("test/echo", ex.Message);
                // The connection survives a timeout; a late answer to the abandoned id is ignored.
                Assert.True(rpc.IsOpen);
                var next = EchoCallAsync(rpc, "next");
                var r = await session.ExpectAsync();
                await session.RespondAsync(1, "{\"echo\":\"late\"}");
                await session.RespondAsync(r.Id, "{\"echo\":\"next\"}");
                Assert.Equal("next", await next.WaitAsync(Long));
            }
        }

        [Fact]
        public async Task CloseMidFrameFailsEveryPendingCallPromptly()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                var closed = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
                rpc.Closed += e => closed.TrySetResult(e);
                var calls = Enumerable.Range(0, 4).Select(i => EchoCallAsync(rpc, "p" + i)).ToArray();
                for (int i = 0; i < 4; i++) await session.ExpectAsync();

                var sw = Stopwatch.StartNew();
                await session.SendPartialFrameThenAbortAsync(1000, Encoding.UTF8.GetBytes("{\"id\":1,\"res"));
                foreach (var call in calls)
                {
                    var ex = await Assert.ThrowsAsync<ExecBridgeException>(() => call.WaitAsync(TimeSpan.FromSeconds(5)));
                    Assert.Equal(ExecBridgeErrorKind.ConnectionLost, ex.Kind);
                }
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"pending calls failed after {sw.Elapsed}");
                Assert.IsAssignableFrom<ExecBridgeException>(await closed.Task.WaitAsync(TimeSpan.FromSeconds(2)));
                Assert.False(rpc.IsOpen);

                // Later calls fail at once instead of hanging.
                // They are marked as never sent, so a caller that redials may safely send them again.
                var late = await Assert.ThrowsAsync<RequestNotSentException>(() => EchoCallAsync(rpc, "late").WaitAsync(TimeSpan.FromSeconds(2)));
                Assert.Equal(ExecBridgeErrorKind.ConnectionLost, late.Kind);
            }
        }

        [Fact]
        public async Task CloseFrameFromServerFailsPendingCalls()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                var call = EchoCallAsync(rpc, "p");
                await session.ExpectAsync();
                await session.SendFrameAsync(0x8, new byte[] { 0x03, 0xE8 }, true);
                var ex = await Assert.ThrowsAsync<ExecBridgeException>(() => call.WaitAsync(TimeSpan.FromSeconds(2)));
                Assert.Equal(ExecBridgeErrorKind.ConnectionLost, ex.Kind);
            }
        }

        [Fact]
        public async Task UpgradeRejectedWith401GivesAuthenticationFailedWithoutToken()
        {
            const string token = "tok-very-secret-4711-abcdef";
            _server.RejectUpgradeStatus = 401;
            var ex = await Assert.ThrowsAsync<AuthenticationFailedException>(() =>
                RpcConnection.ConnectAsync(new Uri(_server.Uri, "?x=1"), token, TimeSpan.FromSeconds(10), CancellationToken.None));
            Assert.Equal(401, ex.StatusCode);
            Assert.Equal(ExecBridgeErrorKind.AuthenticationFailed, ex.Kind);
            Assert.DoesNotContain(token, ex.Message);
            Assert.DoesNotContain(token, ex.ToString());
            // The token did go out, as a bearer header on the upgrade.
            var headers = Assert.Single(_server.UpgradeRequests);
            Assert.Equal("Bearer " + token, headers["authorization"]);
        }

        [Fact]
        public async Task UpgradeRejectedWith404IsConnectionRefused()
        {
            _server.RejectUpgradeStatus = 404;
            var ex = await Assert.ThrowsAsync<ExecBridgeException>(() =>
                RpcConnection.ConnectAsync(_server.Uri, null, TimeSpan.FromSeconds(10), CancellationToken.None));
            Assert.Equal(ExecBridgeErrorKind.ConnectionRefused, ex.Kind);
            Assert.Contains("404", ex.Message);
            Assert.False(Assert.Single(_server.UpgradeRequests).ContainsKey("authorization"));
        }

        [Theory]
        [InlineData("wrong-accept", "Sec-WebSocket-Accept")]
        [InlineData("extension", "extension that was not offered")]
        [InlineData("not-http", "not HTTP")]
        [InlineData("no-upgrade", "does not upgrade to websocket")]
        [InlineData("closed", "closed the connection during the WebSocket handshake")]
        public async Task BadUpgradeAnswerIsConnectionRefusedAndSaysWhy(string answer, string expected)
        {
            _server.UpgradeResponse = accept => answer switch
            {
                "wrong-accept" => "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
                "extension" => "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                               $"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                "not-http" => "SSH-2.0-OpenSSH_9.2\r\n\r\n",
                "no-upgrade" => $"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {accept}\r\n\r\n",
                _ => "HTTP/1.1 101 Switch",
            };
            if (answer == "closed") _server.UpgradeResponse = _ => throw new IOException("drop it"); // the server closes mid-answer
            var sw = Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<ExecBridgeException>(() =>
                RpcConnection.ConnectAsync(_server.Uri, "secret-abc", TimeSpan.FromSeconds(10), CancellationToken.None));
            Assert.Equal(ExecBridgeErrorKind.ConnectionRefused, ex.Kind);
            Assert.Contains(expected, ex.Message);
            Assert.DoesNotContain("secret-abc", ex.ToString());
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5));
        }

        [Fact]
        public async Task SilentUpgradeTimesOutAtTheConnectDeadline()
        {
            _server.UpgradeResponse = _ => "";
            var sw = Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<ExecBridgeException>(() =>
                RpcConnection.ConnectAsync(_server.Uri, null, TimeSpan.FromSeconds(1), CancellationToken.None));
            Assert.Equal(ExecBridgeErrorKind.Timeout, ex.Kind);
            Assert.InRange(sw.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(4));
        }

        [Fact]
        public async Task UpgradeOffersNoExtensionAndNamesHostAndPath()
        {
            using var c = await RpcConnection.ConnectAsync(new Uri(_server.Uri, "/bridge/exe-1?v=2"), null, TimeSpan.FromSeconds(10), CancellationToken.None);
            var headers = Assert.Single(_server.UpgradeRequests);
            Assert.False(headers.ContainsKey("sec-websocket-extensions"));
            Assert.Equal("GET /bridge/exe-1?v=2 HTTP/1.1", headers[":request-line"]);
            Assert.Equal($"127.0.0.1:{_server.Port}", headers["host"]);
            Assert.Equal("13", headers["sec-websocket-version"]);
        }

        [Fact]
        public async Task NothingListeningIsConnectionRefused()
        {
            int port = ExecBridge.Tests.Infrastructure.ExecServer.FreePort();
            var sw = Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<ExecBridgeException>(() =>
                RpcConnection.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/"), "secret-xyz", TimeSpan.FromSeconds(10), CancellationToken.None));
            Assert.Equal(ExecBridgeErrorKind.ConnectionRefused, ex.Kind);
            Assert.DoesNotContain("secret-xyz", ex.ToString());
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5));
        }

        [Fact]
        public async Task CancelledCallSendsNothingAndConnectionStaysUsable()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                using var cts = new CancellationTokenSource();
                var call = rpc.CallAsync("test/echo", Params("tag", "doomed"), Long, cts.Token);
                var request = await session.ExpectAsync();
                int framesBefore = session.Frames.Count(f => f.Opcode != 0x9 && f.Opcode != 0xA);
                cts.Cancel();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(TimeSpan.FromSeconds(2)));

                // No $/cancelRequest or anything else (the real server drops the connection on any notification).
                Assert.Null(await session.ReceiveAsync(TimeSpan.FromMilliseconds(700)));
                Assert.Equal(framesBefore, session.Frames.Count(f => f.Opcode != 0x9 && f.Opcode != 0xA));
                Assert.Equal(1, session.DataMessageCount);
                Assert.True(rpc.IsOpen);

                // The late answer to the cancelled id goes nowhere; the next call works.
                await session.RespondAsync(request.Id, "{\"echo\":\"doomed\"}");
                var next = EchoCallAsync(rpc, "alive");
                await AnswerEchoAsync(session);
                Assert.Equal("alive", await next.WaitAsync(Long));
            }
        }

        [Fact]
        public async Task AlreadyCancelledTokenSendsNothing()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                using var cts = new CancellationTokenSource();
                cts.Cancel();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                    rpc.CallAsync("test/echo", Params("tag", "x"), Long, cts.Token));
                Assert.Null(await session.ReceiveAsync(TimeSpan.FromMilliseconds(300)));
                Assert.True(rpc.IsOpen);
            }
        }

        [Fact]
        public async Task RequestOver64MiBIsRefusedLocally()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                var raw = new byte[48 * 1024 * 1024 + 16]; // base64 makes it just over 64 MiB
                var sw = Stopwatch.StartNew();
                var ex = await Assert.ThrowsAsync<ExecBridgeException>(() => rpc.CallAsync("fs/writeFile", w =>
                {
                    w.WriteStartObject();
                    w.WriteString("path", "/tmp/x");
                    w.WriteBase64String("dataBase64", raw);
                    w.WriteEndObject();
                }, Long, CancellationToken.None));
                Assert.Equal(ExecBridgeErrorKind.InvalidArgument, ex.Kind);
                Assert.Contains("fs/writeFile", ex.Message);
                Assert.Null(await session.ReceiveAsync(TimeSpan.FromMilliseconds(500)));
                Assert.Equal(0, session.DataMessageCount);
                Assert.True(rpc.IsOpen);

                var next = EchoCallAsync(rpc, "still here");
                await AnswerEchoAsync(session);
                Assert.Equal("still here", await next.WaitAsync(Long));
            }
        }

        [Fact]
        public async Task LargeRequestIsSentInFramesOfAtMostFourMiB()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                var pad = new string('a', 20 * 1024 * 1024);
                var call = rpc.CallAsync("test/big", Params("pad", pad), Long, CancellationToken.None);
                var request = await session.ExpectAsync(Long);

                Assert.True(request.Frames.Count >= 5, $"only {request.Frames.Count} frames");
                Assert.All(request.Frames, f => Assert.True(f.Length <= RpcConnection.FrameSize, $"frame of {f.Length} bytes"));
                Assert.Equal(1, request.Frames[0].Opcode);                      // text
                Assert.All(request.Frames.Skip(1), f => Assert.Equal(0, f.Opcode)); // continuations
                Assert.All(request.Frames.Take(request.Frames.Count - 1), f => Assert.False(f.Fin));
                Assert.True(request.Frames[^1].Fin);
                Assert.Equal(request.Payload.Length, request.Frames.Sum(f => f.Length));
                Assert.Equal(pad.Length, request.Json().GetProperty("params").GetProperty("pad").GetString()!.Length);

                // A big single-frame answer (the server never fragments) is assembled too.
                var bigAnswer = new string('b', 6 * 1024 * 1024);
                await session.RespondAsync(request.Id, $"{{\"echo\":\"{bigAnswer}\"}}");
                using var response = await call.WaitAsync(Long);
                Assert.Equal(bigAnswer.Length, response.Result.GetProperty("echo").GetString()!.Length);

                // A 1 MiB block's request (~1.4 MB of base64) is one frame: the server reassembles fragments slowly.
                var block = new string('c', 1400 * 1024);
                var blockCall = rpc.CallAsync("test/block", Params("chunk", block), Long, CancellationToken.None);
                var blockRequest = await session.ExpectAsync(Long);
                Assert.Single(blockRequest.Frames);
                Assert.True(blockRequest.Frames[0].Fin);
                await session.RespondAsync(blockRequest.Id, "{}");
                (await blockCall.WaitAsync(Long)).Dispose();
            }
        }

        [Fact]
        public async Task ManyConcurrentCallersEachGetTheirOwnResponse()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                // The server answers in small shuffled batches so responses come back out of order.
                var serving = Task.Run(async () =>
                {
                    var rng = new Random(7);
                    var batch = new List<ReceivedMessage>();
                    while (true)
                    {
                        var m = await session.ReceiveAsync(batch.Count == 0 ? TimeSpan.FromSeconds(20) : TimeSpan.FromMilliseconds(2));
                        if (m != null) { batch.Add(m); if (batch.Count < 5) continue; }
                        if (m == null && batch.Count == 0) return;
                        foreach (var r in batch.OrderBy(_ => rng.Next()))
                        {
                            var json = r.Json();
                            var tag = json.GetProperty("params").GetProperty("tag").GetString();
                            await session.RespondAsync(json.GetProperty("id").GetInt64(), $"{{\"echo\":\"{tag}\"}}");
                        }
                        batch.Clear();
                    }
                });

                int wrong = 0;
                var threads = Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
                {
                    for (int i = 0; i < 100; i++)
                    {
                        var tag = $"t{t}-c{i}";
                        if (await EchoCallAsync(rpc, tag) != tag) Interlocked.Increment(ref wrong);
                    }
                })).ToArray();
                await Task.WhenAll(threads).WaitAsync(TimeSpan.FromSeconds(25));
                Assert.Equal(0, wrong);
                Assert.Equal(800, session.DataMessageCount);
            }
        }

        [Fact]
        public async Task NotificationsReachTheHandlerWhileCallsArePending()
        {
            var (rpc, session) = await ConnectAsync();
            using (rpc)
            {
                var seen = new ConcurrentQueue<(string, long)>();
                rpc.NotificationHandler = (m, p) => seen.Enqueue((m, p.GetProperty("seq").GetInt64()));
                var call = EchoCallAsync(rpc, "x");
                var r = await session.ExpectAsync();
                for (int i = 1; i <= 3; i++)
                    await session.SendTextAsync($"{{\"method\":\"process/output\",\"params\":{{\"processId\":\"p\",\"seq\":{i},\"stream\":\"stdout\",\"chunk\":\"YQo=\"}}}}");
                await session.RespondAsync(r.Id, "{\"echo\":\"x\"}");
                await call.WaitAsync(Long);
                Assert.Equal(new[] { 1L, 2L, 3L }, seen.Select(s => s.Item2).ToArray());
            }
        }
    }
}
