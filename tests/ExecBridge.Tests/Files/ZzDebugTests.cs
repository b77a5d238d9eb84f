using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Rpc;
using ExecBridge.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ExecBridge.Tests.Files
{
    public sealed class ZzDebugTests
    {
        private readonly ITestOutputHelper _o;
        public ZzDebugTests(ITestOutputHelper o) { _o = o; }

        [Fact]
        public async Task Seqs()
        {
            using var s = await ExecServer.StartAsync(Peers.Legacy);
            using var rpc = await RpcConnection.ConnectAsync(s.Uri, null, TimeSpan.FromSeconds(5), CancellationToken.None);
            var log = new List<string>();
            var done = new TaskCompletionSource();
            rpc.NotificationHandler = (m, p) =>
            {
                lock (log)
                {
                    long seq = p.GetProperty("seq").GetInt64();
                    int len = p.TryGetProperty("chunk", out var c) ? c.GetBytesFromBase64().Length : -1;
                    log.Add($"{m} {seq} {len}");
                    if (m == "process/closed") done.TrySetResult();
                }
            };
            (await rpc.CallAsync("initialize", w => { w.WriteStartObject(); w.WriteString("clientName", "x"); w.WriteEndObject(); }, TimeSpan.FromSeconds(5), default)).Dispose();
            await rpc.NotifyAsync("initialized", default);
            var f = System.IO.Path.GetTempFileName();
            System.IO.File.WriteAllBytes(f, new byte[3 << 20]);
            (await rpc.CallAsync("process/start", w =>
            {
                w.WriteStartObject(); w.WriteString("processId", "p1");
                w.WriteStartArray("argv"); w.WriteStringValue("/bin/sh"); w.WriteStringValue("-c"); w.WriteStringValue($"tail -c +1048577 -- {f} | head -c 1048576"); w.WriteEndArray();
                w.WriteString("cwd", "/"); w.WriteStartObject("env"); w.WriteString("PATH", "/usr/bin:/bin"); w.WriteEndObject();
                w.WriteBoolean("tty", false); w.WriteBoolean("pipeStdin", false); w.WriteEndObject();
            }, TimeSpan.FromSeconds(5), default)).Dispose();
            await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
            long total = 0;
            foreach (var l in log) { _o.WriteLine(l); var parts = l.Split(' '); if (parts[0] == "process/output") total += long.Parse(parts[2]); }
            _o.WriteLine("total " + total);
        }
    }
}
