using System;
using System.Diagnostics;
using System.IO;
using System.Management.Automation;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Files;
using ExecBridge.Tests.Infrastructure;

namespace ExecBridge.Bench
{
    /// <summary>
    /// The legacy dialect (codex 0.130.0) where its workload differs from the current one: it has no fs/open,
    /// fs/readBlock or fs/writeBlock, so W1 (read) streams the file through processes' stdout notifications and
    /// W5 (upload) writes through a process's stdin (process/write). Own floor rows, over a plain socket.
    /// </summary>
    internal sealed partial class Workloads
    {
        private ExecServer? _legacy;

        private async Task<ExecServer> LegacyAsync() => _legacy ??= await ExecServer.StartAsync(Peers.Legacy);

        private static string PlainWire(string path) => RemotePath.ToWire(path, PathStyle.Plain);

        private ExecutorClient NewClient(string id, Uri uri)
        {
            var c = new ExecutorClient(new ExecutorEndpoint(id, uri, null));
            c.EnsureConnectedAsync(_ct).GetAwaiter().GetResult();
            return c;
        }

        private PSObject PsConnect(string name, Uri uri)
        {
            Ps.Run($"$global:{name} = Connect-ExecBridge -Uri $args[0] -ExecutorId $args[1] -Force", uri, name);
            return Ps.Run($"$global:{name}")[0];
        }

        // ======================================================================================== W1 legacy

        public async Task W1LegacyAsync()
        {
            long size = _o.W1Bytes;
            string src = SourceFile(size);
            var legacy = await LegacyAsync();
            string label = $"W1 read {size >> 20} MiB remote file to disk (legacy {legacy.Version})";

            var floor = AddRow(label, "floor", MetricKind.Throughput);
            floor.MaxPeakBytes = 64L << 20;
            floor.Note = "process/start of `cat FILE` on a plain socket, every process/output notification base64-decoded into a FileStream until process/closed (one process: the best this dialect's wire allows)";
            var verified = AddRow(label, "floor + SHA-256 on both sides and rename (reference)", MetricKind.Throughput, floor);
            verified.Note = "the floor, plus what every Get-RemoteFile does to verify: openssl dgst of the source on the executor (second connection, started with the transfer), SHA-256 of the received bytes on another core while they are written, compare, write to a partial and rename";
            using (var bare = await BareClient.ConnectAsync(legacy.Uri, _ct))
            using (var hashConn = await BareClient.ConnectAsync(legacy.Uri, _ct))
            {
                int pid = 0;
                Func<int, Task<RunResult>> FloorRun(bool verify) => async run =>
                {
                    string dst = Path.Combine(_dir, "w1l-floor.bin");
                    string written = verify ? dst + ".partial" : dst;
                    var buf = new byte[64 * 1024];
                    string id = "w1l-" + (++pid);
                    Fresh(dst);
                    Fresh(written);
                    var sw = Stopwatch.StartNew();
                    var executorHash = verify
                        ? BareDigestScriptAsync(hashConn, $"openssl dgst -sha256 -r < {RemotePath.ShellQuote(src)}", "w1lv-" + pid, "/")
                        : null;
                    using var hasher = verify ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
                    using (var fs = new FileStream(written, FileMode.Create, FileAccess.Write, FileShare.None, 0))
                    {
                        long startId = await bare.StartProcessAsync(id, new[] { "cat", PlainWire(src) }, "/", pipeStdin: false, _ct);
                        while (true)
                        {
                            var mem = await bare.ReceiveAsync(_ct);
                            var f = BareClient.Parse(mem.Span);
                            if (f.Id == startId && f.IsError) throw new InvalidOperationException(f.ErrorText);
                            if (f.Method == FrameMethod.Output)
                            {
                                if (f.Chunk.Length / 4 * 3 > buf.Length) buf = new byte[f.Chunk.Length];
                                await WriteHashingAsync(fs, hasher, buf, BareClient.DecodeChunk(f.Chunk, buf));
                            }
                            else if (f.Method == FrameMethod.Closed) break;
                        }
                    }
                    if (verify)
                    {
                        CheckDigests(hasher!, await executorHash!);
                        File.Move(written, dst, overwrite: true);
                    }
                    sw.Stop();
                    return Verify(Measure.Timed(sw, size), dst, size, run);
                };
                await WarmRoundAsync(floor, FloorRun(false));
                await Run(floor, FloorRun(false));
                await Run(verified, FloorRun(true));
            }

            var client = AddRow(label, "client", MetricKind.Throughput, floor);
            client.RatioTarget = 0.9;
            client.MaxPeakBytes = 64L << 20;
            client.Note = size > 8L << 20
                ? "ExecutorClient.ReadStreamAsync (legacy: one `cat FILE` process, stdout notifications) into a FileStream"
                : "ExecutorClient.ReadStreamAsync (legacy, file ≤ 8 MiB: one fs/readFile) into a FileStream";
            using (var c = NewClient("w1l-client", legacy.Uri))
            {
                await Run(client, async run =>
                {
                    string dst = Path.Combine(_dir, "w1l-client.bin");
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    long total;
                    using (var fs = new FileStream(dst, FileMode.Create, FileAccess.Write, FileShare.None, 0))
                    {
                        total = await c.ReadStreamAsync(src, 0, null, (m, _) => { fs.Write(m.Span); return Task.CompletedTask; }, _ct);
                    }
                    sw.Stop();
                    return Verify(Measure.Timed(sw, total), dst, size, run);
                });
            }

            var cmdlets = AddRow(label, "cmdlets", MetricKind.Throughput, floor);
            cmdlets.RatioTarget = 0.9;
            cmdlets.MaxPeakBytes = 64L << 20;
            cmdlets.Note = "Get-RemoteFile -Path -Destination -Connection (legacy connection)";
            var conn = PsConnect("w1legacy", legacy.Uri);
            await Run(cmdlets, run =>
            {
                string dst = Path.Combine(_dir, "w1l-cmdlets.bin");
                Fresh(dst);
                var sw = Stopwatch.StartNew();
                Ps.Run("param($c, $p, $d) $null = Get-RemoteFile -Path $p -Destination $d -Connection $c -Force", conn, src, dst);
                sw.Stop();
                return Task.FromResult(Verify(Measure.Timed(sw, size), dst, size, run));
            });
        }

        private int _commits;

        /// <summary>openssl dgst of a file on the executor (current dialect) over a bare connection: the hex digest.</summary>
        private Task<string> BareSha256Async(BareClient bare, string file, string id) =>
            BareDigestScriptAsync(bare, $"openssl dgst -sha256 -r < {RemotePath.ShellQuote(file)}", id, "file:///");

        /// <summary>The bare floor's version of a verified commit: one helper process hashes the file and renames it.</summary>
        private async Task<(string Moved, string Sha256)> BareCommitAsync(BareClient bare, string dst, bool legacy)
        {
            string moved = dst + ".committed";
            Fresh(moved);
            string script = $"openssl dgst -sha256 -r < {RemotePath.ShellQuote(dst)} && mv -f -- {RemotePath.ShellQuote(dst)} {RemotePath.ShellQuote(moved)}";
            return (moved, await BareDigestScriptAsync(bare, script, "commit-" + (++_commits), legacy ? "/" : "file:///"));
        }

        /// <summary>Runs a shell script that prints `openssl dgst -r` output; returns the digest (its first word).</summary>
        private async Task<string> BareDigestScriptAsync(BareClient bare, string script, string id, string cwd)
        {
            long startId = await bare.StartProcessAsync(id, new[] { "/bin/sh", "-c", script }, cwd, pipeStdin: false, _ct);
            var output = new StringBuilder();
            var buf = new byte[64 * 1024];
            while (true)
            {
                var mem = await bare.ReceiveAsync(_ct);
                var f = BareClient.Parse(mem.Span);
                if (f.Id == startId && f.IsError) throw new InvalidOperationException("process/start: " + f.ErrorText);
                if (f.Method == FrameMethod.Output) output.Append(Encoding.ASCII.GetString(buf, 0, BareClient.DecodeChunk(f.Chunk, buf)));
                if (f.Method == FrameMethod.Closed) break;
            }
            var text = output.ToString().Trim();
            int space = text.IndexOf(' ');
            return space > 0 ? text.Substring(0, space) : text;
        }

        /// <summary>Writes a received block; with a hasher, hashes it on another core meanwhile, as the copy engine does.</summary>
        private static async Task WriteHashingAsync(FileStream fs, IncrementalHash? hasher, byte[] buf, int n)
        {
            if (hasher == null)
            {
                fs.Write(buf, 0, n);
                return;
            }
            var hashing = Task.Run(() => hasher.AppendData(buf, 0, n));
            fs.Write(buf, 0, n);
            await hashing;
        }

        /// <summary>The verified reference rows compare the executor's digest with the one hashed here.</summary>
        private static void CheckDigests(IncrementalHash local, string remote)
        {
            string here = Convert.ToHexString(local.GetHashAndReset());
            if (!string.Equals(here, remote, StringComparison.OrdinalIgnoreCase))
                throw new InvalidOperationException($"SHA-256 differs: {here} here, {remote} on the executor");
        }

        // ======================================================================================== W5 legacy

        public async Task W5LegacyAsync()
        {
            long size = _o.W5Bytes;
            string src = SourceFile(size);
            var legacy = await LegacyAsync();
            string label = $"W5 upload {size >> 20} MiB local file (legacy {legacy.Version})";
            const int chunk = 1 << 20;

            var floor = AddRow(label, "floor", MetricKind.Throughput);
            floor.Note = $"process/start `head -c N > FILE` with pipeStdin, {BlocksInFlight} pipelined 1 MiB process/write, until process/closed (plain socket)";
            floor.MaxPeakBytes = 64L << 20;
            var verified = AddRow(label, "floor + hash and rename on the executor (reference)", MetricKind.Throughput, floor);
            verified.Note = "the floor, then one helper process: openssl dgst of the file + mv (the client row's RemoteFileWriter does exactly this)";
            var bothSides = AddRow(label, "floor + SHA-256 on both sides and rename (reference)", MetricKind.Throughput, floor);
            bothSides.Note = "the floor plus what Copy-RemoteItem does to verify and commit: SHA-256 of the bytes on another core while they are sent, then the helper process above, compare";
            using (var bare = await BareClient.ConnectAsync(legacy.Uri, _ct))
            {
                int pid = 0;
                Func<int, Task<RunResult>> FloorRun(bool verify, bool hashHere = false) => async run =>
                {
                    string dst = Path.Combine(_dir, "w5l-floor.bin");
                    string id = "w5l-" + (++pid);
                    var buf = new byte[chunk];
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    using var hasher = hashHere ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
                    using (var fs = new FileStream(src, FileMode.Open, FileAccess.Read, FileShare.Read, 0))
                    {
                        long startId = await bare.StartProcessAsync(id, new[] { "/bin/sh", "-c", $"head -c {size} > {RemotePath.ShellQuote(dst)}" }, "/", pipeStdin: true, _ct);
                        int inFlight = 1; // the start
                        int writes = 0;
                        bool done = false, closed = false;
                        while (!(done && inFlight == 0 && closed))
                        {
                            while (!done && inFlight < BlocksInFlight)
                            {
                                int n = fs.Read(buf, 0, buf.Length);
                                if (n == 0) { done = true; break; }
                                string writeId = "w" + (++writes);
                                // Hashed on another core while it is sent, as the copy engine does.
                                var hashing = hasher == null ? Task.CompletedTask : Task.Run(() => hasher.AppendData(buf, 0, n));
                                await bare.SendAsync("process/write", w =>
                                {
                                    w.WriteStartObject();
                                    w.WriteString("processId", id);
                                    w.WriteBase64String("chunk", buf.AsSpan(0, n));
                                    w.WriteString("writeId", writeId);
                                    w.WriteEndObject();
                                }, _ct);
                                await hashing;
                                inFlight++;
                            }
                            var mem = await bare.ReceiveAsync(_ct);
                            var f = BareClient.Parse(mem.Span);
                            if (f.Method == FrameMethod.Closed) { closed = true; continue; }
                            if (f.Id < 0) continue;
                            if (f.IsError) throw new InvalidOperationException((f.Id == startId ? "process/start: " : "process/write: ") + f.ErrorText);
                            inFlight--;
                        }
                    }
                    if (verify)
                    {
                        var committed = await BareCommitAsync(bare, dst, legacy: true);
                        if (hasher != null) CheckDigests(hasher, committed.Sha256);
                        dst = committed.Moved;
                    }
                    sw.Stop();
                    return Verify(Measure.Timed(sw, size), dst, size, run);
                };
                await WarmRoundAsync(floor, FloorRun(false));
                await Run(floor, FloorRun(false));
                await Run(verified, FloorRun(true));
                await Run(bothSides, FloorRun(true, hashHere: true));
            }

            var client = AddRow(label, "client", MetricKind.Throughput, floor);
            client.RatioTarget = 0.9;
            client.MaxPeakBytes = 64L << 20;
            client.Note = "RemoteFileWriter (legacy: `head -c N > partial` fed by process/write; sha256sum + mv, by design) fed 1 MiB reads";
            using (var c = NewClient("w5l-client", legacy.Uri))
            {
                await Run(client, async run =>
                {
                    string dst = Path.Combine(_dir, "w5l-client.bin");
                    var buf = new byte[chunk];
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    using (var fs = new FileStream(src, FileMode.Open, FileAccess.Read, FileShare.Read, 0))
                    {
                        var writer = await RemoteFileWriter.CreateAsync(c, dst, size, overwrite: true, createParents: false, _ct);
                        int n;
                        while ((n = fs.Read(buf, 0, buf.Length)) > 0) await writer.WriteAsync(buf.AsMemory(0, n), _ct);
                        await writer.CommitAsync(null, _ct);
                        client.Note = $"RemoteFileWriter ({writer.Mode}; legacy has no fs/writeBlock; partial file + sha256sum + mv, by design) fed 1 MiB reads";
                    }
                    sw.Stop();
                    return Verify(Measure.Timed(sw, size), dst, size, run);
                });
            }

            var cmdlets = AddRow(label, "cmdlets", MetricKind.Throughput, floor);
            cmdlets.RatioTarget = 0.9;
            cmdlets.MaxPeakBytes = 64L << 20;
            cmdlets.Note = "Copy-RemoteItem -Path local -Destination remote -ToExecutor (legacy connection) -Force";
            PsConnect("w5legacy", legacy.Uri);
            await Run(cmdlets, run =>
            {
                string dst = Path.Combine(_dir, "w5l-cmdlets.bin");
                Fresh(dst);
                var sw = Stopwatch.StartNew();
                Ps.Run("param($s, $d) $null = Copy-RemoteItem -Path $s -Destination $d -ToExecutor w5legacy -Force", src, dst);
                sw.Stop();
                return Task.FromResult(Verify(Measure.Timed(sw, size), dst, size, run));
            });
        }
    }
}
