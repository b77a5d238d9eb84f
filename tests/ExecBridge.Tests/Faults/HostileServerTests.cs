using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using CsCheck;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Tests.Rpc;
using Xunit;
using Xunit.Abstractions;

namespace ExecBridge.Tests.Faults
{
    /// <summary>
    /// Property-based hostile server: a scripted WebSocket server answers the client's request with generated
    /// sequences of malformed, truncated, oversized and out-of-order frames. Whatever it sends, every client
    /// operation must end by its deadline with success or an ExecBridgeException, and nothing may throw on a
    /// background thread (unhandled or unobserved exceptions).
    /// </summary>
    [Collection("Faults")]
    public sealed class HostileServerTests : IDisposable
    {
        private static readonly TimeSpan ShortTimeout = TimeSpan.FromMilliseconds(150);
        private static readonly TimeSpan OperationBudget = TimeSpan.FromSeconds(4);

        private readonly ITestOutputHelper _out;
        private readonly ConcurrentQueue<string> _background = new ConcurrentQueue<string>();

        public HostileServerTests(ITestOutputHelper output)
        {
            _out = output;
            AppDomain.CurrentDomain.UnhandledException += OnUnhandled;
            TaskScheduler.UnobservedTaskException += OnUnobserved;
        }

        public void Dispose()
        {
            AppDomain.CurrentDomain.UnhandledException -= OnUnhandled;
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        private void OnUnhandled(object? sender, UnhandledExceptionEventArgs e) => _background.Enqueue("unhandled: " + e.ExceptionObject);

        private void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            // Only the client library's own tasks count; other suites' leftovers are not this test's business.
            var text = e.Exception.ToString();
            if (text.Contains("ExecBridge.Client", StringComparison.Ordinal)) _background.Enqueue("unobserved: " + text);
        }

        // ---- the hostile actions -------------------------------------------------------------------------------

        public enum Act
        {
            RespondCorrect, RespondWrongId, RespondStringId, RespondFloatId, RespondNullId, RespondDuplicate,
            ResultNotObject, ResultMissing, ErrorNotObject, ErrorCodeString, ErrorHugeCode,
            GarbageText, InvalidUtf8, JsonArray, JsonScalar, DeepNesting,
            BinaryJson, UnknownOpcode, ContinuationFirst, FragmentNoFin, OversizePing,
            BadNotification, BadOutputBase64, HugeExitCode, ClosedBeforeOutput,
            LargeFrame, TruncatedFrameThenAbort, HugeDeclaredLength, CloseFrame, Abort, Pause,
        }

        public enum Target { Handshake, RawCall, Metadata, Process, CatchUpRead }

        private static readonly Gen<Act> GenAct = Gen.Enum<Act>();

        private static readonly Gen<(Target, Act[], int)> GenCase =
            Gen.Select(Gen.Enum<Target>(), GenAct.Array[1, 6], Gen.Int[0, 1_000_000]);

        private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

        /// <summary>Performs one hostile action for the request with this id (and process id, when there is one).</summary>
        private static async Task PerformAsync(ScriptedSession s, Act act, long id, string? pid, Random rnd)
        {
            string idJson = id.ToString();
            switch (act)
            {
                case Act.RespondCorrect:
                    await s.RespondAsync(id, pid != null ? $"{{\"processId\":\"{pid}\"}}" : "{\"sessionId\":\"s-1\",\"isFile\":true,\"isDirectory\":false,\"chunks\":[],\"nextSeq\":1}");
                    break;
                case Act.RespondWrongId: await s.RespondAsync(id + 1000); break;
                case Act.RespondStringId: await s.SendTextAsync($"{{\"id\":\"{idJson}\",\"result\":{{}}}}"); break;
                case Act.RespondFloatId: await s.SendTextAsync($"{{\"id\":{idJson}.5,\"result\":{{}}}}"); break;
                case Act.RespondNullId: await s.SendTextAsync("{\"id\":null,\"result\":{}}"); break;
                case Act.RespondDuplicate:
                    await s.RespondAsync(id, "{}");
                    await s.RespondAsync(id, "{\"again\":true}");
                    break;
                case Act.ResultNotObject:
                    await s.SendTextAsync($"{{\"id\":{idJson},\"result\":{new[] { "42", "\"text\"", "[1,2]", "null", "true" }[rnd.Next(5)]}}}");
                    break;
                case Act.ResultMissing: await s.SendTextAsync($"{{\"id\":{idJson}}}"); break;
                case Act.ErrorNotObject: await s.SendTextAsync($"{{\"id\":{idJson},\"error\":\"boom\"}}"); break;
                case Act.ErrorCodeString: await s.SendTextAsync($"{{\"id\":{idJson},\"error\":{{\"code\":\"-32600\",\"message\":7}}}}"); break;
                case Act.ErrorHugeCode: await s.SendTextAsync($"{{\"id\":{idJson},\"error\":{{\"code\":1e40,\"message\":\"x\"}}}}"); break;
                case Act.GarbageText:
                    var garbage = new byte[rnd.Next(1, 200)];
                    for (int i = 0; i < garbage.Length; i++) garbage[i] = (byte)rnd.Next(32, 127);
                    await s.SendFrameAsync(0x1, garbage, true);
                    break;
                case Act.InvalidUtf8: await s.SendFrameAsync(0x1, new byte[] { (byte)'{', 0xC3, 0x28, 0xFF, (byte)'}' }, true); break;
                case Act.JsonArray: await s.SendTextAsync($"[{{\"id\":{idJson},\"result\":{{}}}}]"); break;
                case Act.JsonScalar: await s.SendTextAsync("12345"); break;
                case Act.DeepNesting: await s.SendTextAsync(new string('[', 5000) + new string(']', 5000)); break;
                case Act.BinaryJson: await s.SendBinaryAsync(Utf8($"{{\"id\":{idJson},\"result\":{{}}}}")); break;
                case Act.UnknownOpcode: await s.SendFrameAsync(0x3 + rnd.Next(5), Utf8("??"), true); break;
                case Act.ContinuationFirst: await s.SendFrameAsync(0x0, Utf8("{\"id\":1}"), true); break;
                case Act.FragmentNoFin:
                    await s.SendFrameAsync(0x1, Utf8($"{{\"id\":{idJson},"), false);
                    await s.SendFrameAsync(0x1, Utf8("\"result\":{}}"), true); // a new text frame inside a fragmented message
                    break;
                case Act.OversizePing: await s.SendFrameAsync(0x9, new byte[200], true); break;
                case Act.BadNotification:
                    await s.SendTextAsync(new[]
                    {
                        "{\"method\":\"process/output\",\"params\":{\"processId\":5,\"seq\":\"x\"}}",
                        "{\"method\":\"process/exited\",\"params\":\"nope\"}",
                        "{\"method\":42,\"params\":{}}",
                        $"{{\"method\":\"process/closed\",\"params\":{{\"processId\":\"{pid ?? "p"}\",\"seq\":-7}}}}",
                    }[rnd.Next(4)]);
                    break;
                case Act.BadOutputBase64:
                    await s.SendTextAsync($"{{\"method\":\"process/output\",\"params\":{{\"processId\":\"{pid ?? "p"}\",\"seq\":1,\"stream\":\"stdout\",\"chunk\":\"!!not base64!!\"}}}}");
                    break;
                case Act.HugeExitCode:
                    await s.SendTextAsync($"{{\"method\":\"process/exited\",\"params\":{{\"processId\":\"{pid ?? "p"}\",\"seq\":2,\"exitCode\":99999999999}}}}");
                    break;
                case Act.ClosedBeforeOutput:
                    await s.SendTextAsync($"{{\"method\":\"process/closed\",\"params\":{{\"processId\":\"{pid ?? "p"}\",\"seq\":9}}}}");
                    break;
                case Act.LargeFrame:
                    // 2 MiB of valid JSON for this id: the client must assemble it, not choke.
                    await s.SendTextAsync($"{{\"id\":{idJson},\"result\":{{\"pad\":\"{new string('x', 2 << 20)}\"}}}}");
                    break;
                case Act.TruncatedFrameThenAbort:
                    await s.SendPartialFrameThenAbortAsync(5000, Utf8($"{{\"id\":{idJson},\"res"));
                    break;
                case Act.HugeDeclaredLength:
                    await s.SendPartialFrameThenAbortAsync(int.MaxValue, Utf8("{\"id\":"));
                    break;
                case Act.CloseFrame: await s.SendFrameAsync(0x8, new byte[] { 0x03, 0xE8 }, true); break;
                case Act.Abort: s.Abort(); break;
                case Act.Pause: await Task.Delay(rnd.Next(0, 150)); break;
            }
        }

        /// <summary>A well-behaved handshake (legacy-looking: plain paths), so the hostile part hits a later request.</summary>
        internal static async Task<bool> HandshakeAsync(ScriptedSession s)
        {
            var init = await s.ReceiveAsync(TimeSpan.FromSeconds(5));
            if (init == null) return false;
            await s.RespondAsync(init.Id, "{\"sessionId\":\"s-1\"}");
            while (true)
            {
                var m = await s.ReceiveAsync(TimeSpan.FromSeconds(5));
                if (m == null) return false;
                var j = m.Json();
                if (!j.TryGetProperty("id", out _)) continue; // initialized
                var method = m.Method;
                if (method == "fs/getMetadata") await s.RespondAsync(m.Id, "{\"isDirectory\":true,\"isFile\":false}");
                else if (method == "environment/info") { await s.RespondAsync(m.Id, "{\"shell\":{\"path\":\"/bin/bash\"}}"); return true; }
                else await s.RespondErrorAsync(m.Id, -32601, "not implemented");
            }
        }

        internal static async Task<ReceivedMessage?> NextRequestAsync(ScriptedSession s, string method, TimeSpan timeout)
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < timeout)
            {
                var m = await s.ReceiveAsync(timeout - sw.Elapsed);
                if (m == null) return null;
                if (m.Json().TryGetProperty("method", out var me) && me.GetString() == method) return m;
            }
            return null;
        }

        private sealed class Tally
        {
            public int Cases, Succeeded, ClearErrors, FramesSent;
            public readonly ConcurrentDictionary<string, int> Kinds = new ConcurrentDictionary<string, int>();
            public TimeSpan Longest;
        }

        private async Task RunCaseAsync(Target target, Act[] acts, int seed, Tally tally)
        {
            var rnd = new Random(seed);
            var endpoint = new ExecutorEndpoint("hostile", new Uri("ws://127.0.0.1:1/"), null)
            {
                RequestTimeout = target == Target.Handshake ? ShortTimeout : TimeSpan.FromSeconds(5),
                ConnectTimeout = TimeSpan.FromSeconds(5),
            };
            // A server per case: a redial left over from an earlier case must not be served this case's script.
            using var hostile = new ScriptedWebSocketServer();
            endpoint = new ExecutorEndpoint("hostile", hostile.Uri, null) { RequestTimeout = endpoint.RequestTimeout, ConnectTimeout = endpoint.ConnectTimeout };
            using var client = new ExecutorClient(endpoint);
            var sessionTask = hostile.NextSessionAsync(TimeSpan.FromSeconds(10));

            // The client side: the operation under test, bounded by its own deadlines only.
            async Task ClientAsync()
            {
                if (target == Target.Handshake)
                {
                    await client.EnsureConnectedAsync(CancellationToken.None);
                    using var _ = await client.CallAsync("fs/getMetadata", w => { w.WriteStartObject(); w.WriteString("path", "/"); w.WriteEndObject(); }, CancellationToken.None);
                    return;
                }
                await client.EnsureConnectedAsync(CancellationToken.None);
                endpoint.RequestTimeout = ShortTimeout;
                switch (target)
                {
                    case Target.RawCall:
                        using (await client.CallAsync("fs/getMetadata", w => { w.WriteStartObject(); w.WriteString("path", "/x"); w.WriteEndObject(); }, CancellationToken.None)) { }
                        break;
                    case Target.Metadata:
                        await client.GetMetadataAsync("/x", CancellationToken.None, needLength: false);
                        break;
                    case Target.Process:
                    case Target.CatchUpRead:
                        var handle = await client.StartProcessAsync(new ProcessStartSpec { Argv = new[] { "true" } }, CancellationToken.None);
                        var sw = Stopwatch.StartNew();
                        while (!handle.IsFinished && sw.Elapsed < TimeSpan.FromSeconds(1.5))
                        {
                            await client.WaitForOutputAsync(handle, TimeSpan.FromMilliseconds(200), CancellationToken.None);
                            handle.TakeUnread();
                            handle.TakeGaps();
                        }
                        break;
                }
            }

            // The server side: a normal handshake unless the handshake itself is the target, then the hostile acts.
            async Task ServerAsync()
            {
                var s = await sessionTask;
                ReceivedMessage? request;
                string? pid = null;
                if (target == Target.Handshake) request = await s.ReceiveAsync(TimeSpan.FromSeconds(5));
                else
                {
                    if (!await HandshakeAsync(s)) return;
                    string method = target == Target.RawCall || target == Target.Metadata ? "fs/getMetadata" : "process/start";
                    request = await NextRequestAsync(s, method, TimeSpan.FromSeconds(5));
                    if (request == null) return;
                    if (method == "process/start")
                    {
                        pid = request.Json().GetProperty("params").GetProperty("processId").GetString();
                        if (target == Target.CatchUpRead)
                        {
                            // Answer the start, announce closed with output missing: the client reads it back; that read gets the hostile acts.
                            await s.RespondAsync(request.Id, $"{{\"processId\":\"{pid}\"}}");
                            await s.SendTextAsync($"{{\"method\":\"process/closed\",\"params\":{{\"processId\":\"{pid}\",\"seq\":4}}}}");
                            request = await NextRequestAsync(s, "process/read", TimeSpan.FromSeconds(3));
                            if (request == null) return;
                        }
                    }
                }
                if (request == null) return;
                foreach (var act in acts)
                {
                    try { await PerformAsync(s, act, request.Id, pid, rnd); }
                    catch { return; } // the connection is gone (our own abort, or the client left)
                    Interlocked.Increment(ref tally.FramesSent);
                }
                // Then silence with the connection open: whatever is still pending must end by its own deadline.
            }

            var server = ServerAsync();
            var sw = Stopwatch.StartNew();
            var client_ = ClientAsync();
            var finished = await Task.WhenAny(client_, Task.Delay(OperationBudget));
            var took = sw.Elapsed;
            if (took > tally.Longest) tally.Longest = took;
            Assert.True(finished == client_, $"{target} [{string.Join(",", acts)}] did not end within {OperationBudget.TotalSeconds} s: a hang");
            tally.Cases++;
            try
            {
                await client_;
                tally.Succeeded++;
                tally.Kinds.AddOrUpdate("success", 1, (_, n) => n + 1);
            }
            catch (ExecBridgeException ex)
            {
                Assert.False(string.IsNullOrWhiteSpace(ex.Message));
                tally.ClearErrors++;
                tally.Kinds.AddOrUpdate(ex.Kind.ToString(), 1, (_, n) => n + 1);
            }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"{target} [{string.Join(",", acts)}]: the caller got {ex.GetType().Name} instead of an ExecBridgeException: {ex}");
            }
            client.Dispose();
            hostile.Dispose(); // ends the script's pending receives
            await Task.WhenAny(server, Task.Delay(200));
        }

        [Fact]
        public async Task AnyHostileFrameSequenceEndsInSuccessOrAClearErrorWithoutHangsOrStrayExceptions()
        {
            var tally = new Tally();
            await GenCase.SampleAsync(async c => await RunCaseAsync(c.Item1, c.Item2, c.Item3, tally), iter: 100, threads: 1);

            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            await Task.Delay(200);
            _out.WriteLine($"hostile server: {tally.Cases} cases, {tally.FramesSent} hostile actions, {tally.Succeeded} succeeded, " +
                           $"{tally.ClearErrors} clear errors ({string.Join(", ", tally.Kinds.Select(p => $"{p.Key}={p.Value}"))}), " +
                           $"longest {tally.Longest.TotalMilliseconds:0} ms, background exceptions {_background.Count}");
            foreach (var b in _background.Take(5)) _out.WriteLine(b);
            FaultFigures.Add(faults: tally.FramesSent, calls: tally.Cases, leaks: _background.Count);
            _out.WriteLine(FaultFigures.Summary);
            Assert.Empty(_background);
            Assert.True(tally.ClearErrors > 0);
        }
    }
}
