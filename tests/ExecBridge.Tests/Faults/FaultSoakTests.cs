using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Files;
using ExecBridge.Client.Processes;
using ExecBridge.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ExecBridge.Tests.Faults
{
    /// <summary>
    /// Bounded soak: 8 threads share ONE ExecutorClient through a fault proxy that cuts every connection every
    /// 1-2 s, each doing 1,000 fs/getMetadata calls and 50 process start/exit cycles. Afterwards nothing may be left:
    /// no process under the server, no extra client threads or sockets, managed memory back near the start.
    /// </summary>
    [Collection("Faults")]
    public sealed class FaultSoakTests
    {
        private readonly ITestOutputHelper _out;

        public FaultSoakTests(ITestOutputHelper output) => _out = output;

        internal sealed class SoakStats
        {
            public long Calls, CallRetries, ProcessesStarted, StartRetries, ProcessesExited, ProcessFailures, BytesVerified, Faults, Connections;
            public readonly ConcurrentQueue<string> Problems = new ConcurrentQueue<string>();
            public readonly ConcurrentDictionary<string, int> FailureKinds = new ConcurrentDictionary<string, int>();
            public TimeSpan Elapsed;
        }

        /// <summary>Threads of the process, of them thread-pool threads (which retire on their own after ~20 s idle), sockets, heap.</summary>
        internal readonly record struct Snapshot(int Threads, int PoolThreads, int Sockets, long ManagedBytes)
        {
            public int OwnThreads => Threads - PoolThreads;
            public override string ToString() => $"threads={Threads} (thread pool {PoolThreads}) sockets={Sockets} managed={ManagedBytes / 1024} KiB";
        }

        internal static async Task<Snapshot> SettleAndMeasureAsync()
        {
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                await Task.Delay(300);
            }
            using var self = Process.GetCurrentProcess();
            int sockets = 0;
            foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                try
                {
                    var target = new FileInfo(fd).LinkTarget;
                    if (target != null && target.StartsWith("socket:", StringComparison.Ordinal)) sockets++;
                }
                catch { }
            }
            return new Snapshot(self.Threads.Count, ThreadPool.ThreadCount, sockets, GC.GetTotalMemory(true));
        }

        /// <summary>Children of a pid, from `ps -eo pid,ppid,comm`.</summary>
        internal static List<string> ChildrenOf(int pid)
        {
            var psi = new ProcessStartInfo("ps", "-eo pid,ppid,comm") { RedirectStandardOutput = true, UseShellExecute = false };
            using var ps = Process.Start(psi)!;
            var text = ps.StandardOutput.ReadToEnd();
            ps.WaitForExit();
            return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(l => l.Trim().Split(' ', 3, StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length >= 2 && f[1] == pid.ToString())
                .Select(f => string.Join(" ", f)).ToList();
        }

        private static bool Retryable(ExecBridgeException ex) =>
            ex.Kind == ExecBridgeErrorKind.ConnectionLost || ex.Kind == ExecBridgeErrorKind.ConnectionRefused || ex.Kind == ExecBridgeErrorKind.Timeout;

        internal static async Task<SoakStats> RunSoakAsync(ExecServer server, int threads, int callsPerThread, int cyclesPerThread, bool cuts)
        {
            var stats = new SoakStats();
            var sw = Stopwatch.StartNew();
            using var proxy = FaultProxy.For(server.Uri);
            using (var client = new ExecutorClient(new ExecutorEndpoint("soak-" + server.Version, proxy.Uri, null)
                   { RequestTimeout = TimeSpan.FromSeconds(10) }))
            {
                await client.EnsureConnectedAsync(CancellationToken.None);
                string root = RemotePath.ToWire("/", client.PathStyle);
                using var done = new CancellationTokenSource();
                var cutter = Task.Run(async () =>
                {
                    var rnd = new Random(42);
                    while (!done.IsCancellationRequested && cuts)
                    {
                        try { await Task.Delay(1000 + rnd.Next(1000), done.Token); } catch (OperationCanceledException) { return; }
                        proxy.CutNow();
                    }
                });

                async Task CallWithRetryAsync()
                {
                    for (int attempt = 0; ; attempt++)
                    {
                        try
                        {
                            using var _ = await client.CallAsync("fs/getMetadata", w => { w.WriteStartObject(); w.WriteString("path", root); w.WriteEndObject(); },
                                CancellationToken.None);
                            Interlocked.Increment(ref stats.Calls);
                            return;
                        }
                        catch (ExecBridgeException ex) when (Retryable(ex) && attempt < 20)
                        {
                            Interlocked.Increment(ref stats.CallRetries);
                            stats.FailureKinds.AddOrUpdate("call " + ex.Kind, 1, (_, n) => n + 1);
                            await Task.Delay(20);
                        }
                    }
                }

                async Task CycleAsync(int t, int c)
                {
                    string marker = $"ok-{t}-{c}";
                    RemoteProcessHandle? handle = null;
                    for (int attempt = 0; handle == null; attempt++)
                    {
                        try
                        {
                            handle = await client.StartProcessAsync(FaultTests.Sh($"sleep 0.0{c % 5}; echo {marker}"), CancellationToken.None);
                        }
                        catch (ExecBridgeException ex) when (Retryable(ex) && attempt < 20)
                        {
                            // The start may or may not have reached the server; such a child ends by itself.
                            Interlocked.Increment(ref stats.StartRetries);
                            stats.FailureKinds.AddOrUpdate("start " + ex.Kind, 1, (_, n) => n + 1);
                            await Task.Delay(20);
                        }
                    }
                    Interlocked.Increment(ref stats.ProcessesStarted);
                    var r = await FaultTests.DrainAsync(client, handle);
                    if (r.Failure != null)
                    {
                        Interlocked.Increment(ref stats.ProcessFailures);
                        stats.FailureKinds.AddOrUpdate("process " + r.Failure.Kind, 1, (_, n) => n + 1);
                        if (r.Failure.Message.Length == 0) stats.Problems.Enqueue($"{handle.ProcessId}: failure without a message");
                    }
                    else
                    {
                        var text = Encoding.ASCII.GetString(r.Bytes);
                        if (!handle.Closed || handle.ExitCode != 0) stats.Problems.Enqueue($"{handle.ProcessId}: ended without exit (closed={handle.Closed}, code={handle.ExitCode})");
                        else if (text != marker + "\n" && r.Gaps.Count == 0) stats.Problems.Enqueue($"{handle.ProcessId}: output '{text.Trim()}' instead of '{marker}' with no gap reported");
                        else
                        {
                            Interlocked.Increment(ref stats.ProcessesExited);
                            Interlocked.Add(ref stats.BytesVerified, r.Bytes.Length);
                        }
                    }
                    client.Forget(handle);
                }

                var workers = Enumerable.Range(0, threads).Select(t =>
                {
                    var tcs = new TaskCompletionSource<bool>();
                    var thread = new Thread(() =>
                    {
                        try
                        {
                            int every = Math.Max(1, callsPerThread / Math.Max(1, cyclesPerThread));
                            int cycles = 0;
                            for (int i = 0; i < callsPerThread; i++)
                            {
                                CallWithRetryAsync().GetAwaiter().GetResult();
                                if (i % every == every - 1 && cycles < cyclesPerThread) CycleAsync(t, cycles++).GetAwaiter().GetResult();
                            }
                            while (cycles < cyclesPerThread) CycleAsync(t, cycles++).GetAwaiter().GetResult();
                            tcs.SetResult(true);
                        }
                        catch (Exception ex) { tcs.SetException(ex); }
                    }) { IsBackground = true, Name = "soak-" + t };
                    thread.Start();
                    return tcs.Task;
                }).ToList();
                try
                {
                    await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(90));
                }
                finally
                {
                    done.Cancel();
                    await cutter;
                }
                stats.Faults = proxy.FaultsInjected;
                stats.Connections = proxy.ConnectionsAccepted;
            }
            stats.Elapsed = sw.Elapsed;
            return stats;
        }

        [Theory]
        [InlineData(Peers.Legacy)]
        [InlineData(Peers.Current)]
        public async Task EightThreadsOnOneClientWithRandomCutsLeaveNothingBehind(string version)
        {
            using var server = await ExecServer.StartAsync(version);
            // A first, smaller round with the same faults is the warm-up: JIT, ArrayPool buckets and the thread pool reach their working
            // size, so the second round's growth is what the client keeps per round, i.e. a leak.
            var warmup = await RunSoakAsync(server, threads: 8, callsPerThread: 300, cyclesPerThread: 15, cuts: true);
            var before = await SettleAndMeasureAsync();

            var stats = await RunSoakAsync(server, threads: 8, callsPerThread: 1000, cyclesPerThread: 50, cuts: true);

            // No process left on the server: every child has exited (failed starts' children end by themselves).
            var children = ChildrenOf(server.Pid);
            for (int i = 0; i < 30 && children.Count > 0; i++) { await Task.Delay(100); children = ChildrenOf(server.Pid); }
            await Task.Delay(1000); // let the thread pool and sockets settle
            var after = await SettleAndMeasureAsync();

            // Thread-pool threads are not the client's: the pool grows under 8 blocking workers and shrinks by itself.
            int leakedThreads = Math.Max(0, after.OwnThreads - before.OwnThreads);
            int leakedSockets = Math.Max(0, after.Sockets - before.Sockets);
            double memoryGrowth = (after.ManagedBytes - before.ManagedBytes) / (double)before.ManagedBytes;
            long leaks = children.Count + (leakedThreads > 2 ? leakedThreads : 0) + (leakedSockets > 1 ? leakedSockets : 0) + (memoryGrowth > 0.10 ? 1 : 0);
            _out.WriteLine($"[{version}] warm-up round {warmup.Elapsed.TotalSeconds:0.0} s: calls={warmup.Calls} processes={warmup.ProcessesStarted} faults={warmup.Faults}");
            _out.WriteLine($"[{version}] soak {stats.Elapsed.TotalSeconds:0.0} s: calls={stats.Calls} (retried {stats.CallRetries}), " +
                           $"processes started={stats.ProcessesStarted} (start retries {stats.StartRetries}) exited={stats.ProcessesExited} " +
                           $"reported failures={stats.ProcessFailures}, bytes verified={stats.BytesVerified}, faults injected={stats.Faults}, " +
                           $"connections={stats.Connections}");
            _out.WriteLine($"[{version}] failure kinds: {string.Join(", ", stats.FailureKinds.Select(p => $"{p.Key}={p.Value}"))}");
            _out.WriteLine($"[{version}] before {before}; after {after}; memory growth {memoryGrowth:P1}; server children left: {children.Count} {string.Join("; ", children)}");
            foreach (var p in stats.Problems.Take(10)) _out.WriteLine($"[{version}] problem: {p}");
            FaultFigures.Add(faults: stats.Faults + warmup.Faults, bytesVerified: stats.BytesVerified + warmup.BytesVerified,
                calls: stats.Calls + stats.ProcessesStarted + warmup.Calls + warmup.ProcessesStarted, leaks: leaks);
            _out.WriteLine(FaultFigures.Summary);

            Assert.Empty(stats.Problems);
            Assert.Equal(8 * 1000, stats.Calls);
            Assert.Equal(8 * 50, stats.ProcessesStarted);
            Assert.Equal(stats.ProcessesStarted, stats.ProcessesExited + stats.ProcessFailures); // every process reported its end
            Assert.True(stats.Faults >= 3, $"only {stats.Faults} cuts happened: the soak was too short to mean anything");
            Assert.Empty(children);
            Assert.True(leakedSockets <= 1, $"sockets: {before.Sockets} -> {after.Sockets}");
            Assert.True(leakedThreads <= 2, $"non-pool threads: {before.OwnThreads} -> {after.OwnThreads}");
            Assert.True(memoryGrowth <= 0.10, $"managed memory grew {memoryGrowth:P1} ({before.ManagedBytes} -> {after.ManagedBytes})");
        }
    }
}
