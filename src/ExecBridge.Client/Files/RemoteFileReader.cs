using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Files;
using ExecBridge.Client.Processes;
using ExecBridge.Client.Rpc;
using Microsoft.Extensions.Logging;

namespace ExecBridge.Client
{
    /// <summary>
    /// Streaming reads with bounded memory. Current dialect: fs/open + pipelined fs/readBlock (1 MiB each,
    /// several in flight, end = a short read, notes §8.2) + fs/close. Legacy (no fs/open): fs/readFile for
    /// small files, otherwise one `cat` (whole file) or `head`/`tail | head` (a range) process whose stdout arrives
    /// as notifications.
    /// </summary>
    public sealed partial class ExecutorClient
    {
        /// <summary>
        /// Size of each fs/readBlock request: the server's maximum. Each block is base64-decoded straight from the
        /// received message into one pooled buffer (RpcMessage.DecodeResultBase64), so no per-block array is made.
        /// </summary>
        public const int StreamBlockSize = 1024 * 1024;

        /// <summary>How many fs/readBlock requests are kept in flight (the server answers them in order, one at a time).</summary>
        public const int ReadBlocksInFlight = 4;

        /// <summary>Up to this size a legacy read is one fs/readFile.</summary>
        private const int LegacyWholeFileSize = 8 * 1024 * 1024;

        /// <summary>
        /// Larger legacy reads stream one `tail | head` process's stdout for the whole range: each extra helper
        /// process cost ~50-70 ms (8 MiB segments ran at 0.37x the one-process floor). The server pushes output
        /// without flow control, so when this much waits for a slow consumer the process is stopped and, once the
        /// consumer caught up, a new one continues at the next byte: memory stays bounded by the consumer's pace.
        /// </summary>
        private const long LegacyReadBacklog = 16L * 1024 * 1024;

        /// <summary>
        /// Reads [offset, offset+length) (to the end when length is null) and hands the bytes to 'sink' in order.
        /// The sink's memory is only valid during the call. Returns the number of bytes delivered.
        /// </summary>
        public async Task<long> ReadStreamAsync(string path, long offset, long? length,
            Func<ReadOnlyMemory<byte>, CancellationToken, Task> sink, CancellationToken ct)
        {
            path = RemotePath.Normalize(path);
            if (offset < 0) throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "Offset must not be negative.");
            if (length < 0) throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "Length must not be negative.");
            if (length == 0) return 0;
            await EnsureConnectedAsync(ct).ConfigureAwait(false);
            if (!IsKnownUnsupported("fs/open"))
            {
                var handleId = NewHandleId("r");
                var wire = Wire(path);
                bool opened = false;
                try
                {
                    using (await CallAsync("fs/open", w =>
                           {
                               w.WriteStartObject();
                               w.WriteString("handleId", handleId);
                               w.WriteString("path", wire);
                               w.WriteEndObject();
                           }, ct).ConfigureAwait(false))
                    {
                        opened = true;
                    }
                }
                catch (RemoteErrorException ex) when (ex.IsMethodNotFound)
                {
                    // Legacy dialect: CallAsync marked fs/open unsupported; fall through.
                }
                catch (RemoteErrorException ex)
                {
                    throw Translate(ex, path);
                }
                if (opened) return await ReadBlocksAsync(path, handleId, offset, length, sink, ct).ConfigureAwait(false);
            }
            return await ReadLegacyAsync(path, offset, length, sink, ct).ConfigureAwait(false);
        }

        private async Task<long> ReadBlocksAsync(string path, string handleId, long offset, long? length,
            Func<ReadOnlyMemory<byte>, CancellationToken, Task> sink, CancellationToken ct)
        {
            var inFlight = new Queue<(Task<RpcMessage> Task, int Length)>();
            // One reused block; a few spare bytes so an over-long answer is detected rather than truncated.
            var block = System.Buffers.ArrayPool<byte>.Shared.Rent(StreamBlockSize + 4);
            long nextOffset = offset;
            long toRequest = length ?? long.MaxValue;
            long delivered = 0;
            try
            {
                while (true)
                {
                    while (inFlight.Count < ReadBlocksInFlight && toRequest > 0)
                    {
                        int len = (int)Math.Min(StreamBlockSize, toRequest);
                        long at = nextOffset;
                        inFlight.Enqueue((CallAsync("fs/readBlock", w =>
                        {
                            w.WriteStartObject();
                            w.WriteString("handleId", handleId);
                            w.WriteNumber("offset", at);
                            w.WriteNumber("len", len);
                            w.WriteEndObject();
                        }, ct), len));
                        nextOffset += len;
                        toRequest -= len;
                    }
                    if (inFlight.Count == 0) break;
                    var (task, requested) = inFlight.Dequeue();
                    int got;
                    try
                    {
                        using var message = await task.ConfigureAwait(false);
                        got = message.DecodeResultBase64("chunk", block);
                        if (got < 0)
                        {
                            // Escaped or oversized base64: the slow path through JsonElement.
                            var r = message.Result;
                            var data = r.ValueKind == JsonValueKind.Object && r.TryGetProperty("chunk", out var c) && c.ValueKind == JsonValueKind.String
                                ? c.GetBytesFromBase64() : Array.Empty<byte>();
                            if (data.Length > requested)
                                throw new ExecBridgeException(ExecBridgeErrorKind.ProtocolViolation,
                                    $"fs/readBlock returned {data.Length} bytes for a {requested}-byte request.");
                            Buffer.BlockCopy(data, 0, block, 0, data.Length);
                            got = data.Length;
                        }
                    }
                    catch (RemoteErrorException ex)
                    {
                        throw Translate(ex, path);
                    }
                    if (got > requested)
                        throw new ExecBridgeException(ExecBridgeErrorKind.ProtocolViolation,
                            $"fs/readBlock returned {got} bytes for a {requested}-byte request.");
                    if (got > 0) await sink(new ReadOnlyMemory<byte>(block, 0, got), ct).ConfigureAwait(false);
                    delivered += got;
                    if (got < requested) break; // a short read is the only end-of-file signal
                }
                return delivered;
            }
            finally
            {
                // Responses still in flight are drained (their buffers are pooled) before the handle is closed.
                while (inFlight.Count > 0)
                {
                    var (task, _) = inFlight.Dequeue();
                    try { (await task.ConfigureAwait(false)).Dispose(); } catch { }
                }
                await CloseHandleQuietlyAsync(handleId).ConfigureAwait(false);
                System.Buffers.ArrayPool<byte>.Shared.Return(block);
            }
        }

        internal async Task CloseHandleQuietlyAsync(string handleId)
        {
            if (State != ExecutorState.Connected) return;
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                using var _ = await CallAsync("fs/close", w =>
                {
                    w.WriteStartObject();
                    w.WriteString("handleId", handleId);
                    w.WriteEndObject();
                }, cts.Token).ConfigureAwait(false);
            }
            catch { }
        }

        private async Task<long> ReadLegacyAsync(string path, long offset, long? length,
            Func<ReadOnlyMemory<byte>, CancellationToken, Task> sink, CancellationToken ct)
        {
            var info = await GetMetadataAsync(path, ct).ConfigureAwait(false);
            if (info.IsDirectory)
                throw new ExecBridgeException(ExecBridgeErrorKind.RemotePathIsDirectory, $"Remote path '{path}' on executor '{ExecutorId}' is a folder, not a file.");
            long size = info.Length ?? throw new ExecBridgeException(ExecBridgeErrorKind.ServerError, $"The size of '{path}' on executor '{ExecutorId}' could not be read.");
            long end = length == null ? size : Math.Min(size, offset + length.Value);
            if (offset >= end) return 0;

            if (size <= LegacyWholeFileSize)
            {
                var all = await ReadFileAsync(path, ct).ConfigureAwait(false);
                long stop = Math.Min(end, all.Length);
                if (offset >= stop) return 0;
                await sink(new ReadOnlyMemory<byte>(all, (int)offset, (int)(stop - offset)), ct).ConfigureAwait(false);
                return stop - offset;
            }

            long delivered = 0;
            string q = RemotePath.ShellQuote(path);
            for (long pos = offset; pos < end;)
            {
                long want = end - pos;
                long got = 0;
                var stderr = new MemoryStream();
                var backlog = new BacklogLimit(LegacyReadBacklog);
                // A read of the whole file is one `cat`. It writes 128 KiB at a time where `head -c` writes 8 KiB, so
                // the server finds several notifications' worth waiting in the pipe instead of a trickle: W1 legacy
                // client 178-199 -> 227-230 MiB/s (two `--only W1L --runs 5` A/B pairs). If the file grew since its
                // size was read, cat would go on: the bytes past that size are not delivered and the process is
                // stopped there, as `head -c` stopped. Anything else is one `head`, or `tail | head` from an offset.
                bool wholeFile = pos == 0 && want == size;
                bool cutAtSize = false;
                int code;
                try
                {
                    code = await RunProcessAsync(new ProcessStartSpec
                    {
                        Argv = new[] { "/bin/sh", "-c", wholeFile ? $"exec cat -- {q}" : pos == 0 ? $"head -c {want} -- {q}" : $"tail -c +{pos + 1} -- {q} | head -c {want}" },
                        WorkingDirectory = "/",
                    }, async (chunk, token) =>
                    {
                        if (chunk.Length > want - got)
                        {
                            if (!wholeFile)
                                throw new ExecBridgeException(ExecBridgeErrorKind.ProtocolViolation, $"Reading '{path}' returned more bytes than asked for.");
                            int rest = (int)(want - got);
                            got = want;
                            if (rest > 0) await sink(chunk.Slice(0, rest), token).ConfigureAwait(false);
                            throw new ReadCutAtSize(); // stops (and terminates) the process; caught below
                        }
                        got += chunk.Length;
                        await sink(chunk, token).ConfigureAwait(false);
                    }, stderr, null, RequestTimeout, ct, backlog).ConfigureAwait(false);
                }
                catch (ReadCutAtSize)
                {
                    cutAtSize = true;
                    _logger.LogDebug("{Path} grew while it was read; stopped at the {Size} bytes it had", path, size);
                    code = 0;
                }
                var err = System.Text.Encoding.UTF8.GetString(stderr.ToArray()).Trim();
                if (!cutAtSize && ((code != 0 && !backlog.Stopped) || err.Length > 0))
                    throw new ExecBridgeException(ClassifyShellError(err), $"Reading '{path}' on executor '{ExecutorId}' failed (exit code {code}): {err}");
                delivered += got;
                pos += got;
                if (backlog.Stopped)
                    _logger.LogDebug("Paused reading {Path} at byte {Position}: {Backlog} bytes waited for the consumer; continuing there", path, pos, LegacyReadBacklog);
                if (got < want && !backlog.Stopped) break; // the file got shorter; the integrity check will tell
            }
            return delivered;
        }

        /// <summary>Thrown by a legacy whole-file read's consumer to stop the process once the size read beforehand is in.</summary>
        private sealed class ReadCutAtSize : Exception { }
    }
}
