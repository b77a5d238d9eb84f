using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Files;
using ExecBridge.Tests.Infrastructure;

namespace ExecBridge.Bench
{
    /// <summary>
    /// W11: list a tree of 1,404 entries (36 folders of 38 files) recursively, on both dialects. The floor is `ls -laR`
    /// run on the executor by process/start over a plain socket, its whole output read until process/closed: what a
    /// user compares Get-RemoteChildItem -Recurse with (issue 18.8: 3.8 s against 0.06 s before). Target: within 3× of it.
    /// </summary>
    internal sealed partial class Workloads
    {
        private const int W11Folders = 36;
        private const int W11FilesEach = 38;
        private static int W11Entries => W11Folders * (W11FilesEach + 1);
        private string? _w9Tree;

        private string W11Tree()
        {
            if (_w9Tree != null) return _w9Tree;
            string root = Path.Combine(_dir, "w9-tree");
            for (int d = 0; d < W11Folders; d++)
            {
                string folder = Path.Combine(root, $"folder {d:00}");
                Directory.CreateDirectory(folder);
                for (int f = 0; f < W11FilesEach; f++) File.WriteAllText(Path.Combine(folder, $"file-{f:00}.txt"), new string('x', f));
            }
            return _w9Tree = root;
        }

        public async Task W11Async()
        {
            await W11DialectAsync(_server, PathStyle.FileUri);
            await W11DialectAsync(await LegacyAsync(), PathStyle.Plain);
        }

        private async Task W11DialectAsync(ExecServer server, PathStyle style)
        {
            string root = W11Tree();
            string label = $"W11 list a tree of {W11Entries} entries (codex {server.Version})";

            var floor = AddRow(label, "floor: ls -laR on the executor", MetricKind.LatencyMicros);
            floor.Note = "process/start of `ls -laR ROOT` on a plain socket, every notification read until process/closed (µs per listing)";
            using (var bare = await BareClient.ConnectAsync(server.Uri, _ct))
            {
                int pid = 0;
                await Run(floor, async _ =>
                {
                    var sw = Stopwatch.StartNew();
                    long id = await bare.StartProcessAsync("w9-" + (++pid), new[] { "ls", "-laR", root }, RemotePath.ToWire("/", style), pipeStdin: false, _ct);
                    long bytes = 0;
                    while (true)
                    {
                        var f = BareClient.Parse((await bare.ReceiveAsync(_ct)).Span);
                        if (f.Id == id && f.IsError) throw new InvalidOperationException(f.ErrorText);
                        if (f.Method == FrameMethod.Output) bytes += f.Chunk.Length;
                        else if (f.Method == FrameMethod.Closed) break;
                    }
                    sw.Stop();
                    if (bytes < W11Entries * 40) throw new InvalidOperationException($"ls -laR printed only {bytes} base64 bytes");
                    return Measure.Timed(sw, 1);
                });
            }

            var client = AddRow(label, "client", MetricKind.LatencyMicros, floor);
            client.RatioTarget = 3.0;
            client.Note = "ExecutorClient.ListTreeAsync (one `find -printf` process; owner names from one getent per connection)";
            var walk = AddRow(label, "client, readDirectory + getMetadata per entry (reference)", MetricKind.LatencyMicros, floor);
            walk.Note = "the fallback where find has no -printf, and what Get-RemoteChildItem did before: ListDirectoryAsync per folder (pipelined fs/getMetadata)";
            using (var c = NewClient("w9-client", server.Uri))
            {
                await Run(client, async _ =>
                {
                    var sw = Stopwatch.StartNew();
                    var listed = await c.ListTreeAsync(root, int.MaxValue, _ct);
                    sw.Stop();
                    CheckListed(listed.Count, "ListTreeAsync");
                    return Measure.Timed(sw, 1);
                });
                await Run(walk, async _ =>
                {
                    var sw = Stopwatch.StartNew();
                    int count = 0;
                    var pending = new Stack<string>();
                    pending.Push(root);
                    while (pending.Count > 0)
                        foreach (var item in await c.ListDirectoryAsync(pending.Pop(), _ct))
                        {
                            count++;
                            if (item.IsDirectory && !item.IsSymlink) pending.Push(item.Path);
                        }
                    sw.Stop();
                    CheckListed(count, "the walk");
                    return Measure.Timed(sw, 1);
                });
            }

            var cmdlets = AddRow(label, "cmdlets", MetricKind.LatencyMicros, floor);
            cmdlets.RatioTarget = 3.0;
            cmdlets.Note = "Get-RemoteChildItem -LiteralPath ROOT -Recurse -Connection, the RemoteItem objects counted";
            var conn = PsConnect("w9" + (style == PathStyle.Plain ? "l" : "c"), server.Uri);
            await Run(cmdlets, _ =>
            {
                var sw = Stopwatch.StartNew();
                var n = Ps.Run("@(Get-RemoteChildItem -LiteralPath $args[0] -Recurse -Connection $args[1]).Count", root, conn);
                sw.Stop();
                CheckListed(Convert.ToInt32(n[0].BaseObject), "Get-RemoteChildItem");
                return Task.FromResult(Measure.Timed(sw, 1));
            });
        }

        private static void CheckListed(int count, string what)
        {
            if (count != W11Entries) throw new InvalidOperationException($"{what} listed {count} entries, not {W11Entries}");
        }
    }
}
