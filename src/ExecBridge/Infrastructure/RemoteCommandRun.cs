using System;
using System.Diagnostics;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Processes;

namespace ExecBridge.Infrastructure
{
    /// <summary>Where one executor's run reports; called from the run's own (background) thread.</summary>
    internal interface IRemoteCommandSink
    {
        void Line(RemoteCommandRun run, OutputStreamKind stream, string text);

        /// <summary>'fatal': the run could not go on (did not start, lost its executor); a single-executor call ends with it.</summary>
        void Error(RemoteCommandRun run, ErrorRecord record, bool fatal);

        void Started(RemoteCommandRun run, RemoteProcess process);

        void Ended(RemoteCommandRun run, RemoteCommandSummary summary);
    }

    /// <summary>What every executor of one Invoke-RemoteCommand runs: the same spec, stdin and timeout.</summary>
    internal sealed class RemoteCommandRequest
    {
        public RemoteCommandRequest(ProcessStartSpec spec, string commandLine, string? filePath, string? workingDirectory)
        {
            Spec = spec;
            CommandLine = commandLine;
            FilePath = filePath;
            WorkingDirectory = workingDirectory;
        }

        public ProcessStartSpec Spec { get; }
        public string CommandLine { get; }
        public string? FilePath { get; }
        public string? WorkingDirectory { get; }
        public bool Tty { get; set; }
        public int TimeoutSec { get; set; }
        public byte[]? Stdin { get; set; }

        /// <summary>Error targets: the command line for one executor (as always), the executor id when there are several.</summary>
        public bool TargetIsExecutor { get; set; }
    }

    /// <summary>
    /// One command on one executor, from start to exit: start, feed stdin, drain output to the sink until the process
    /// ends (or times out), kill it when cancelled or abandoned. Runs on a background thread; it never touches a pipeline.
    /// </summary>
    internal sealed class RemoteCommandRun
    {
        private readonly RemoteCommandRequest _request;
        private string? _startError;
        private bool _timedOut;

        public RemoteCommandRun(ExecutorClient client, int index, RemoteCommandRequest request)
        {
            Client = client;
            Index = index;
            _request = request;
        }

        public ExecutorClient Client { get; }
        public int Index { get; }
        public string ExecutorId => Client.ExecutorId;
        public string CommandLine => _request.CommandLine;

        /// <summary>The target of this run's error records.</summary>
        public object Target => _request.TargetIsExecutor ? ExecutorId : (object)_request.CommandLine;

        public async Task RunAsync(IRemoteCommandSink sink, CancellationToken token)
        {
            var clock = Stopwatch.StartNew();
            string? error = null;
            RemoteProcess? process = null;
            try
            {
                process = await StartAsync(sink, token).ConfigureAwait(false);
                if (process == null) { error = _startError ?? "did not start"; return; }
                error = await FollowAsync(process, sink, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                error = "stopped";
            }
            finally
            {
                sink.Ended(this, new RemoteCommandSummary(ExecutorId, process?.ProcessId, process?.ExitCode, clock.Elapsed, error, CommandLine)
                    { TimedOut = _timedOut, Process = process });
            }
        }

        private async Task<RemoteProcess?> StartAsync(IRemoteCommandSink sink, CancellationToken token)
        {
            try
            {
                // Cancelled while starting, StartProcessAsync kills what it started; cancelled just after, this does.
                var handle = await Client.StartProcessAsync(StdinFeed.Wrap(_request.Spec, _request.Stdin), token).ConfigureAwait(false);
                var process = new RemoteProcess(handle, _request.CommandLine, _request.Tty, false);
                if (token.IsCancellationRequested)
                {
                    KillQuietly(process);
                    Client.Forget(handle);
                    token.ThrowIfCancellationRequested();
                }
                sink.Started(this, process);
                if (_request.Stdin != null)
                {
                    try
                    {
                        await StdinFeed.WriteAsync(process, _request.Stdin, token).ConfigureAwait(false);
                    }
                    catch
                    {
                        KillQuietly(process);
                        Client.Forget(process.Handle);
                        throw;
                    }
                }
                return process;
            }
            catch (Exception ex) when (IsClientFailure(ex) && !token.IsCancellationRequested)
            {
                var named = StartFailure.Explain(Client, ex, _request.FilePath, _request.WorkingDirectory, token);
                var record = named ?? ErrorMapping.ToErrorRecord(ex, Target);
                if (_request.TargetIsExecutor) record = Retarget(record);
                _startError = record.ErrorDetails?.Message ?? record.Exception.Message;
                sink.Error(this, record, true);
                return null;
            }
        }

        /// <summary>Drains output until the process ends; returns why it did not end normally, or null.</summary>
        private async Task<string?> FollowAsync(RemoteProcess process, IRemoteCommandSink sink, CancellationToken token)
        {
            bool finished = false;
            var deadline = _request.TimeoutSec > 0 ? DateTime.UtcNow.AddSeconds(_request.TimeoutSec) : DateTime.MaxValue;
            object gapTarget = _request.TargetIsExecutor ? ExecutorId : (object)process;
            try
            {
                while (true)
                {
                    bool done = OutputReader.Drain(process, false, (s, t) => sink.Line(this, s, t), _ => { },
                        e => sink.Error(this, ErrorMapping.ToErrorRecord(e, gapTarget), false));
                    if (done) { finished = true; break; }
                    var left = deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) break;
                    var wait = left < TimeSpan.FromMilliseconds(500) ? left : TimeSpan.FromMilliseconds(500);
                    await Client.WaitForOutputAsync(process.Handle, wait, token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (IsClientFailure(ex) && !token.IsCancellationRequested)
            {
                OutputReader.Drain(process, false, (s, t) => sink.Line(this, s, t), _ => { }, _ => { });
                var record = ErrorMapping.ToErrorRecord(ex, Target);
                sink.Error(this, record, true);
                return Unwrap(ex).Message;
            }
            finally
            {
                if (!finished) KillQuietly(process);
                Client.Forget(process.Handle);
            }

            if (!finished)
            {
                // Killed in the finally above; what it printed until then was already reported.
                var message = $"'{CommandLine}' on executor '{ExecutorId}' did not end within {_request.TimeoutSec} s (-TimeoutSec); it was stopped.";
                _timedOut = true;
                sink.Error(this, new ErrorRecord(new TimeoutException(message), "OperationTimeout", ErrorCategory.OperationTimeout, Target), false);
                return message;
            }
            return process.FailureReason;
        }

        /// <summary>The RemoteProcessFailed error for a non-zero exit; the sink writes it once the run has ended (after -PassThru's object).</summary>
        public ErrorRecord? ExitFailure(RemoteCommandSummary summary)
        {
            if (summary.TimedOut || !(summary.ExitCode is int code) || code == 0) return null;
            var ex = new Cmdlets.RemoteProcessFailedException(CommandLine, ExecutorId, code);
            return new ErrorRecord(ex, "RemoteProcessFailed", ErrorCategory.InvalidResult, Target);
        }

        /// <summary>A start failure names the command or path as target; with several executors the executor is the target.</summary>
        private ErrorRecord Retarget(ErrorRecord record)
        {
            var moved = new ErrorRecord(record.Exception, record.FullyQualifiedErrorId, record.CategoryInfo.Category, ExecutorId);
            if (record.ErrorDetails != null) moved.ErrorDetails = record.ErrorDetails;
            return moved;
        }

        /// <summary>Ctrl+C or a failure: the process must not outlive the command (best effort, bounded).</summary>
        internal static void KillQuietly(RemoteProcess process)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                process.Client.TerminateAsync(process.Handle, cts.Token).Wait(TimeSpan.FromSeconds(3));
            }
            catch { /* the connection may be gone; the server reaps the session's processes */ }
        }

        private static Exception Unwrap(Exception ex)
        {
            while (ex is AggregateException a && a.InnerExceptions.Count == 1) ex = a.InnerExceptions[0];
            return ex;
        }

        private static bool IsClientFailure(Exception ex)
        {
            ex = Unwrap(ex);
            return ex is ExecBridgeException || ex is TimeoutException || ex is System.IO.IOException || ex is UnauthorizedAccessException;
        }
    }
}
