using System;
using System.Diagnostics;
using System.IO;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Client.Rpc;

namespace ExecBridge.Bench
{
    /// <summary>
    /// W9 (issue 19 item 5): the client's TCP_QUICKACK re-arm (QuickAckStream) on and off in the same run, each round
    /// timing both on fresh connections (the order swapped every round): small sequential commands, where the server's
    /// Nagle-held notifications wait for our ACK, and two bulk transfers, where it must cost nothing.
    /// EXECBRIDGE_QUICKACK=0 is read when a connection is dialed, so "off" is a connection dialed with it set.
    /// </summary>
    internal sealed partial class Workloads
    {
        private int _w9Round;

        private int W9Calls => _o.Quick ? 20 : 200;

        /// <summary>A connection dialed with quick ACKs on or off (the variable is put back at once).</summary>
        private ExecutorClient QuickAckClient(string id, bool on)
        {
            var before = Environment.GetEnvironmentVariable(QuickAckStream.DisableVariable);
            Environment.SetEnvironmentVariable(QuickAckStream.DisableVariable, on ? null : "0");
            try { return NewClient(id); }
            finally { Environment.SetEnvironmentVariable(QuickAckStream.DisableVariable, before); }
        }

        private void QuickAckPsConnect(string name, bool on)
        {
            var before = Environment.GetEnvironmentVariable(QuickAckStream.DisableVariable);
            Environment.SetEnvironmentVariable(QuickAckStream.DisableVariable, on ? null : "0");
            try { PsConnect(name); }
            finally { Environment.SetEnvironmentVariable(QuickAckStream.DisableVariable, before); }
        }

        public async Task W9Async()
        {
            bool onFirst = _w9Round++ % 2 == 1;
            var order = onFirst ? new[] { true, false } : new[] { false, true };
            int calls = W9Calls;

            // ---- small sequential commands ---------------------------------------------------------------------
            string small = $"W9 TCP_QUICKACK A/B: {calls} sequential `echo hi`, one connection";
            var clientOff = AddRow(small, "client, quick ACKs off (EXECBRIDGE_QUICKACK=0)", MetricKind.LatencyMicros);
            clientOff.Note = "StartProcessAsync(sh -c 'echo hi') + output until process/closed, one after another";
            var clientOn = AddRow(small, "client, quick ACKs on (default)", MetricKind.LatencyMicros, clientOff);
            clientOn.RatioTarget = 0.5;
            clientOn.Note = clientOff.Note;
            var cmdOff = AddRow(small, "cmdlets, quick ACKs off (EXECBRIDGE_QUICKACK=0)", MetricKind.LatencyMicros);
            cmdOff.Note = "for loop of Invoke-RemoteCommand 'echo hi' -Connection (hosted engine)";
            var cmdOn = AddRow(small, "cmdlets, quick ACKs on (default)", MetricKind.LatencyMicros, cmdOff);
            cmdOn.RatioTarget = 0.5;
            cmdOn.Note = cmdOff.Note;
            foreach (bool on in order)
            {
                using (var c = QuickAckClient("w9-small-" + on, on))
                {
                    await Run(on ? clientOn : clientOff, async _ =>
                    {
                        var sw = Stopwatch.StartNew();
                        for (int i = 0; i < calls; i++)
                            if (await RunToEndAsync(c, "echo hi") != "hi\n") throw new InvalidOperationException("echo hi printed something else");
                        sw.Stop();
                        return Measure.Timed(sw, calls);
                    });
                }
                string name = "w9" + (on ? "on" : "off");
                QuickAckPsConnect(name, on);
                await Run(on ? cmdOn : cmdOff, _ =>
                {
                    var sw = Stopwatch.StartNew();
                    var output = Ps.Run("param($c, $n) $k = 0; for ($i = 0; $i -lt $n; $i++) { if ((Invoke-RemoteCommand 'echo hi' -Connection $c) -eq 'hi') { $k++ } }; $k",
                        Ps.Run($"$global:{name}")[0], calls);
                    sw.Stop();
                    if (Convert.ToInt32(output[0].BaseObject) != calls) throw new InvalidOperationException("not every echo printed hi");
                    return Task.FromResult(Measure.Timed(sw, calls));
                });
                Ps.Run($"Disconnect-ExecBridge -Connection $global:{name}");
            }

            // ---- bulk: a 256 MiB read and 64 MiB of stdout --------------------------------------------------------
            long size = _o.W1Bytes;
            string src = SourceFile(size);
            string read = $"W9 TCP_QUICKACK A/B: read {size >> 20} MiB remote file";
            var readOff = AddRow(read, "client, quick ACKs off", MetricKind.Throughput);
            readOff.Note = "ExecutorClient.ReadStreamAsync into a FileStream (as W1 client)";
            var readOn = AddRow(read, "client, quick ACKs on (default)", MetricKind.Throughput, readOff);
            readOn.RatioTarget = 0.95;
            readOn.Note = readOff.Note;
            long n = _o.W2Bytes;
            string stdout = $"W9 TCP_QUICKACK A/B: stdout {n >> 20} MiB";
            var outOff = AddRow(stdout, "client, quick ACKs off", MetricKind.Throughput);
            outOff.Note = "head -c N /dev/zero, StartProcessAsync + TakeUnread (as W2 client)";
            var outOn = AddRow(stdout, "client, quick ACKs on (default)", MetricKind.Throughput, outOff);
            outOn.RatioTarget = 0.95;
            outOn.Note = outOff.Note;
            foreach (bool on in order)
            {
                using var c = QuickAckClient("w9-bulk-" + on, on);
                await Run(on ? readOn : readOff, async run =>
                {
                    string dst = Path.Combine(_dir, "w9-read.bin");
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    long total;
                    using (var fs = new FileStream(dst, FileMode.Create, FileAccess.Write, FileShare.None, 0))
                        total = await c.ReadStreamAsync(src, 0, null, (m, _) => { fs.Write(m.Span); return Task.CompletedTask; }, _ct);
                    sw.Stop();
                    return Verify(Measure.Timed(sw, total), dst, size, run);
                });
                await Run(on ? outOn : outOff, async _ =>
                {
                    var sw = Stopwatch.StartNew();
                    var h = await c.StartProcessAsync(new ProcessStartSpec { Argv = new[] { "head", "-c", n.ToString(), "/dev/zero" } }, _ct);
                    long total = 0;
                    while (true)
                    {
                        foreach (var chunk in h.TakeUnread()) total += chunk.Data.Length;
                        if (h.Failure != null) throw h.Failure;
                        if (h.IsFinished && !h.HasUnread) break;
                        await c.WaitForOutputAsync(h, TimeSpan.FromMilliseconds(500), _ct);
                    }
                    sw.Stop();
                    c.Forget(h);
                    return Check(Measure.Timed(sw, total), total, n);
                });
            }
        }
    }
}
