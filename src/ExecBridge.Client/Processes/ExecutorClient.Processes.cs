using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Files;
using ExecBridge.Client.Processes;
using ExecBridge.Client.Rpc;
using Microsoft.Extensions.Logging;

namespace ExecBridge.Client
{
    public sealed partial class ExecutorClient
    {
        private const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

        /// <summary>Called on the reader thread: decode and file the chunk, nothing more.</summary>
        private void OnNotification(string method, JsonElement p)
        {
            if (p.ValueKind != JsonValueKind.Object || !p.TryGetProperty("processId", out var pidElement)) return;
            var pid = pidElement.GetString();
            if (pid == null || !_processes.TryGetValue(pid, out var handle)) return;
            long seq = p.TryGetProperty("seq", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt64() : 0;
            switch (method)
            {
                case "process/output":
                    var data = p.TryGetProperty("chunk", out var chunk) && chunk.ValueKind == JsonValueKind.String
                        ? chunk.GetBytesFromBase64() : Array.Empty<byte>();
                    handle.OnOutput(seq, ParseStream(p), data);
                    break;
                case "process/exited":
                    int code = p.TryGetProperty("exitCode", out var ec) && ec.ValueKind == JsonValueKind.Number ? ec.GetInt32() : -1;
                    handle.OnExited(seq, code);
                    break;
                case "process/closed":
                    handle.OnClosed(seq);
                    break;
            }
        }

        private static OutputStreamKind ParseStream(JsonElement p)
        {
            if (!p.TryGetProperty("stream", out var st) || st.ValueKind != JsonValueKind.String) return OutputStreamKind.Stdout;
            switch (st.GetString())
            {
                case "stderr": return OutputStreamKind.Stderr;
                case "pty": return OutputStreamKind.Pty;
                default: return OutputStreamKind.Stdout;
            }
        }

        /// <summary>The environment a child gets when the caller adds nothing: the server passes on none of its own.</summary>
        public Dictionary<string, string> DefaultEnvironment(bool tty)
        {
            var path = string.Join(":", PrependPathDirs.Concat(new[] { DefaultPath }));
            var env = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["PATH"] = path,
                ["LANG"] = "C.UTF-8",
                ["HOME"] = HomeDirectory ?? "/root",
            };
            if (tty) env["TERM"] = "xterm-256color";
            return env;
        }

        /// <summary>Starts a process. Cancelled, it never leaves behind a process it started: it is killed first.</summary>
        public async Task<RemoteProcessHandle> StartProcessAsync(ProcessStartSpec spec, CancellationToken cancellationToken)
        {
            await EnsureConnectedAsync(cancellationToken).ConfigureAwait(false);
            IList<string> argv;
            if (spec.Argv != null && spec.Argv.Count > 0) argv = spec.Argv;
            else if (!string.IsNullOrEmpty(spec.Command)) argv = new[] { Shell ?? "/bin/sh", "-c", spec.Command! };
            else throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "A process needs a file path or a command.");

            var env = spec.ReplaceEnvironment ? new Dictionary<string, string>(StringComparer.Ordinal) : DefaultEnvironment(spec.Tty);
            if (spec.Environment != null)
                foreach (var pair in spec.Environment) env[pair.Key] = pair.Value;
            var cwd = RemotePath.ToWire(spec.WorkingDirectory == null ? WorkingDirectory
                : await ResolvePathAsync(spec.WorkingDirectory, cancellationToken).ConfigureAwait(false), PathStyle);

            // A start cancelled after its request went out may still start the process, and nobody would kill it (a
            // Legacy upload cancelled while starting its writer left a partial held open by `head`): a cancellation
            // lets a start under way finish (CancellationGrace) and then kills what it started.
            using var grace = new CancellationGrace(cancellationToken);
            SweepProcessTable();
            var processId = NewProcessId();
            var handle = new RemoteProcessHandle(this, processId);
            // Registered before the request so no notification can arrive for an unknown id.
            _processes[processId] = handle;
            int generation = ReconnectCount;
            try
            {
                await InvokeAsync("process/start", w =>
                {
                    w.WriteStartObject();
                    w.WriteString("processId", processId);
                    w.WriteStartArray("argv");
                    foreach (var a in argv) w.WriteStringValue(a);
                    w.WriteEndArray();
                    w.WriteString("cwd", cwd);
                    w.WriteStartObject("env");
                    foreach (var pair in env) w.WriteString(pair.Key, pair.Value);
                    w.WriteEndObject();
                    w.WriteBoolean("tty", spec.Tty);
                    w.WriteBoolean("pipeStdin", spec.PipeStdin);
                    w.WriteEndObject();
                }, grace.Token).ConfigureAwait(false);
            }
            catch (RemoteErrorException ex) when (ex.RemoteMessage.Contains(processId) && ex.RemoteMessage.Contains("already exists"))
            {
                // Ids are unique to this client, so this is our own start: the connection broke after the request
                // went out and the resend found it done (fault suite finding). Read back below.
                _logger.LogDebug("process/start of {Process} was resent after a lost connection; the first one had arrived", processId);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The grace ran out with the answer still out: the start may yet happen, so it is killed below all the same.
            }
            catch
            {
                _processes.TryRemove(processId, out _);
                throw;
            }
            if (cancellationToken.IsCancellationRequested)
            {
                await AbandonAsync().ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }
            handle.StartConfirmed = true;

            // A reconnect while the start was under way: output pushed since is held (in seq order) until read back
            // here, and if the session was not resumed the read fails the process instead of leaving it waiting.
            if (ReconnectCount != generation || handle.IsHolding)
            {
                var rpc = _rpc;
                if (rpc != null)
                {
                    try
                    {
                        await CatchUpAsync(rpc, handle, cancellationToken).ConfigureAwait(false);
                    }
                    catch
                    {
                        await AbandonAsync().ConfigureAwait(false);
                        throw;
                    }
                }
            }
            return handle;

            async Task AbandonAsync()
            {
                _processes.TryRemove(processId, out _);
                await TerminateQuietlyAsync(handle).ConfigureAwait(false);
            }
        }

        /// <summary>Writes to stdin with a fresh writeId each time (a reused one is silently dropped, notes §7.1).</summary>
        public async Task<string> WriteInputAsync(RemoteProcessHandle handle, ArraySegment<byte> data, CancellationToken cancellationToken)
        {
            var writeId = NewWriteId();
            using var response = await CallAsync("process/write", w =>
            {
                w.WriteStartObject();
                w.WriteString("processId", handle.ProcessId);
                w.WriteBase64String("chunk", data.AsSpan());
                w.WriteString("writeId", writeId);
                w.WriteEndObject();
            }, cancellationToken).ConfigureAwait(false);
            var r = response.Result;
            return r.ValueKind == JsonValueKind.Object && r.TryGetProperty("status", out var st) ? JsonText.TryString(st) ?? "accepted" : "accepted";
        }

        /// <summary>Best-effort cleanup of a process being abandoned: at most 5 s, never throws.</summary>
        internal async Task TerminateQuietlyAsync(RemoteProcessHandle handle)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await TerminateAsync(handle, cts.Token).ConfigureAwait(false);
            }
            catch { }
        }

        /// <summary>process/terminate: a SIGKILL of the child's process group. Returns whether it was running.</summary>
        public async Task<bool> TerminateAsync(RemoteProcessHandle handle, CancellationToken cancellationToken)
        {
            using var response = await CallAsync("process/terminate", w =>
            {
                w.WriteStartObject();
                w.WriteString("processId", handle.ProcessId);
                w.WriteEndObject();
            }, cancellationToken).ConfigureAwait(false);
            var r = response.Result;
            return r.ValueKind == JsonValueKind.Object && r.TryGetProperty("running", out var running) && running.ValueKind == JsonValueKind.True;
        }

        /// <summary>SIGINT via process/signal; false when the server lacks the method (0.123/0.130).</summary>
        public async Task<bool> InterruptAsync(RemoteProcessHandle handle, CancellationToken cancellationToken)
        {
            if (IsKnownUnsupported("process/signal")) return false;
            try
            {
                await InvokeAsync("process/signal", w =>
                {
                    w.WriteStartObject();
                    w.WriteString("processId", handle.ProcessId);
                    w.WriteString("signal", "interrupt");
                    w.WriteEndObject();
                }, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (RemoteErrorException ex) when (ex.IsMethodNotFound)
            {
                return false;
            }
        }

        /// <summary>
        /// Waits for a change on the process; when the connection dropped under it, redials (resuming the
        /// session and replaying missed output). Throws when the executor cannot be reached again.
        /// </summary>
        public async Task WaitForOutputAsync(RemoteProcessHandle handle, TimeSpan maxWait, CancellationToken cancellationToken)
        {
            if (!handle.IsFinished && (_rpc == null || !_rpc.IsOpen) && !_disposed)
            {
                await RecoverAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            var pending = handle.ClosePendingSinceUtc;
            if (pending != null && DateTime.UtcNow - pending.Value > TimeSpan.FromMilliseconds(500) && _rpc != null)
            {
                // Closed arrived but a chunk before it never did: fetch it while the server still retains it.
                _logger.LogDebug("Process {Process} closed with output missing; reading it back", handle.ProcessId);
                await CatchUpAsync(_rpc, handle, cancellationToken, afterReconnect: false).ConfigureAwait(false);
                return;
            }
            await handle.WaitForChangeAsync(pending != null ? TimeSpan.FromMilliseconds(200) : maxWait, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>A few quick redials: a cut connection comes back at once, a dead server fails fast.</summary>
        private async Task RecoverAsync(CancellationToken cancellationToken)
        {
            Exception? last = null;
            for (int attempt = 0; attempt < 3; attempt++)
            {
                try
                {
                    await EnsureConnectedAsync(cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (ExecBridgeException ex) when (ex.Kind == ExecBridgeErrorKind.ConnectionRefused || ex.Kind == ExecBridgeErrorKind.Timeout
                                                     || ex.Kind == ExecBridgeErrorKind.ConnectionLost)
                {
                    last = ex;
                    await Task.Delay(150 * (attempt + 1), cancellationToken).ConfigureAwait(false);
                }
            }
            var failure = new ExecBridgeException(ExecBridgeErrorKind.ConnectionLost,
                $"The connection to executor '{ExecutorId}' was lost and could not be re-established: {last?.Message}", last);
            FailLiveProcesses(failure);
            throw failure;
        }

        /// <summary>After a resume, fetches what each live process produced while we were away (notes §2.3).</summary>
        private async Task CatchUpProcessesAsync(RpcConnection rpc, CancellationToken cancellationToken)
        {
            foreach (var handle in _processes.Values.Where(h => h.IsLive).ToList())
                await CatchUpAsync(rpc, handle, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// Reads back what a process produced that never arrived as notifications: after a reconnect (output made while
        /// detached), or when closed came with a chunk missing. 'afterReconnect' only picks the words of the messages.
        /// </summary>
        private async Task CatchUpAsync(RpcConnection rpc, RemoteProcessHandle handle, CancellationToken cancellationToken, bool afterReconnect = true)
        {
            long after = handle.BeginCatchUp();
            var chunks = new List<OutputChunk>();
            bool exited = false, closed = false;
            int? exitCode = null;
            ExecBridgeException? gap = null;
            try
            {
                long cursor = after;
                bool first = true;
                while (true)
                {
                    using var response = await rpc.CallAsync("process/read", w =>
                    {
                        w.WriteStartObject();
                        w.WriteString("processId", handle.ProcessId);
                        w.WriteNumber("afterSeq", cursor);
                        w.WriteNumber("maxBytes", 4 * 1024 * 1024);
                        w.WriteNumber("waitMs", 0);
                        w.WriteEndObject();
                    }, Endpoint.RequestTimeout, cancellationToken).ConfigureAwait(false);
                    var r = response.Result;
                    exited = r.TryGetProperty("exited", out var ex) && ex.ValueKind == JsonValueKind.True;
                    closed = r.TryGetProperty("closed", out var cl) && cl.ValueKind == JsonValueKind.True;
                    if (r.TryGetProperty("exitCode", out var code) && code.ValueKind == JsonValueKind.Number) exitCode = code.GetInt32();
                    int count = 0;
                    foreach (var c in r.GetProperty("chunks").EnumerateArray())
                    {
                        long seq = c.GetProperty("seq").GetInt64();
                        if (first)
                        {
                            // Anything between the cursor and the first retained chunk that we never saw is lost
                            // (the server keeps only the last ~1 MiB); the exited event also takes a seq.
                            long missing = 0;
                            for (long s = cursor + 1; s < seq; s++)
                                if (!handle.IsSeen(s) && s != handle.ExitedSeq) missing++;
                            long allowed = exited && handle.ExitedSeq == null ? 1 : 0;
                            if (missing > allowed)
                                gap = new ExecBridgeException(ExecBridgeErrorKind.OutputLost,
                                    $"Output of process '{handle.ProcessId}' on '{ExecutorId}' was lost{(afterReconnect ? " while disconnected" : " before it could be read back")}: {missing} chunk(s) between seq {cursor + 1} and {seq - 1} were no longer kept by the server (it keeps only the last ~1 MiB).");
                            first = false;
                        }
                        chunks.Add(new OutputChunk(seq, ParseStream(c), c.GetProperty("chunk").GetBytesFromBase64()));
                        cursor = seq;
                        count++;
                    }
                    if (count == 0) break;
                }
            }
            catch (RemoteErrorException ex)
            {
                gap = new ExecBridgeException(ExecBridgeErrorKind.OutputLost, afterReconnect
                    ? $"Process '{handle.ProcessId}' could not be read after reconnecting to '{ExecutorId}': {ex.RemoteMessage}"
                    : $"Process '{handle.ProcessId}' on '{ExecutorId}' closed with output missing, and reading it back failed: {ex.RemoteMessage}");
                // Not marked closed: a closed handle ignores the failure, and the loss would go unreported.
                handle.EndCatchUp(chunks, exited, exitCode, false, null);
                handle.OnFailure(gap);
                return;
            }
            catch (Exception ex) when (ex is KeyNotFoundException || ex is InvalidOperationException || ex is FormatException)
            {
                // A result of the wrong shape (missing chunks, non-object, out-of-range numbers): a clear error, not a crash.
                handle.EndCatchUp(chunks, exited, exitCode, false, null);
                handle.OnFailure(new ExecBridgeException(ExecBridgeErrorKind.ProtocolViolation,
                    $"The executor '{ExecutorId}' answered process/read for process '{handle.ProcessId}' with a malformed result ({ex.Message}); its remaining output is lost.", ex));
                return;
            }
            handle.EndCatchUp(chunks, exited, exitCode, closed, gap);
            _logger.LogInformation("Caught up process {Process}: {Count} chunks replayed", handle.ProcessId, chunks.Count);
        }
    }
}
