using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Files;
using ExecBridge.Client.Processes;
using ExecBridge.Client.Rpc;

namespace ExecBridge.Client
{
    /// <summary>
    /// File operations. Every fs/* call passes its flags explicitly: the server's defaults (recursive, silent
    /// remove; merging copy; recursive mkdir) are never inherited (notes §8.1, §12.10).
    /// </summary>
    public sealed partial class ExecutorClient
    {
        /// <summary>fs/writeFile is used up to this size; above it writes are chunked (a single frame tops out near 11 MiB).</summary>
        public const int SmallWriteLimit = 8 * 1024 * 1024;

        /// <summary>fs/readBlock returns at most this much (notes §8.2).</summary>
        public const int ReadBlockSize = 1024 * 1024;

        private bool? _hasWriteBlock;

        /// <summary>Helper tools (and the environment they were looked up with) found on this executor.</summary>
        internal System.Collections.Concurrent.ConcurrentDictionary<string, bool> FoundTools { get; } =
            new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        private long _handleCounter;

        internal string NewHandleId(string kind) => $"{kind}-{_instanceTag}-{Interlocked.Increment(ref _handleCounter)}";

        private string Wire(string path) => RemotePath.ToWire(path, PathStyle);

        private static void WritePathParams(Utf8JsonWriter w, string name, string wire)
        {
            w.WriteString(name, wire);
        }

        /// <summary>Rewrites an fs/* error so it names the path and the executor; the kind (not found, denied, folder) is kept.</summary>
        internal ExecBridgeException Translate(RemoteErrorException ex, string path)
        {
            switch (ex.Kind)
            {
                case ExecBridgeErrorKind.RemotePathNotFound:
                    return new ExecBridgeException(ex.Kind, $"Remote path '{path}' (or its parent folder) does not exist on executor '{ExecutorId}'.", ex);
                case ExecBridgeErrorKind.RemotePermissionDenied:
                    return new ExecBridgeException(ex.Kind, $"Permission denied for remote path '{path}' on executor '{ExecutorId}'.", ex);
                case ExecBridgeErrorKind.RemotePathIsDirectory:
                    return new ExecBridgeException(ex.Kind, $"Remote path '{path}' on executor '{ExecutorId}' is a folder, not a file.", ex);
                default:
                    return new ExecBridgeException(ex.Kind, $"{ex.Message} (path '{path}', executor '{ExecutorId}')", ex);
            }
        }

        private async Task<RpcMessageLease> FsCallAsync(string method, string path, Action<Utf8JsonWriter> writeParams, CancellationToken ct)
        {
            await EnsureConnectedAsync(ct).ConfigureAwait(false);
            try
            {
                return new RpcMessageLease(await CallAsync(method, writeParams, ct).ConfigureAwait(false));
            }
            catch (RemoteErrorException ex) when (!ex.IsMethodNotFound)
            {
                throw Translate(ex, path);
            }
        }

        // ---------------------------------------------------------------- metadata and listing

        /// <summary>fs/getMetadata; on dialects without 'size' the length of a file is read with stat.</summary>
        public async Task<RemoteFileInfo> GetMetadataAsync(string path, CancellationToken ct, bool needLength = true)
        {
            path = RemotePath.Normalize(path);
            await EnsureConnectedAsync(ct).ConfigureAwait(false);
            var wire = Wire(path);
            RemoteFileInfo info;
            using (var r = await FsCallAsync("fs/getMetadata", path, w => { w.WriteStartObject(); w.WriteString("path", wire); w.WriteEndObject(); }, ct)
                       .ConfigureAwait(false))
            {
                info = ParseMetadata(path, r.Message.Result);
            }
            if (needLength && info.IsFile && info.Length == null)
            {
                var lengths = await StatLengthsAsync(new[] { path }, ct).ConfigureAwait(false);
                info.Length = lengths[0];
            }
            return info;
        }

        /// <summary>Like GetMetadataAsync but null when the path does not exist.</summary>
        public async Task<RemoteFileInfo?> TryGetMetadataAsync(string path, CancellationToken ct, bool needLength = true)
        {
            try
            {
                return await GetMetadataAsync(path, ct, needLength).ConfigureAwait(false);
            }
            catch (ExecBridgeException ex) when (ex.Kind == ExecBridgeErrorKind.RemotePathNotFound)
            {
                return null;
            }
        }

        /// <summary>A JSON value for an error message: its kind, and the value itself when short (never file data).</summary>
        internal static string Describe(JsonElement e)
        {
            var text = e.ValueKind == JsonValueKind.Undefined ? "missing" : e.GetRawText();
            return e.ValueKind.ToString().ToLowerInvariant() + (text.Length <= 40 ? " " + text : "");
        }

        private static RemoteFileInfo ParseMetadata(string path, JsonElement r)
        {
            bool Flag(string name) => r.ValueKind == JsonValueKind.Object && r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
            long? size = null;
            if (r.ValueKind == JsonValueKind.Object && r.TryGetProperty("size", out var s) && s.ValueKind != JsonValueKind.Null)
            {
                if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt64(out long n) || n < 0)
                    throw new ExecBridgeException(ExecBridgeErrorKind.ProtocolViolation, $"The executor gave '{path}' a size that is not a byte count ({Describe(s)}).");
                size = n;
            }
            DateTimeOffset? modified = null;
            // A time out of DateTimeOffset's range (hostile or broken server) is left unknown rather than thrown.
            if (r.ValueKind == JsonValueKind.Object && r.TryGetProperty("modifiedAtMs", out var m) && m.ValueKind == JsonValueKind.Number
                && m.TryGetInt64(out long ms) && ms > 0 && ms <= 253402300799999)
                modified = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            bool isDir = Flag("isDirectory");
            return new RemoteFileInfo(path, isDir, Flag("isFile"), Flag("isSymlink"), isDir ? null : size, modified);
        }

        /// <summary>fs/readDirectory: names and types, unsorted.</summary>
        public async Task<IReadOnlyList<RemoteDirectoryEntry>> ReadDirectoryAsync(string path, CancellationToken ct)
        {
            path = RemotePath.Normalize(path);
            await EnsureConnectedAsync(ct).ConfigureAwait(false);
            var wire = Wire(path);
            try
            {
                using var r = await FsCallAsync("fs/readDirectory", path, w => { w.WriteStartObject(); w.WriteString("path", wire); w.WriteEndObject(); }, ct)
                    .ConfigureAwait(false);
                var list = new List<RemoteDirectoryEntry>();
                if (r.Message.Result.ValueKind == JsonValueKind.Object && r.Message.Result.TryGetProperty("entries", out var entries))
                {
                    if (entries.ValueKind != JsonValueKind.Array)
                        throw new ExecBridgeException(ExecBridgeErrorKind.ProtocolViolation, $"The executor listed '{path}' with entries that are not an array ({Describe(entries)}).");
                    foreach (var e in entries.EnumerateArray())
                    {
                        if (e.ValueKind != JsonValueKind.Object) continue;
                        var name = e.TryGetProperty("fileName", out var fn) ? JsonText.TryString(fn) : null;
                        if (string.IsNullOrEmpty(name)) continue;
                        list.Add(new RemoteDirectoryEntry(name!,
                            e.TryGetProperty("isDirectory", out var d) && d.ValueKind == JsonValueKind.True,
                            e.TryGetProperty("isFile", out var f) && f.ValueKind == JsonValueKind.True));
                    }
                }
                return list;
            }
            catch (ExecBridgeException ex) when (ex.InnerException is RemoteErrorException re && re.RemoteMessage.Contains("os error 20)"))
            {
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, $"Remote path '{path}' on executor '{ExecutorId}' is a file, not a folder.", ex);
            }
        }

        // ---------------------------------------------------------------- small reads and writes

        /// <summary>fs/readFile of a whole file in one response (use the streaming reader for large files).</summary>
        public async Task<byte[]> ReadFileAsync(string path, CancellationToken ct)
        {
            path = RemotePath.Normalize(path);
            await EnsureConnectedAsync(ct).ConfigureAwait(false);
            var wire = Wire(path);
            using var r = await FsCallAsync("fs/readFile", path, w => { w.WriteStartObject(); w.WriteString("path", wire); w.WriteEndObject(); }, ct)
                .ConfigureAwait(false);
            var data = r.Message.Result.TryGetProperty("dataBase64", out var d) && d.ValueKind == JsonValueKind.String
                ? d.GetBytesFromBase64() : Array.Empty<byte>();
            return data;
        }

        /// <summary>
        /// fs/writeFile: creates or truncates in place, never creates parents. Callers that must not leave a
        /// half-written file use RemoteFileWriter (write aside, then rename).
        /// </summary>
        public async Task WriteFileAsync(string path, ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            path = RemotePath.Normalize(path);
            if (data.Length > SmallWriteLimit + SmallWriteLimit / 4)
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument,
                    $"fs/writeFile is limited to about {SmallWriteLimit / (1024 * 1024)} MiB; use a streaming write for '{path}'.");
            await EnsureConnectedAsync(ct).ConfigureAwait(false);
            var wire = Wire(path);
            using var _ = await FsCallAsync("fs/writeFile", path, w =>
            {
                w.WriteStartObject();
                w.WriteString("path", wire);
                w.WriteBase64String("dataBase64", data.Span);
                w.WriteEndObject();
            }, ct).ConfigureAwait(false);
        }

        /// <summary>fs/createDirectory with an explicit 'recursive' (the server defaults it to true).</summary>
        public async Task CreateDirectoryAsync(string path, bool recursive, CancellationToken ct)
        {
            path = RemotePath.Normalize(path);
            await EnsureConnectedAsync(ct).ConfigureAwait(false);
            var wire = Wire(path);
            try
            {
                using var _ = await FsCallAsync("fs/createDirectory", path, w =>
                {
                    w.WriteStartObject();
                    w.WriteString("path", wire);
                    w.WriteBoolean("recursive", recursive);
                    w.WriteEndObject();
                }, ct).ConfigureAwait(false);
            }
            catch (ExecBridgeException ex) when (ex.InnerException is RemoteErrorException re && re.RemoteMessage.Contains("os error 17)"))
            {
                throw new ExecBridgeException(ExecBridgeErrorKind.DestinationExists, $"Remote path '{path}' already exists on executor '{ExecutorId}'.", ex);
            }
        }

        /// <summary>
        /// fs/remove with both flags explicit. recursive:false refuses a non-empty folder; force:false reports a
        /// missing path (the server's defaults are true and true: silent recursive delete).
        /// </summary>
        public async Task RemoveAsync(string path, bool recursive, bool force, CancellationToken ct)
        {
            path = RemotePath.Normalize(path);
            if (path == "/") throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "Refusing to remove the root folder '/'.");
            await EnsureConnectedAsync(ct).ConfigureAwait(false);
            var wire = Wire(path);
            try
            {
                using var _ = await FsCallAsync("fs/remove", path, w =>
                {
                    w.WriteStartObject();
                    w.WriteString("path", wire);
                    w.WriteBoolean("recursive", recursive);
                    w.WriteBoolean("force", force);
                    w.WriteEndObject();
                }, ct).ConfigureAwait(false);
            }
            catch (ExecBridgeException ex) when (ex.InnerException is RemoteErrorException re && re.RemoteMessage.Contains("os error 39)"))
            {
                throw new RemoteDirectoryNotEmptyException(path, ExecutorId, ex);
            }
        }

        /// <summary>fs/copy with an explicit 'recursive'. Beware: it overwrites files and merges folders; callers check first.</summary>
        public async Task CopyRawAsync(string sourcePath, string destinationPath, bool recursive, CancellationToken ct)
        {
            sourcePath = RemotePath.Normalize(sourcePath);
            destinationPath = RemotePath.Normalize(destinationPath);
            await EnsureConnectedAsync(ct).ConfigureAwait(false);
            var src = Wire(sourcePath);
            var dst = Wire(destinationPath);
            using var _ = await FsCallAsync("fs/copy", sourcePath, w =>
            {
                w.WriteStartObject();
                w.WriteString("sourcePath", src);
                w.WriteString("destinationPath", dst);
                w.WriteBoolean("recursive", recursive);
                w.WriteEndObject();
            }, ct).ConfigureAwait(false);
        }

        internal static ExecBridgeErrorKind ClassifyShellError(string stderr)
        {
            if (stderr.Contains("No such file")) return ExecBridgeErrorKind.RemotePathNotFound;
            if (stderr.Contains("Permission denied")) return ExecBridgeErrorKind.RemotePermissionDenied;
            if (stderr.Contains("Is a directory")) return ExecBridgeErrorKind.RemotePathIsDirectory;
            return ExecBridgeErrorKind.ServerError;
        }

        /// <summary>Whether fs/writeBlock exists (0.169+). Probed with an unknown handle, never with fs/open mode:"replace" (which truncates at once).</summary>
        public async Task<bool> HasWriteBlockAsync(CancellationToken ct)
        {
            if (_hasWriteBlock.HasValue) return _hasWriteBlock.Value;
            if (IsKnownUnsupported("fs/writeBlock")) return false;
            try
            {
                using var _ = await CallAsync("fs/writeBlock", w =>
                {
                    w.WriteStartObject();
                    w.WriteString("handleId", NewHandleId("probe"));
                    w.WriteNumber("offset", 0);
                    w.WriteString("chunk", "AA==");
                    w.WriteEndObject();
                }, ct).ConfigureAwait(false);
                _hasWriteBlock = true;
            }
            catch (RemoteErrorException ex)
            {
                _hasWriteBlock = !ex.IsMethodNotFound;
            }
            return _hasWriteBlock.Value;
        }

        // ---------------------------------------------------------------- helper processes

        /// <summary>Runs a short shell command on the executor and collects its output (stdout up to 16 MiB).</summary>
        public Task<RemoteCommandResult> RunCommandAsync(string command, CancellationToken ct, TimeSpan? idleTimeout = null) =>
            RunCommandAsync(command, null, ct, idleTimeout);

        /// <summary>The same with a stdin pipe that 'feedStdin' writes to once the process exists (no idle timeout until it is done).</summary>
        internal async Task<RemoteCommandResult> RunCommandAsync(string command, Func<RemoteProcessHandle, Task>? feedStdin, CancellationToken ct,
            TimeSpan? idleTimeout = null)
        {
            var stdout = new MemoryStream();
            var stderr = new MemoryStream();
            int code = await RunProcessAsync(new ProcessStartSpec { Argv = new[] { "/bin/sh", "-c", command }, WorkingDirectory = "/", PipeStdin = feedStdin != null },
                (chunk, _) =>
                {
                    if (stdout.Length + chunk.Length > 16 * 1024 * 1024)
                        throw new ExecBridgeException(ExecBridgeErrorKind.ProtocolViolation, "A helper command printed more than 16 MiB.");
                    Write(stdout, chunk);
                    return Task.CompletedTask;
                }, stderr, feedStdin, idleTimeout ?? RequestTimeout, ct).ConfigureAwait(false);
            return new RemoteCommandResult(code, stdout.ToArray(), Encoding.UTF8.GetString(stderr.ToArray()));
        }

        private static void Write(Stream s, ReadOnlyMemory<byte> data)
        {
            var arr = data.ToArray();
            s.Write(arr, 0, arr.Length);
        }

        /// <summary>
        /// Runs a process, handing stdout to 'onStdout' in order as the notifications arrive (they carry all output,
        /// notes §12.3) and keeping up to 64 KiB of stderr. 'afterStart' runs once the process exists (e.g. to feed
        /// stdin). Fails when nothing happens for 'idleTimeout'. Terminates the process when abandoned.
        /// With a 'backlog' limit, the process is terminated once more stdout than that waits for 'onStdout' (the
        /// server pushes output without flow control); what arrived is still delivered and 'backlog.Stopped' is set.
        /// A watcher checks while 'onStdout' is busy: a consumer stuck in one call is exactly when output piles up.
        /// </summary>
        internal async Task<int> RunProcessAsync(ProcessStartSpec spec, Func<ReadOnlyMemory<byte>, CancellationToken, Task>? onStdout,
            MemoryStream? stderr, Func<RemoteProcessHandle, Task>? afterStart, TimeSpan idleTimeout, CancellationToken ct,
            BacklogLimit? backlog = null)
        {
            var handle = await StartProcessAsync(spec, ct).ConfigureAwait(false);
            bool done = false;
            using var monitorStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Task monitor = backlog == null ? Task.CompletedTask : WatchBacklogAsync(handle, backlog, monitorStop.Token);
            try
            {
                Task? feeder = afterStart?.Invoke(handle);
                var lastActivity = DateTime.UtcNow;
                while (true)
                {
                    var chunks = handle.TakeUnread();
                    foreach (var c in chunks)
                    {
                        if (c.Stream == OutputStreamKind.Stderr)
                        {
                            if (stderr != null && stderr.Length < 64 * 1024) stderr.Write(c.Data, 0, Math.Min(c.Data.Length, 64 * 1024));
                        }
                        else if (onStdout != null)
                        {
                            await onStdout(c.Data, ct).ConfigureAwait(false);
                        }
                    }
                    if (chunks.Count > 0) lastActivity = DateTime.UtcNow;
                    if (feeder != null && feeder.IsCompleted)
                    {
                        await feeder.ConfigureAwait(false); // surfaces a failed stdin feed
                        feeder = null;
                        lastActivity = DateTime.UtcNow;
                    }
                    if (handle.Failure != null) throw handle.Failure;
                    if (handle.Closed && !handle.HasUnread) break;
                    if (feeder == null && DateTime.UtcNow - lastActivity > idleTimeout)
                        throw new ExecBridgeException(ExecBridgeErrorKind.Timeout,
                            $"A helper process on executor '{ExecutorId}' made no progress for {idleTimeout.TotalSeconds:0} s.");
                    await WaitForOutputAsync(handle, TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false);
                }
                if (feeder != null) await feeder.ConfigureAwait(false);
                done = true;
                return handle.ExitCode ?? -1;
            }
            finally
            {
                monitorStop.Cancel();
                try { await monitor.ConfigureAwait(false); } catch { }
                if (!done && !handle.IsFinished && State == ExecutorState.Connected) await TerminateQuietlyAsync(handle).ConfigureAwait(false);
                Forget(handle);
            }
        }
        private async Task WatchBacklogAsync(RemoteProcessHandle handle, BacklogLimit backlog, CancellationToken ct)
        {
            while (!ct.IsCancellationRequested && !handle.IsFinished)
            {
                if (!handle.Exited && handle.UnreadBytes > backlog.Bytes)
                {
                    backlog.Stopped = true;
                    using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    cts.CancelAfter(TimeSpan.FromSeconds(5));
                    await TerminateAsync(handle, cts.Token).ConfigureAwait(false);
                    return;
                }
                await Task.Delay(20, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>How much helper-process stdout may wait for its consumer before the process is stopped.</summary>
    internal sealed class BacklogLimit
    {
        public BacklogLimit(long bytes) { Bytes = bytes; }
        public long Bytes { get; }
        public bool Stopped { get; set; }
    }

    /// <summary>fs/remove with recursive:false on a folder that has entries.</summary>
    public sealed class RemoteDirectoryNotEmptyException : ExecBridgeException
    {
        public RemoteDirectoryNotEmptyException(string path, string executorId, Exception? inner = null)
            : base(ExecBridgeErrorKind.InvalidArgument,
                   $"Remote folder '{path}' on executor '{executorId}' is not empty; use -Recurse to remove it with everything in it.", inner)
        {
            Path = path;
        }

        public string Path { get; }
    }

    /// <summary>Disposes the response it wraps (lets FsCallAsync translate errors while callers keep using 'using').</summary>
    internal readonly struct RpcMessageLease : IDisposable
    {
        public RpcMessageLease(Rpc.RpcMessage message) { Message = message; }
        public Rpc.RpcMessage Message { get; }
        public void Dispose() => Message.Dispose();
    }
}
