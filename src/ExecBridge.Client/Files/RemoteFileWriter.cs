using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Processes;
using ExecBridge.Client.Rpc;

namespace ExecBridge.Client.Files
{
    /// <summary>How a RemoteFileWriter moves the bytes.</summary>
    public enum RemoteWriteMode
    {
        /// <summary>Buffered, then one fs/writeFile (files up to SmallWriteLimit).</summary>
        WriteFile,
        /// <summary>fs/open mode:"replace" + pipelined fs/writeBlock (0.169+).</summary>
        WriteBlock,
        /// <summary>`head -c N &gt; partial` on the executor fed through process/write (stdin cannot be closed, so the count ends it).</summary>
        Process,
    }

    /// <summary>
    /// Writes one remote file safely: the bytes go to a '&lt;name&gt;.partial-&lt;random&gt;' sibling, which is hashed on
    /// the executor, compared with what was sent and renamed into place (`mv -f`) by one helper process. A failed or abandoned write removes the
    /// partial, and a janitor on the executor removes it if this client dies first (PartialJanitor), so the destination
    /// never holds a truncated file. Memory stays bounded whatever the size.
    /// Not thread-safe: one writer per caller.
    /// </summary>
    public sealed class RemoteFileWriter
    {
        /// <summary>process/write size; BlocksInFlight of them are kept in flight (the server applies them in order).</summary>
        private const int ProcessChunk = 1024 * 1024;
        private const int BlocksInFlight = 4;

        private readonly ExecutorClient _client;
        private readonly bool _overwrite;
        private MemoryStream? _small;
        private string? _handleId;
        private byte[]? _block;
        private int _blockFill;
        private long _blockOffset;
        private readonly Queue<(Task<RpcMessage> Task, byte[] Buffer)> _inFlight = new Queue<(Task<RpcMessage>, byte[])>();
        private RemoteProcessHandle? _process;
        private readonly StringBuilder _processStderr = new StringBuilder();
        private readonly Queue<(Task<string> Task, byte[] Buffer)> _inputInFlight = new Queue<(Task<string>, byte[])>();
        private bool _finished;

        private RemoteFileWriter(ExecutorClient client, string path, string partialPath, long length, bool overwrite, RemoteWriteMode mode)
        {
            _client = client;
            Path = path;
            PartialPath = partialPath;
            Length = length;
            _overwrite = overwrite;
            Mode = mode;
        }

        public string Path { get; }
        public string PartialPath { get; }
        public long Length { get; }
        public long BytesWritten { get; private set; }
        public RemoteWriteMode Mode { get; }

        /// <summary>
        /// Checks the destination (not a folder; absent unless 'overwrite'; parent present unless 'createParents')
        /// and opens the partial file. 'length' is the exact number of bytes that will be written.
        /// </summary>
        public static async Task<RemoteFileWriter> CreateAsync(ExecutorClient client, string path, long length, bool overwrite, bool createParents,
            CancellationToken ct, RemoteWriteMode? forceMode = null)
        {
            path = RemotePath.Normalize(path);
            if (length < 0) throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "Length must not be negative.");
            var existing = await client.TryGetMetadataAsync(path, ct, needLength: false).ConfigureAwait(false);
            if (existing != null)
            {
                if (existing.IsDirectory)
                    throw new ExecBridgeException(ExecBridgeErrorKind.RemotePathIsDirectory, $"Remote path '{path}' on executor '{client.ExecutorId}' is a folder, not a file.");
                if (!overwrite)
                    throw new ExecBridgeException(ExecBridgeErrorKind.DestinationExists, $"Remote file '{path}' already exists on executor '{client.ExecutorId}'; use -Force to overwrite it.");
            }
            else
            {
                var parent = RemotePath.GetParent(path);
                var parentInfo = await client.TryGetMetadataAsync(parent, ct, needLength: false).ConfigureAwait(false);
                if (parentInfo == null)
                {
                    if (!createParents)
                        throw new ExecBridgeException(ExecBridgeErrorKind.RemotePathNotFound,
                            $"The folder '{parent}' does not exist on executor '{client.ExecutorId}'; use -Force to create it.");
                    await client.CreateDirectoryAsync(parent, recursive: true, ct).ConfigureAwait(false);
                }
                else if (!parentInfo.IsDirectory)
                {
                    throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, $"'{parent}' on executor '{client.ExecutorId}' is a file, not a folder.");
                }
            }

            RemoteWriteMode mode = forceMode ?? (length <= ExecutorClient.SmallWriteLimit ? RemoteWriteMode.WriteFile
                : await client.HasWriteBlockAsync(ct).ConfigureAwait(false) ? RemoteWriteMode.WriteBlock : RemoteWriteMode.Process);
            if (mode == RemoteWriteMode.WriteBlock && !await client.HasWriteBlockAsync(ct).ConfigureAwait(false))
                throw new ExecBridgeException(ExecBridgeErrorKind.NotSupported, $"Executor '{client.ExecutorId}' has no fs/writeBlock.");
            var partial = PartialName.ForRemote(path);
            var writer = new RemoteFileWriter(client, path, partial, length, overwrite, mode);
            try
            {
                await writer.OpenAsync(ct).ConfigureAwait(false);
            }
            catch
            {
                await writer.AbortAsync().ConfigureAwait(false);
                throw;
            }
            return writer;
        }

        private async Task OpenAsync(CancellationToken ct)
        {
            switch (Mode)
            {
                case RemoteWriteMode.WriteFile:
                    if (Length > ExecutorClient.SmallWriteLimit)
                        throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "fs/writeFile mode is for small files only.");
                    _small = new MemoryStream((int)Length);
                    break;
                case RemoteWriteMode.WriteBlock:
                {
                    _handleId = _client.NewHandleId("w");
                    var wire = RemotePath.ToWire(PartialPath, _client.PathStyle);
                    // An open cancelled on the wire may still create the partial (and hold it open in the server)
                    // after the abort removed it: it is let finish, then the abort closes and removes it.
                    using var grace = new CancellationGrace(ct);
                    // Started alongside fs/open (both create the file without truncating each other's): no round trip in series.
                    var janitor = PartialJanitor.StartAsync(_client, PartialPath);
                    try
                    {
                        // mode:"replace" creates/truncates at once (notes §8.3); it is only ever used on the fresh partial.
                        using var _ = await _client.CallAsync("fs/open", w =>
                        {
                            w.WriteStartObject();
                            w.WriteString("handleId", _handleId);
                            w.WriteString("path", wire);
                            w.WriteString("mode", "replace");
                            w.WriteEndObject();
                        }, grace.Token).ConfigureAwait(false);
                        ct.ThrowIfCancellationRequested();
                    }
                    catch (RemoteErrorException ex)
                    {
                        _handleId = null;
                        throw _client.Translate(ex, Path);
                    }
                    finally
                    {
                        await janitor.ConfigureAwait(false);
                    }
                    break;
                }
                case RemoteWriteMode.Process:
                    _process = await _client.StartProcessAsync(new ProcessStartSpec
                    {
                        // Written like the floor writes (no tee and hash in the same pipeline: on two cores the three
                        // processes ran at 0.57x of it); the partial is hashed from the page cache at commit.
                        Argv = new[] { "/bin/sh", "-c", PartialJanitor.LaunchScript(PartialPath) + $"head -c {Length} > {RemotePath.ShellQuote(PartialPath)}" },
                        WorkingDirectory = "/",
                        PipeStdin = true,
                    }, ct).ConfigureAwait(false);
                    break;
            }
        }

        /// <summary>Appends bytes. The memory may be reused by the caller once the task completes.</summary>
        public async Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            if (_finished) throw new InvalidOperationException("The writer is closed.");
            if (BytesWritten + _blockFill + data.Length > Length)
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument,
                    $"More bytes than the announced {Length} were written to '{Path}' (the source grew while being copied?).");
            switch (Mode)
            {
                case RemoteWriteMode.WriteFile:
                    if (MemoryMarshal.TryGetArray(data, out var seg)) _small!.Write(seg.Array!, seg.Offset, seg.Count);
                    else { var a = data.ToArray(); _small!.Write(a, 0, a.Length); }
                    Count(data.Length);
                    break;
                case RemoteWriteMode.WriteBlock:
                    while (data.Length > 0)
                    {
                        _block ??= ArrayPool<byte>.Shared.Rent(ExecutorClient.ReadBlockSize);
                        int n = Math.Min(ExecutorClient.ReadBlockSize - _blockFill, data.Length);
                        data.Span.Slice(0, n).CopyTo(_block.AsSpan(_blockFill));
                        _blockFill += n;
                        data = data.Slice(n);
                        if (_blockFill == ExecutorClient.ReadBlockSize) await FlushBlockAsync(ct).ConfigureAwait(false);
                    }
                    break;
                case RemoteWriteMode.Process:
                    while (data.Length > 0)
                    {
                        _block ??= ArrayPool<byte>.Shared.Rent(ProcessChunk);
                        int n = Math.Min(ProcessChunk - _blockFill, data.Length);
                        data.Span.Slice(0, n).CopyTo(_block.AsSpan(_blockFill));
                        _blockFill += n;
                        data = data.Slice(n);
                        if (_blockFill == ProcessChunk) await FlushProcessAsync(ct).ConfigureAwait(false);
                    }
                    break;
            }
        }

        private void Count(int n) => BytesWritten += n;

        private async Task FlushBlockAsync(CancellationToken ct)
        {
            if (_blockFill == 0) return;
            var buffer = _block!;
            int len = _blockFill;
            long at = _blockOffset;
            var handleId = _handleId!;
            _block = null;
            _blockFill = 0;
            _blockOffset += len;
            Count(len);
            _inFlight.Enqueue((_client.CallAsync("fs/writeBlock", w =>
            {
                w.WriteStartObject();
                w.WriteString("handleId", handleId);
                w.WriteNumber("offset", at);
                w.WriteBase64String("chunk", new ReadOnlySpan<byte>(buffer, 0, len));
                w.WriteEndObject();
            }, ct), buffer));
            while (_inFlight.Count >= BlocksInFlight) await CompleteOldestAsync().ConfigureAwait(false);
        }

        private async Task CompleteOldestAsync()
        {
            var (task, buffer) = _inFlight.Dequeue();
            try
            {
                (await task.ConfigureAwait(false)).Dispose();
            }
            catch (RemoteErrorException ex)
            {
                throw _client.Translate(ex, Path);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private async Task FlushProcessAsync(CancellationToken ct)
        {
            if (_blockFill == 0) return;
            var p = _process!;
            CheckProcessAlive(p);
            var buffer = _block!;
            int len = _blockFill;
            _block = null;
            _blockFill = 0;
            Count(len);
            _inputInFlight.Enqueue((_client.WriteInputAsync(p, new ArraySegment<byte>(buffer, 0, len), ct), buffer));
            while (_inputInFlight.Count >= BlocksInFlight) await CompleteOldestInputAsync().ConfigureAwait(false);
        }

        private async Task CompleteOldestInputAsync()
        {
            var (task, buffer) = _inputInFlight.Dequeue();
            try
            {
                var status = await task.ConfigureAwait(false);
                if (status != "accepted")
                    throw new ExecBridgeException(ExecBridgeErrorKind.ServerError, $"The executor refused input for the writer of '{Path}' ({status}).");
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private void CheckProcessAlive(RemoteProcessHandle p)
        {
            CollectStderr(p);
            if (p.Failure != null) throw p.Failure;
            if (p.Exited && BytesWritten < Length)
                throw new ExecBridgeException(ExecutorClient.ClassifyShellError(_processStderr.ToString()),
                    $"Writing '{Path}' on executor '{_client.ExecutorId}' failed (exit code {p.ExitCode}): {_processStderr.ToString().Trim()}");
        }

        private void CollectStderr(RemoteProcessHandle p)
        {
            // The writer prints nothing on stdout; only its stderr says anything.
            foreach (var c in p.TakeUnread())
                if (c.Stream != OutputStreamKind.Stdout && _processStderr.Length < 8192) _processStderr.Append(Encoding.UTF8.GetString(c.Data));
        }

        /// <summary>
        /// Finishes the data, checks the executor's sha256sum of the partial against 'expectedSha256' (lower-case hex;
        /// null skips the check) and renames it into place. Returns the executor's hash. On failure call AbortAsync.
        /// </summary>
        /// <summary>Mode bits (07777) for the file when it is new, less the executor's umask; null: the umask's default.</summary>
        public int? NewFileMode { get; set; }

        public async Task<string> CommitAsync(string? expectedSha256, CancellationToken ct)
        {
            switch (Mode)
            {
                case RemoteWriteMode.WriteFile:
                    if (BytesWritten != Length) throw ShortWrite();
                    // The janitor is started with the write, not after it, so a small file costs no extra round trip in series.
                    var janitor = PartialJanitor.StartAsync(_client, PartialPath);
                    try
                    {
                        await _client.WriteFileAsync(PartialPath, new ReadOnlyMemory<byte>(_small!.GetBuffer(), 0, (int)_small.Length), ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        await janitor.ConfigureAwait(false);
                    }
                    _small = null;
                    break;
                case RemoteWriteMode.WriteBlock:
                    await FlushBlockAsync(ct).ConfigureAwait(false);
                    while (_inFlight.Count > 0) await CompleteOldestAsync().ConfigureAwait(false);
                    if (BytesWritten != Length) throw ShortWrite();
                    var handleId = _handleId!;
                    _handleId = null;
                    using (await _client.CallAsync("fs/close", w => { w.WriteStartObject(); w.WriteString("handleId", handleId); w.WriteEndObject(); }, ct)
                               .ConfigureAwait(false)) { }
                    break;
                case RemoteWriteMode.Process:
                    await FlushProcessAsync(ct).ConfigureAwait(false);
                    while (_inputInFlight.Count > 0) await CompleteOldestInputAsync().ConfigureAwait(false);
                    if (BytesWritten != Length) throw ShortWrite();
                    await WaitProcessAsync(_process!, ct).ConfigureAwait(false);
                    break;
            }
            _finished = true;

            // One helper process hashes the partial, compares, and renames it into place (a process each cost ~50 ms).
            return await _client.VerifyAndMoveAsync(PartialPath, Path, expectedSha256, _overwrite, ct, NewFileMode).ConfigureAwait(false);
        }

        private ExecBridgeException ShortWrite() => new ExecBridgeException(ExecBridgeErrorKind.IntegrityCheckFailed,
            $"Only {BytesWritten} of the announced {Length} bytes were written to '{Path}' (the source shrank while being copied?).");

        private async Task WaitProcessAsync(RemoteProcessHandle p, CancellationToken ct)
        {
            var idle = _client.RequestTimeout;
            var deadline = DateTime.UtcNow + idle;
            while (!p.IsFinished)
            {
                CollectStderr(p);
                if (DateTime.UtcNow > deadline)
                    throw new ExecBridgeException(ExecBridgeErrorKind.Timeout,
                        $"The writer of '{Path}' on executor '{_client.ExecutorId}' did not finish within {idle.TotalSeconds:0} s of the last byte (input lost?).");
                await _client.WaitForOutputAsync(p, TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false);
            }
            CollectStderr(p);
            _client.Forget(p);
            _process = null;
            if (p.Failure != null) throw p.Failure;
            if (p.ExitCode != 0)
                throw new ExecBridgeException(ExecutorClient.ClassifyShellError(_processStderr.ToString()),
                    $"Writing '{Path}' on executor '{_client.ExecutorId}' failed (exit code {p.ExitCode}): {_processStderr.ToString().Trim()}");
        }

        /// <summary>Stops the transfer and removes the partial file. Never throws; safe to call more than once.</summary>
        public async Task AbortAsync()
        {
            _finished = true;
            _small = null;
            while (_inFlight.Count > 0)
            {
                var (task, buffer) = _inFlight.Dequeue();
                try { (await task.ConfigureAwait(false)).Dispose(); } catch { }
                ArrayPool<byte>.Shared.Return(buffer);
            }
            while (_inputInFlight.Count > 0)
            {
                var (task, buffer) = _inputInFlight.Dequeue();
                try { await task.ConfigureAwait(false); } catch { }
                ArrayPool<byte>.Shared.Return(buffer);
            }
            if (_block != null) { ArrayPool<byte>.Shared.Return(_block); _block = null; }
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                if (_process != null)
                {
                    var p = _process;
                    _process = null;
                    try { if (!p.IsFinished) await _client.TerminateAsync(p, cts.Token).ConfigureAwait(false); } catch { }
                    _client.Forget(p);
                }
                if (_handleId != null)
                {
                    var h = _handleId;
                    _handleId = null;
                    await _client.CloseHandleQuietlyAsync(h).ConfigureAwait(false);
                }
                await _client.RemoveAsync(PartialPath, recursive: false, force: true, cts.Token).ConfigureAwait(false);
            }
            catch
            {
                // The executor is gone or refuses: nothing more can be cleaned from here.
            }
        }
    }
}
