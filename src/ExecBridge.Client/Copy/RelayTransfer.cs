using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Files;
using ExecBridge.Client.Processes;
using ExecBridge.Client.Relay;
using Microsoft.Extensions.Logging;

namespace ExecBridge.Client.Copy
{
    /// <summary>curl (or another tool the relay needs) is missing on an executor: exit 127. Auto falls back to Pump.</summary>
    public sealed class RelayToolMissingException : ExecBridgeException
    {
        public RelayToolMissingException(string executorId, string tool)
            : base(ExecBridgeErrorKind.NotSupported,
                $"Executor '{executorId}' has no {tool} in the PATH of its processes; the relay needs it on both executors (use -Transport Pump).")
        {
            ExecutorId = executorId;
            Tool = tool;
        }

        public string ExecutorId { get; }
        public string Tool { get; }
    }

    /// <summary>
    /// Moves one file or one folder (as a tar stream) between two executors through a gateway relay ticket: the
    /// source uploads with curl, the destination downloads with curl into a partial beside the target, both at
    /// once. The ticket only ever travels in a curl config written to curl's stdin; no argv holds it.
    /// </summary>
    internal sealed class RelayTransfer
    {
        private static readonly UTF8Encoding Utf8 = new UTF8Encoding(false);
        private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(2);
        private readonly ExecutorClient _src;
        private readonly ExecutorClient _dst;
        private readonly CrossExecutorCopyOptions _options;
        private readonly ILogger? _log;

        public RelayTransfer(ExecutorClient source, ExecutorClient destination, CrossExecutorCopyOptions options)
        {
            _src = source;
            _dst = destination;
            _options = options;
            _log = options.Logger ?? Logging.QueueLogger.Instance;
        }

        // ------------------------------------------------------------------ curl availability

        /// <summary>Whether curl is found with the environment the relay processes get; throws RelayToolMissingException when not.</summary>
        public async Task EnsureCurlAsync(CancellationToken ct)
        {
            var a = HasToolAsync(_src, _options.SourceEnvironment, "curl", ct);
            var b = HasToolAsync(_dst, _options.DestinationEnvironment, "curl", ct);
            await Task.WhenAll(a, b).ConfigureAwait(false);
            if (!a.Result) throw new RelayToolMissingException(_src.ExecutorId, "curl");
            if (!b.Result) throw new RelayToolMissingException(_dst.ExecutorId, "curl");
        }

        private static async Task<bool> HasToolAsync(ExecutorClient client, IDictionary<string, string>? env, string tool, CancellationToken ct)
        {
            // A found tool stays found for the life of the connection object: the probe is a helper process
            // (~50 ms), paid once per executor, not per copy. The relay scripts still exit 127 if it vanished.
            string key = tool + "\n" + (env == null ? "" : string.Join("\n", env.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + p.Value)));
            if (client.FoundTools.ContainsKey(key)) return true;
            var r = await RunScriptAsync(client, env, $"command -v {tool} >/dev/null 2>&1 || exit 127", null, TimeSpan.FromSeconds(30), ct)
                .ConfigureAwait(false);
            if (r.Exit == 127) return false;
            client.FoundTools[key] = true;
            return true;
        }

        // ------------------------------------------------------------------ minting

        /// <summary>Mints a ticket; on 429 waits up to CapacityWait for a free slot (saying so in the log), then rethrows.</summary>
        public async Task<RelayTicketInfo> MintAsync(RelaySettings settings, long maxBytes, CancellationToken ct)
        {
            using var api = new RelayApiClient(settings);
            var deadline = DateTime.UtcNow + _options.CapacityWait;
            bool said = false;
            while (true)
            {
                try
                {
                    var t = await api.CreateTicketAsync(_src.ExecutorId, _dst.ExecutorId, _options.TicketTimeToLive, Math.Max(1, maxBytes), ct)
                        .ConfigureAwait(false);
                    if (said) Log($"A relay slot became free; relaying {_src.ExecutorId} -> {_dst.ExecutorId}.");
                    if (_options.OnTicketMinted != null) await _options.OnTicketMinted(t).ConfigureAwait(false);
                    return t;
                }
                catch (RelayApiException ex) when (ex.IsCapacityExceeded && DateTime.UtcNow < deadline)
                {
                    if (!said)
                    {
                        Log($"The workspace has the maximum number of active relays (HTTP 429); waiting up to {_options.CapacityWait.TotalSeconds:0.#} s for a free slot.");
                        said = true;
                    }
                    var left = deadline - DateTime.UtcNow;
                    await Task.Delay(left < TimeSpan.FromMilliseconds(250) ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : TimeSpan.FromMilliseconds(250), ct)
                        .ConfigureAwait(false);
                }
            }
        }

        // ------------------------------------------------------------------ one file

        /// <summary>Copies srcPath (a file of 'length' bytes) to 'target' (resolved, checked by the caller).</summary>
        public async Task<CopyResult> CopyFileAsync(RelayTicketInfo ticket, string srcPath, long length, string target, TransferProgress progress,
            CancellationToken ct)
        {
            var started = DateTime.UtcNow;
            string partial = PartialName.ForRemote(target);
            progress.CurrentItem = srcPath;
            Log($"Relaying '{srcPath}' ({length} bytes) from '{_src.ExecutorId}' to '{_dst.ExecutorId}:{target}' with ticket {ticket.MaskedTicket}.");
            bool committed = false;
            long reported = 0;
            string? srcHashResult = null;
            try
            {
                var upConfig = Config(ticket, RelayDirection.Upload, uploadFile: srcPath, output: null);
                // curl writes the partial itself: a `curl | tee | hash` pipeline on the destination ran the whole
                // relay at 1.6x Pump on two cores; the partial hashed from the page cache afterwards ran it at 2.2x.
                var downConfig = Config(ticket, RelayDirection.Download, uploadFile: null, output: partial);
                var (up, down) = await RunPairAsync(
                    HeadCurl(upConfig), upConfig,
                    PartialJanitor.LaunchScript(partial) + HeadCurl(downConfig), downConfig,
                    partial, n => { progress.AddBytes(n - reported); reported = n; }, ticket, ct).ConfigureAwait(false);

                Log($"The relay moved the bytes of '{srcPath}'; verifying.");
                long putBytes = CheckUpload(up, ticket);
                var downReport = CheckDownload(down, ticket);
                if (putBytes != length || downReport.BytesDownloaded != length)
                    throw new ExecBridgeException(ExecBridgeErrorKind.IntegrityCheckFailed,
                        $"The relay moved {putBytes} bytes up and {downReport.BytesDownloaded} down for '{srcPath}' of {length} bytes; the copy was discarded.");

                // Both executors hash at once, after the transfer: hashing the source while it was sent took the CPU the
                // transfer needed on two cores (transfer 0.64 s with it, 0.45 s without, for 256 MiB; each hash ~0.2 s).
                // The destination's helper hashes, then waits for the source's digest, compares and renames.
                // The source's helper prints its mode bits too: a new target gets them, as cp gives them (#18.9).
                int? srcMode = null;
                var srcHash = HashWithModeAsync(_src, srcPath, m => srcMode = m, ct);
                try
                {
                    await _dst.HashThenVerifyAndMoveAsync(partial, target, srcHash, overwrite: true, ct, () => srcMode).ConfigureAwait(false);
                }
                catch (ExecBridgeException ex) when (ex.Kind == ExecBridgeErrorKind.NotSupported)
                {
                    // No hash tool on the destination: this client reads the partial back and hashes it.
                    string sourceHash = await srcHash.ConfigureAwait(false);
                    string dstHash = await HashAsync(_dst, partial, ct).ConfigureAwait(false);
                    if (!string.Equals(sourceHash, dstHash, StringComparison.OrdinalIgnoreCase))
                        throw new ExecBridgeException(ExecBridgeErrorKind.IntegrityCheckFailed,
                            $"The relayed copy of '{srcPath}' does not match the source (SHA-256 {dstHash} on '{_dst.ExecutorId}', {sourceHash} on '{_src.ExecutorId}'); the copy was discarded.");
                    await _dst.MoveAsync(partial, target, ct).ConfigureAwait(false);
                }
                finally
                {
                    // Never leave the source hash unobserved when the commit failed first.
                    _ = srcHash.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                }
                srcHashResult = await srcHash.ConfigureAwait(false);
                progress.AddBytes(length - reported);
                reported = length;

                committed = true;
                progress.FileDone();
                Log($"Relayed '{srcPath}' -> '{target}': {length} bytes, SHA-256 {srcHashResult}.");
                return new CopyResult(srcPath, _src.ExecutorId, target, _dst.ExecutorId, false, length, srcHashResult, DateTime.UtcNow - started);
            }
            catch (ExecBridgeException ex) when (ex is RelayTransferException || ex.Kind == ExecBridgeErrorKind.IntegrityCheckFailed)
            {
                progress.AddBytes(-reported);
                // The ticket allows exactly the size read beforehand: a source that grew meanwhile is cut by the relay,
                // and curl only sees an empty reply (exit 52). Name that cause instead.
                long? now = null;
                try { now = (await _src.TryGetMetadataAsync(srcPath, CancellationToken.None).ConfigureAwait(false))?.Length; } catch { }
                if (now != null && now.Value != length)
                    throw new RelayTransferException(
                        $"'{srcPath}' on executor '{_src.ExecutorId}' changed size during the relay copy ({length} bytes when it started, {now.Value} now); "
                        + "the relay carries only the bytes its ticket was made for, so the transfer was cut. The destination was left untouched.",
                        (ex as RelayTransferException)?.HttpStatus, (ex as RelayTransferException)?.CurlExit ?? 0);
                throw;
            }
            catch
            {
                progress.AddBytes(-reported);
                throw;
            }
            finally
            {
                if (!committed) await RemoveQuietlyAsync(_dst, partial, recursive: false).ConfigureAwait(false);
            }
        }

        // ------------------------------------------------------------------ a folder as a tar stream

        /// <summary>Copies folder srcDir to 'target' as one tar stream; extracted beside target, then renamed (or merged with Force).</summary>
        public async Task<CopyResult> CopyFolderAsync(RelaySettings settings, string srcDir, string target, bool targetExists, TransferProgress progress,
            CancellationToken ct)
        {
            var started = DateTime.UtcNow;
            progress.CurrentItem = srcDir;
            var (files, bytes, bound) = await MeasureTreeAsync(srcDir, ct).ConfigureAwait(false);
            progress.AddPlanned(bytes, files);
            var ticket = await MintAsync(settings, bound, ct).ConfigureAwait(false);
            string temp = PartialName.ForRemote(target);
            Log($"Relaying folder '{srcDir}' ({files} files, {bytes} bytes) from '{_src.ExecutorId}' to '{_dst.ExecutorId}:{target}' as a tar stream with ticket {ticket.MaskedTicket}.");
            bool done = false;
            long reported = 0;
            try
            {
                var upConfig = Config(ticket, RelayDirection.Upload, uploadFile: "/dev/fd/4", output: null);
                var downConfig = Config(ticket, RelayDirection.Download, uploadFile: null, output: "/dev/fd/4");
                string upScript =
                    "cd -- " + RemotePath.ShellQuote(srcDir) + " || exit 2\n" +
                    "exec 3<&0\n" +
                    "{ tar -cf - . ; echo \"EBTAR $?\" >&2; } | { head -c " + upConfig.Length.ToString(CultureInfo.InvariantCulture) + " <&3 | curl -q -K - ; } 4<&0\n";
                string downScript =
                    "mkdir -- " + RemotePath.ShellQuote(temp) + " || exit 2\n" +
                    "exec 3>&1\n" +
                    "{ head -c " + downConfig.Length.ToString(CultureInfo.InvariantCulture) + " | curl -q -K - 4>&1 >&3 ; echo \"EBCURL $?\" >&2; } | tar -xf - -C " + RemotePath.ShellQuote(temp) + "\n" +
                    "echo \"EBTAR $?\" >&2\n";
                // Progress: the tar stream is ~ the file bytes; the extracted size is what we can see.
                var (up, down) = await RunPairAsync(upScript, upConfig, downScript, downConfig, null,
                    n => { }, ticket, ct).ConfigureAwait(false);

                long putBytes = CheckUpload(up, ticket);
                if (Marker(up.Stderr, "EBTAR") is int upTar && upTar != 0)
                    throw new ExecBridgeException(ExecBridgeErrorKind.RelayFailed,
                        $"tar failed on '{_src.ExecutorId}' while packing '{srcDir}' (exit {upTar}): {Short(up.Stderr, ticket)}");
                int? curlExit = Marker(down.Stderr, "EBCURL");
                if (curlExit != 0)
                {
                    if (curlExit == 127) throw new RelayToolMissingException(_dst.ExecutorId, "curl");
                    throw CurlFailure(_dst.ExecutorId, "download", curlExit ?? down.Exit, RelayCurl.ParseReport(down.Stdout), down.Stderr, ticket);
                }
                var downReport = RelayCurl.ParseReport(down.Stdout);
                if (Marker(down.Stderr, "EBTAR") is int downTar && downTar != 0)
                    throw new ExecBridgeException(ExecBridgeErrorKind.RelayFailed,
                        $"tar failed on '{_dst.ExecutorId}' while unpacking into '{temp}' (exit {downTar}): {Short(down.Stderr, ticket)}");
                if (downReport == null || downReport.BytesDownloaded != putBytes)
                    throw new ExecBridgeException(ExecBridgeErrorKind.IntegrityCheckFailed,
                        $"The relay moved {putBytes} bytes up and {downReport?.BytesDownloaded.ToString(CultureInfo.InvariantCulture) ?? "?"} down for folder '{srcDir}'; the copy was discarded.");

                var srcManifest = ManifestAsync(_src, srcDir, ct);
                var dstManifest = ManifestAsync(_dst, temp, ct);
                await Task.WhenAll(srcManifest, dstManifest).ConfigureAwait(false);
                if (srcManifest.Result == null || dstManifest.Result == null)
                    Log("sha256sum is missing on an executor: the folder was checked by tar stream size only.");
                else if (srcManifest.Result != dstManifest.Result)
                    throw new ExecBridgeException(ExecBridgeErrorKind.IntegrityCheckFailed,
                        $"The relayed folder '{srcDir}' does not match the source (file list or SHA-256 differ); the copy was discarded.");

                if (!targetExists)
                {
                    var r = await _dst.RunCommandAsync($"mv -T -- {RemotePath.ShellQuote(temp)} {RemotePath.ShellQuote(target)}", ct).ConfigureAwait(false);
                    if (r.ExitCode != 0)
                        throw new ExecBridgeException(ExecBridgeErrorKind.ServerError,
                            $"Could not rename '{temp}' to '{target}' on executor '{_dst.ExecutorId}': {r.Stderr.Trim()}");
                }
                else
                {
                    // -Force onto an existing folder merges into it (like the pump path does).
                    var r = await _dst.RunCommandAsync($"cp -a -- {RemotePath.ShellQuote(temp)}/. {RemotePath.ShellQuote(target)}/ && rm -rf -- {RemotePath.ShellQuote(temp)}", ct,
                        TimeSpan.FromMinutes(10)).ConfigureAwait(false);
                    if (r.ExitCode != 0)
                        throw new ExecBridgeException(ExecBridgeErrorKind.ServerError,
                            $"Could not merge '{temp}' into '{target}' on executor '{_dst.ExecutorId}': {r.Stderr.Trim()}");
                }
                done = true;
                progress.AddBytes(bytes);
                reported = bytes;
                for (int i = 0; i < files; i++) progress.FileDone();
                Log($"Relayed folder '{srcDir}' -> '{target}': {files} files, {bytes} bytes ({putBytes} bytes of tar stream).");
                return new CopyResult(srcDir, _src.ExecutorId, target, _dst.ExecutorId, true, bytes, null, DateTime.UtcNow - started);
            }
            finally
            {
                if (!done) await RemoveQuietlyAsync(_dst, temp, recursive: true).ConfigureAwait(false);
            }
        }

        /// <summary>Files, their bytes, and an upper bound of the tar stream size (for max_bytes).</summary>
        private async Task<(int Files, long Bytes, long Bound)> MeasureTreeAsync(string dir, CancellationToken ct)
        {
            var r = await _src.RunCommandAsync($"cd -- {RemotePath.ShellQuote(dir)} && find . -printf '%y %s\\n'", ct, TimeSpan.FromMinutes(5))
                .ConfigureAwait(false);
            if (r.ExitCode != 0)
                throw new ExecBridgeException(ExecBridgeErrorKind.ServerError, $"Could not list '{dir}' on executor '{_src.ExecutorId}': {r.Stderr.Trim()}");
            int files = 0;
            long bytes = 0, bound = 20480;
            foreach (var line in r.StdoutText.Split('\n'))
            {
                var parts = line.Trim().Split(' ');
                if (parts.Length != 2) continue;
                long size = long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : 0;
                // Header, GNU long name/link records, padding.
                bound += 4 * 512;
                if (parts[0] == "f")
                {
                    files++;
                    bytes += size;
                    bound += (size + 511) / 512 * 512;
                }
            }
            bound = (bound + 10239) / 10240 * 10240 + 10240;
            return (files, bytes, bound);
        }

        /// <summary>A digest over the folder's directories, links and file hashes; null when sha256sum is missing.</summary>
        private static async Task<string?> ManifestAsync(ExecutorClient client, string dir, CancellationToken ct)
        {
            string script =
                "command -v sha256sum >/dev/null 2>&1 || exit 127\n" +
                "cd -- " + RemotePath.ShellQuote(dir) + " || exit 2\n" +
                "{ find . -type d -print0 | LC_ALL=C sort -z; printf '\\n--\\n'; find . -type l -printf '%p -> %l\\0' | LC_ALL=C sort -z; printf '\\n--\\n';" +
                " find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum --; } | sha256sum\n";
            var r = await client.RunCommandAsync(script, ct, TimeSpan.FromMinutes(10)).ConfigureAwait(false);
            if (r.ExitCode == 127) return null;
            var text = r.StdoutText.Trim();
            if (r.ExitCode != 0 || text.Length < 64)
                throw new ExecBridgeException(ExecBridgeErrorKind.ServerError, $"Could not hash folder '{dir}' on executor '{client.ExecutorId}': {r.Stderr.Trim()}");
            return text.Substring(0, 64);
        }

        // ------------------------------------------------------------------ running the two sides

        private sealed class SideResult
        {
            public int Exit;
            public string Stdout = "";
            public string Stderr = "";
        }

        /// <summary>
        /// Runs uploader and downloader at once. When one fails (exit != 0 or an exception), the other is terminated.
        /// Returns both results when both exited 0; otherwise throws the first, most telling failure.
        /// </summary>
        private async Task<(SideResult Up, SideResult Down)> RunPairAsync(string upScript, byte[] upConfig, string downScript, byte[] downConfig,
            string? watchPath, Action<long> onProgress, RelayTicketInfo ticket, CancellationToken ct)
        {
            using var pair = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var idle = _options.TicketTimeToLive + TimeSpan.FromMinutes(1);
            var upTask = RunScriptAsync(_src, _options.SourceEnvironment, Guard(upScript), upConfig, idle, pair.Token);
            var downTask = RunScriptAsync(_dst, _options.DestinationEnvironment, Guard(downScript), downConfig, idle, pair.Token);
            var watcher = watchPath == null ? Task.CompletedTask : WatchAsync(_dst, watchPath, onProgress, pair.Token);

            var pending = new List<Task<SideResult>> { upTask, downTask };
            bool stopping = false;
            while (pending.Count > 0)
            {
                var first = await Task.WhenAny(pending).ConfigureAwait(false);
                pending.Remove(first);
                bool failed = first.IsFaulted || first.IsCanceled || first.Result.Exit != 0;
                if (failed && !stopping && pending.Count > 0)
                {
                    // The other side usually fails on its own within moments (and says why, e.g. the relay's HTTP
                    // status); give it that, then terminate it.
                    stopping = true;
                    Log(first == upTask ? "The uploader failed; stopping the downloader." : "The downloader failed; stopping the uploader.");
                    pair.CancelAfter(StopGrace);
                }
            }
            pair.Cancel();
            try { await watcher.ConfigureAwait(false); } catch { }
            ct.ThrowIfCancellationRequested();

            // Pick the most telling failure: a missing tool, then an HTTP status from the relay, then whatever came first.
            Exception? failure = null;
            foreach (var (task, client, what) in new[] { (upTask, _src, "upload"), (downTask, _dst, "download") })
            {
                if (task.Status != TaskStatus.RanToCompletion) continue;
                var r = task.Result;
                if (r.Exit == 127 && failure is not RelayToolMissingException) failure = new RelayToolMissingException(client.ExecutorId, "curl");
            }
            if (failure == null)
            {
                foreach (var (task, client, what) in new[] { (upTask, _src, "upload"), (downTask, _dst, "download") })
                {
                    if (task.Status != TaskStatus.RanToCompletion || task.Result.Exit == 0) continue;
                    var ex = CurlFailure(client.ExecutorId, what, task.Result.Exit, RelayCurl.ParseReport(task.Result.Stdout), task.Result.Stderr, ticket);
                    if (failure == null || (failure is RelayTransferException prev && prev.HttpStatus == null && ex.HttpStatus != null)) failure = ex;
                }
            }
            if (failure == null)
            {
                foreach (var task in new[] { upTask, downTask })
                    if (task.IsFaulted && task.Exception!.InnerException is not OperationCanceledException)
                    {
                        failure = task.Exception.InnerException;
                        break;
                    }
            }
            if (failure != null) throw failure;
            if (upTask.Status != TaskStatus.RanToCompletion || downTask.Status != TaskStatus.RanToCompletion)
                throw new ExecBridgeException(ExecBridgeErrorKind.RelayFailed, "The relay transfer was stopped.");
            return (upTask.Result, downTask.Result);
        }

        /// <summary>Exit 127 when curl is missing; 'head' passes exactly the config to curl because stdin cannot be closed.</summary>
        private static string HeadCurl(byte[] config) => "head -c " + config.Length.ToString(CultureInfo.InvariantCulture) + " | curl -q -K -\n";

        private static string Guard(string script) => "command -v curl >/dev/null 2>&1 || exit 127\n" + script;

        private static async Task<SideResult> RunScriptAsync(ExecutorClient client, IDictionary<string, string>? env, string script, byte[]? stdin,
            TimeSpan idle, CancellationToken ct)
        {
            var stdout = new MemoryStream();
            var stderr = new MemoryStream();
            var spec = new ProcessStartSpec
            {
                Argv = new[] { "/bin/sh", "-c", script },
                WorkingDirectory = "/",
                PipeStdin = stdin != null,
                Environment = env,
            };
            int code = await client.RunProcessAsync(spec,
                (chunk, _) =>
                {
                    if (stdout.Length < 1024 * 1024) { var a = chunk.ToArray(); stdout.Write(a, 0, a.Length); }
                    return Task.CompletedTask;
                }, stderr,
                stdin == null ? null : (Func<RemoteProcessHandle, Task>)(async h =>
                {
                    await client.WriteInputAsync(h, new ArraySegment<byte>(stdin), ct).ConfigureAwait(false);
                }),
                idle, ct).ConfigureAwait(false);
            return new SideResult { Exit = code, Stdout = Utf8.GetString(stdout.ToArray()), Stderr = Utf8.GetString(stderr.ToArray()) };
        }

        private static async Task WatchAsync(ExecutorClient client, string path, Action<long> onProgress, CancellationToken ct)
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(500, ct).ConfigureAwait(false);
                try
                {
                    var info = await client.TryGetMetadataAsync(path, ct).ConfigureAwait(false);
                    if (info?.Length is long n) onProgress(n);
                }
                catch (OperationCanceledException) { throw; }
                catch (ExecBridgeException) { }
            }
        }

        // ------------------------------------------------------------------ checks

        private long CheckUpload(SideResult up, RelayTicketInfo ticket)
        {
            var report = RelayCurl.ParseReport(up.Stdout);
            if (report == null || report.HttpCode != 200)
                throw CurlFailure(_src.ExecutorId, "upload", up.Exit, report, up.Stderr, ticket);
            var m = Regex.Match(up.Stdout, "\"bytes\"\\s*:\\s*(\\d+)");
            if (!m.Success)
                throw new ExecBridgeException(ExecBridgeErrorKind.RelayFailed, "The relay did not report how many bytes it received.");
            return long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        }

        private RelayCurlReport CheckDownload(SideResult down, RelayTicketInfo ticket)
        {
            var report = RelayCurl.ParseReport(down.Stdout);
            if (report == null || report.HttpCode != 200)
                throw CurlFailure(_dst.ExecutorId, "download", down.Exit, report, down.Stderr, ticket);
            return report;
        }

        internal static RelayTransferException CurlFailure(string executorId, string what, int exit, RelayCurlReport? report, string stderr, RelayTicketInfo ticket)
        {
            int? status = report != null && report.HttpCode >= 400 ? report.HttpCode : (int?)null;
            if (status == null)
            {
                var m = Regex.Match(stderr, @"returned error: (\d{3})");
                if (m.Success) status = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            }
            string why;
            switch (status)
            {
                case 401: why = "the relay refused the ticket (HTTP 401)"; break;
                case 408: why = "the ticket expired while waiting for the other executor (HTTP 408)"; break;
                case 410: why = "the ticket is unknown, expired or already used (HTTP 410)"; break;
                case 423: why = "the ticket is already in use by another transfer (HTTP 423)"; break;
                case 500: why = "the relay failed the transfer: more bytes than the ticket allows, or the relay connection broke (HTTP 500)"; break;
                case int s: why = $"the relay answered HTTP {s}"; break;
                default:
                    why = exit switch
                    {
                        18 or 56 or 52 or 92 => $"the relay connection broke mid-transfer (curl exit {exit})",
                        28 => "the relay transfer timed out (curl exit 28)",
                        7 or 6 => $"the relay could not be reached (curl exit {exit})",
                        _ => $"curl exit {exit}",
                    };
                    break;
            }
            var detail = Short(stderr, ticket);
            return new RelayTransferException(
                $"The relay {what} on executor '{executorId}' failed: {why}{(detail.Length > 0 ? " — " + detail : "")}. The destination was left untouched.",
                status, exit);
        }

        private static string Short(string stderr, RelayTicketInfo ticket)
        {
            var lines = stderr.Split('\n').Select(l => l.Trim())
                .Where(l => l.Length > 0 && !l.StartsWith("EBTAR", StringComparison.Ordinal) && !l.StartsWith("EBCURL", StringComparison.Ordinal));
            var text = ticket.Scrub(string.Join(" ", lines));
            text = RelayTicketInfo.MaskAll(text);
            return text.Length > 300 ? text.Substring(0, 300) + "…" : text;
        }

        private static int? Marker(string text, string name)
        {
            var m = Regex.Match(text, name + @" (\d+)");
            return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : (int?)null;
        }

        /// <summary>HashAsync, plus the file's mode bits where the executor's hash helper could print them.</summary>
        private async Task<string> HashWithModeAsync(ExecutorClient client, string path, Action<int?> onMode, CancellationToken ct)
        {
            try
            {
                var (sha, mode) = await client.Sha256AndModeAsync(path, ct).ConfigureAwait(false);
                onMode(mode);
                return sha;
            }
            catch (ExecBridgeException ex) when (ex.Kind == ExecBridgeErrorKind.NotSupported)
            {
                return await HashAsync(client, path, ct).ConfigureAwait(false);
            }
        }

        /// <summary>sha256sum on the executor, or this client's own hash of the bytes when the tool is missing.</summary>
        private async Task<string> HashAsync(ExecutorClient client, string path, CancellationToken ct)
        {
            try
            {
                return await client.Sha256Async(path, ct).ConfigureAwait(false);
            }
            catch (ExecBridgeException ex) when (ex.Kind == ExecBridgeErrorKind.NotSupported)
            {
                Log($"Executor '{client.ExecutorId}' has no sha256sum; hashing '{path}' in the client.");
                using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                await client.ReadStreamAsync(path, 0, null, (chunk, _) =>
                {
                    hasher.AppendData(chunk.ToArray());
                    return Task.CompletedTask;
                }, ct).ConfigureAwait(false);
                return CopyEngine.ToHex(hasher.GetHashAndReset());
            }
        }

        // ------------------------------------------------------------------ helpers

        /// <summary>The curl config: URL and Authorization header (the secrets), then the file to send or where to write.</summary>
        private static byte[] Config(RelayTicketInfo ticket, RelayDirection direction, string? uploadFile, string? output)
        {
            var sb = new StringBuilder();
            void Line(string key, string value) => sb.Append(key).Append(" = \"").Append(RelayCurl.Escape(value)).Append("\"\n");
            Line("url", (direction == RelayDirection.Upload ? ticket.UploadUri : ticket.DownloadUri).AbsoluteUri);
            Line("header", "Authorization: Bearer " + ticket.Ticket);
            if (uploadFile != null)
            {
                Line("upload-file", uploadFile);
                Line("header", "Expect:");
            }
            if (output != null) Line("output", output);
            sb.Append("fail\nsilent\nshow-error\n");
            Line("connect-timeout", "20");
            sb.Append("write-out = \"\\n" + RelayCurl.ReportMarker + " %{http_code} %{size_upload} %{size_download}\\n\"\n");
            return Utf8.GetBytes(sb.ToString());
        }

        internal static async Task RemoveQuietlyAsync(ExecutorClient client, string path, bool recursive)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                await client.RemoveAsync(path, recursive, force: true, cts.Token).ConfigureAwait(false);
            }
            catch
            {
            }
        }

        private void Log(string message) => _log?.LogInformation("{Message}", message);
    }

    /// <summary>A relay transfer failed (HTTP status from the relay when known, and curl's exit code).</summary>
    public sealed class RelayTransferException : ExecBridgeException
    {
        public RelayTransferException(string message, int? httpStatus, int curlExit)
            : base(ExecBridgeErrorKind.RelayFailed, message)
        {
            HttpStatus = httpStatus;
            CurlExit = curlExit;
        }

        public int? HttpStatus { get; }
        public int CurlExit { get; }
    }
}
