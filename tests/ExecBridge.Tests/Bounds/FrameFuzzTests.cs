using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Tests.Rpc;
using Xunit;
using Xunit.Abstractions;

namespace ExecBridge.Tests.Bounds
{
    /// <summary>
    /// Issue #16 item 10: a bounded, seeded fuzzer. A scripted server answers every request of a busy client with a
    /// mutated frame (truncated, wrong types, huge numbers, deep nesting, invalid UTF-8, wrong ids, duplicates,
    /// silence, oversized) and interleaves mutated notifications, until 10,000 frames went out. Every operation must
    /// end by its deadline with success or an ExecBridgeException; nothing may throw on a background thread; the
    /// managed heap must stay bounded. The seed is printed (EXECBRIDGE_FUZZ_SEED replays one).
    /// </summary>
    [Collection("Faults")]
    public sealed class FrameFuzzTests : IDisposable
    {
        private const int FrameBudget = 10_000;
        private const int MaxMessage = 1024 * 1024;
        private static readonly TimeSpan OperationDeadline = TimeSpan.FromSeconds(5);

        private readonly ITestOutputHelper _out;
        private readonly ConcurrentQueue<string> _background = new ConcurrentQueue<string>();
        private int _frames;

        public FrameFuzzTests(ITestOutputHelper output)
        {
            _out = output;
            TaskScheduler.UnobservedTaskException += OnUnobserved;
        }

        public void Dispose() => TaskScheduler.UnobservedTaskException -= OnUnobserved;

        private void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            var text = e.Exception.ToString();
            if (text.Contains("ExecBridge.Client", StringComparison.Ordinal)) _background.Enqueue(text);
        }

        // ---- the server: every session answered by the mutator ----------------------------------------------------

        private async Task ServeAsync(ScriptedWebSocketServer server, int seed, CancellationToken stop)
        {
            int index = 0;
            while (!stop.IsCancellationRequested)
            {
                ScriptedSession s;
                try { s = await server.NextSessionAsync(TimeSpan.FromSeconds(30)); }
                catch { return; }
                var rnd = new Random(seed + 7919 * ++index);
                _ = Task.Run(() => SessionAsync(s, rnd, stop));
            }
        }

        private async Task SessionAsync(ScriptedSession s, Random rnd, CancellationToken stop)
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var m = await s.ReceiveAsync(TimeSpan.FromSeconds(30));
                    if (m == null) return;
                    var j = m.Json();
                    if (!j.TryGetProperty("id", out var idElement)) continue; // initialized
                    long id = idElement.GetInt64();
                    string method = j.GetProperty("method").GetString()!;
                    if (method == "initialize") { await s.RespondAsync(id, "{\"sessionId\":\"fuzz\"}"); continue; }
                    string? pid = j.TryGetProperty("params", out var p) && p.ValueKind == JsonValueKind.Object
                        && p.TryGetProperty("processId", out var pe) ? pe.GetString() : null;
                    await MutatedAnswerAsync(s, rnd, id, method, pid);
                }
            }
            catch
            {
                // The connection went (a mutation closed it, or the client left): the client redials into a new session.
            }
        }

        private Task Send(ScriptedSession s, byte[] frame, int opcode = 0x1)
        {
            Interlocked.Increment(ref _frames);
            return s.SendFrameAsync(opcode, frame, true);
        }

        private Task Send(ScriptedSession s, string text) => Send(s, Encoding.UTF8.GetBytes(text));

        private static string ValidResult(string method, string? pid, Random rnd) => method switch
        {
            "fs/getMetadata" => "{\"isFile\":true,\"isDirectory\":false,\"size\":12,\"modifiedAtMs\":1700000000000}",
            "fs/readDirectory" => "{\"entries\":[{\"fileName\":\"a\",\"isFile\":true,\"isDirectory\":false}]}",
            "process/start" => $"{{\"processId\":\"{pid}\"}}",
            "process/read" => $"{{\"chunks\":[{{\"seq\":{rnd.Next(1, 4)},\"stream\":\"stdout\",\"chunk\":\"aGkK\"}}],\"nextSeq\":4,\"exited\":true,\"exitCode\":0,\"closed\":true}}",
            _ => "{}",
        };

        private static readonly string[] Junk = { "null", "42", "-1", "1e308", "99999999999999999999999", "1.5", "\"text\"", "[]", "[1,[2]]", "{}", "true", "\"\\ud800\"" };

        /// <summary>Replaces one value of a JSON text (after a ':') with a value of another type.</summary>
        private static string WrongType(string json, Random rnd)
        {
            var colons = Enumerable.Range(0, json.Length).Where(i => json[i] == ':').ToArray();
            if (colons.Length == 0) return json;
            int at = colons[rnd.Next(colons.Length)] + 1;
            int end = at, depth = 0;
            bool inString = false;
            for (; end < json.Length; end++)
            {
                char c = json[end];
                if (inString) { if (c == '\\') end++; else if (c == '"') inString = false; continue; }
                if (c == '"') inString = true;
                else if (c == '{' || c == '[') depth++;
                else if (c == '}' || c == ']') { if (depth == 0) break; depth--; }
                else if (c == ',' && depth == 0) break;
            }
            return json.Substring(0, at) + Junk[rnd.Next(Junk.Length)] + json.Substring(end);
        }

        private string Notification(Random rnd, string? pid)
        {
            string p = rnd.Next(3) == 0 ? "\"other\"" : pid != null ? $"\"{pid}\"" : Junk[rnd.Next(Junk.Length)];
            string seq = rnd.Next(4) == 0 ? Junk[rnd.Next(Junk.Length)] : rnd.Next(0, 6).ToString();
            string json = rnd.Next(4) switch
            {
                0 => $"{{\"method\":\"process/output\",\"params\":{{\"processId\":{p},\"seq\":{seq},\"stream\":\"stdout\",\"chunk\":\"{(rnd.Next(3) == 0 ? "!!bad" : "eAo=")}\"}}}}",
                1 => $"{{\"method\":\"process/exited\",\"params\":{{\"processId\":{p},\"seq\":{seq},\"exitCode\":{Junk[rnd.Next(Junk.Length)]}}}}}",
                2 => $"{{\"method\":\"process/closed\",\"params\":{{\"processId\":{p},\"seq\":{seq}}}}}",
                _ => $"{{\"method\":{Junk[rnd.Next(Junk.Length)]},\"params\":{Junk[rnd.Next(Junk.Length)]}}}",
            };
            return rnd.Next(5) == 0 ? WrongType(json, rnd) : json;
        }

        private async Task MutatedAnswerAsync(ScriptedSession s, Random rnd, long id, string method, string? pid)
        {
            for (int n = rnd.Next(0, 6); n > 0; n--) await Send(s, Notification(rnd, pid));
            string valid = $"{{\"id\":{id},\"result\":{ValidResult(method, pid, rnd)}}}";
            switch (rnd.Next(14))
            {
                case 0: case 1: case 2: await Send(s, valid); break;
                case 3: await Send(s, valid.Substring(0, rnd.Next(1, valid.Length))); break;
                case 4: case 5: await Send(s, WrongType(valid, rnd)); break;
                case 6: await Send(s, $"{{\"id\":{id},\"result\":{new string('[', 600)}{new string(']', 600)}}}"); break;
                case 7:
                    // Invalid UTF-8 in a text frame ends the WebSocket (1007): only now and then, or redials dominate.
                    var bytes = Encoding.UTF8.GetBytes(valid);
                    bytes[rnd.Next(bytes.Length)] = (byte)(0x80 + rnd.Next(0x80));
                    await Send(s, bytes, rnd.Next(4) == 0 ? 0x1 : 0x2);
                    break;
                case 8:
                    var wrongId = new[] { (id + 7).ToString(), $"\"{id}\"", "null", $"{id}.5", "-1", "1e30" }[rnd.Next(6)];
                    await Send(s, $"{{\"id\":{wrongId},\"result\":{ValidResult(method, pid, rnd)}}}");
                    break;
                case 9: await Send(s, valid); await Send(s, valid); break;
                case 10:
                    await Send(s, $"{{\"id\":{id},\"error\":{{\"code\":{Junk[rnd.Next(Junk.Length)]},\"message\":{Junk[rnd.Next(Junk.Length)]}}}}}");
                    break;
                case 11: Interlocked.Increment(ref _frames); break; // silence: the call times out
                case 12:
                    if (rnd.Next(10) == 0) await Send(s, $"{{\"id\":{id},\"result\":{{\"pad\":\"{new string('x', MaxMessage + 10)}\"}}}}");
                    else await Send(s, Encoding.UTF8.GetBytes(valid), 0x2); // binary JSON
                    break;
                default: await Send(s, WrongType(WrongType(valid, rnd), rnd)); break;
            }
        }

        // ---- the client: a few workers doing every kind of operation -----------------------------------------------

        private static async Task OperateAsync(ExecutorClient client, Random rnd)
        {
            switch (rnd.Next(4))
            {
                case 0: await client.GetMetadataAsync("/x", CancellationToken.None); break;
                case 1: await client.ReadDirectoryAsync("/d", CancellationToken.None); break;
                case 2: using (await client.CallAsync("fs/remove", null, CancellationToken.None)) { } break;
                default:
                    var h = await client.StartProcessAsync(new ProcessStartSpec { Argv = new[] { "true" } }, CancellationToken.None);
                    var sw = Stopwatch.StartNew();
                    while (!h.IsFinished && sw.ElapsedMilliseconds < 150)
                    {
                        await client.WaitForOutputAsync(h, TimeSpan.FromMilliseconds(50), CancellationToken.None);
                        h.TakeUnread();
                        h.TakeGaps();
                    }
                    client.Forget(h);
                    break;
            }
        }

        [Fact]
        public async Task Ten_thousand_mutated_frames_end_in_success_or_typed_errors_without_hangs_or_growth()
        {
            int seed = int.TryParse(Environment.GetEnvironmentVariable("EXECBRIDGE_FUZZ_SEED"), out var s) ? s : Environment.TickCount & 0x7fffffff;
            _out.WriteLine($"fuzz seed {seed} (EXECBRIDGE_FUZZ_SEED={seed} replays it)");
            using var server = new ScriptedWebSocketServer();
            using var stop = new CancellationTokenSource();
            var serving = ServeAsync(server, seed, stop.Token);
            using var client = new ExecutorClient(new ExecutorEndpoint("fuzz", server.Uri, null)
            {
                RequestTimeout = TimeSpan.FromMilliseconds(100),
                ConnectTimeout = TimeSpan.FromSeconds(2),
                MaxMessageSize = MaxMessage,
            });
            long heapBefore = GC.GetTotalMemory(true);
            var kinds = new ConcurrentDictionary<string, int>();
            int ops = 0;
            var wall = Stopwatch.StartNew();

            async Task Worker(int w, int budget)
            {
                var rnd = new Random(seed * 31 + w + budget);
                while (Volatile.Read(ref _frames) < budget && wall.Elapsed < TimeSpan.FromSeconds(45))
                {
                    var op = OperateAsync(client, rnd);
                    if (await Task.WhenAny(op, Task.Delay(OperationDeadline)) != op)
                        throw new Xunit.Sdk.XunitException($"fuzz seed {seed}: an operation did not end within {OperationDeadline.TotalSeconds} s (a hang)");
                    Interlocked.Increment(ref ops);
                    try
                    {
                        await op;
                        kinds.AddOrUpdate("success", 1, (_, n) => n + 1);
                    }
                    catch (ExecBridgeException ex)
                    {
                        Assert.False(string.IsNullOrWhiteSpace(ex.Message));
                        kinds.AddOrUpdate(ex.Kind.ToString(), 1, (_, n) => n + 1);
                    }
                    catch (Exception ex)
                    {
                        throw new Xunit.Sdk.XunitException($"fuzz seed {seed}: the caller got {ex.GetType().Name} instead of an ExecBridgeException: {ex}");
                    }
                }
            }

            // Two halves: shared array pools and caches fill in the first; the second must not grow the heap much further
            // (what it may grow includes the scripted server's record of every session it served).
            await Task.WhenAll(Enumerable.Range(0, 16).Select(w => Worker(w, FrameBudget / 2)));
            long heapHalf = GC.GetTotalMemory(true);
            await Task.WhenAll(Enumerable.Range(0, 16).Select(w => Worker(w, FrameBudget)));
            long heapEnd = GC.GetTotalMemory(true);
            stop.Cancel();
            client.Dispose();
            server.Dispose();
            await Task.Delay(200);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long heapAfter = GC.GetTotalMemory(true);
            _out.WriteLine($"fuzz seed {seed}: {_frames} frames, {ops} operations in {wall.Elapsed.TotalSeconds:0.0} s; " +
                           string.Join(", ", kinds.OrderBy(k => k.Key).Select(k => $"{k.Key}={k.Value}")) +
                           $"; managed heap {heapBefore / 1048576.0:0.0} MiB before, {heapHalf / 1048576.0:0.0} at half, {heapEnd / 1048576.0:0.0} at the end, {heapAfter / 1048576.0:0.0} after disposing");
            _out.WriteLine("");
            Assert.True(_frames >= FrameBudget, $"fuzz seed {seed}: only {_frames} frames in the time allowed");
            Assert.True(heapEnd - heapHalf < 48L * 1024 * 1024, $"fuzz seed {seed}: the heap grew by {(heapEnd - heapHalf) / 1048576} MiB in the second half");
            Assert.True(heapEnd < 256L * 1024 * 1024, $"fuzz seed {seed}: the heap reached {heapEnd / 1048576} MiB");
            Assert.True(_background.IsEmpty, $"fuzz seed {seed}: background exceptions: {string.Join("\n", _background.Take(3))}");
            Assert.True(kinds.ContainsKey("ProtocolViolation") && kinds.ContainsKey("success"), $"fuzz seed {seed}: the mix did not exercise both outcomes");
        }
    }
}
