using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Client.Files;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>
    /// A file cmdlet that also works on several executors at once (Get-RemoteFile, Set-RemoteFile): -ExecutorId a,b /
    /// web-* / -Connection list. One executor (named, implied or piped per record) takes the cmdlet's own single-executor
    /// path, unchanged; several run as a FanOut (at most -ThrottleLimit at a time) whose events only the pipeline thread
    /// writes. Per-executor errors name the executor (target and message) and never stop the others unless
    /// -ErrorAction Stop, which, like Ctrl+C, cancels the rest (each transfer removes its .partial when cancelled).
    /// </summary>
    public abstract class FileFanOutCmdlet : FileCmdletBase
    {
        /// <summary>True when the call is for one executor (as the cmdlet always was): no list, no wildcard.</summary>
        protected static bool IsSingle(IReadOnlyList<string> ids, IReadOnlyList<ExecBridgeConnection> connections) =>
            ids.Count <= 1 && connections.Count <= 1 && !ids.Any(WildcardPattern.ContainsWildcardCharacters);

        /// <summary>A failure of one executor in a fan-out: the executor is the target and the message starts with its id.</summary>
        internal static ErrorRecord ExecutorError(Exception exception, string executorId)
        {
            while (exception is AggregateException a && a.InnerExceptions.Count == 1) exception = a.InnerExceptions[0];
            var record = ErrorMapping.ToErrorRecord(exception, executorId);
            var message = record.ErrorDetails?.Message ?? exception.Message;
            record.ErrorDetails = new ErrorDetails($"[{executorId}] {message}");
            return record;
        }

        /// <summary>
        /// Runs one executor's work and reports its failure as that executor's error; being cancelled (Ctrl+C,
        /// -ErrorAction Stop on another executor) is not a failure.
        /// </summary>
        internal static async Task Guard(FanOut<ExecutorClient> fan, ExecutorClient client, CancellationToken token, Func<Task> work)
        {
            try
            {
                await work().ConfigureAwait(false);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                fan.Post(new FanOutError(ExecutorError(ex, client.ExecutorId)));
            }
        }

        /// <summary>
        /// Writes what the fan-out's work posts until every executor is done, via 'handle'. Disposing the fan-out
        /// (the caller's using) cancels and waits for what still runs, however this ends.
        /// </summary>
        internal void Drain(FanOut<ExecutorClient> fan, IReadOnlyList<ExecutorClient> clients, Action<object> handle, TransferProgress? progress, string activity) =>
            Drain(fan, index => clients[index].ExecutorId, handle,
                progress == null ? (Func<int, ProgressRecord>?)null : id => Progress(id, activity, progress), activity);

        /// <summary>The same for any fan-out: 'executorOf' names a target by index, 'progress' makes the bar (twice a second).</summary>
        internal void Drain<T>(FanOut<T> fan, Func<int, string> executorOf, Action<object> handle, Func<int, ProgressRecord>? progress, string activity)
        {
            int activityId = NextActivityId();
            var sinceProgress = Stopwatch.StartNew();
            bool shown = false;
            try
            {
                while (!fan.IsDrained)
                {
                    if (StopToken.IsCancellationRequested)
                    {
                        fan.CancelAndWait(TimeSpan.FromSeconds(10));
                        throw new PipelineStoppedException();
                    }
                    if (fan.TryTake(out var item, 50))
                    {
                        switch (item)
                        {
                            case FanOutError error: WriteError(error.Record); break;
                            case FanOutObject output: WriteObject(output.Value); break;
                            case FanOutCrashed crash:
                                if (!(Unwrap(crash.Error) is OperationCanceledException && fan.IsCancelled))
                                    WriteError(ExecutorError(crash.Error, executorOf(crash.Index)));
                                break;
                            case FanOutSkipped _: break;
                            default: handle(item!); break;
                        }
                    }
                    else FlushLog();
                    if (progress != null && sinceProgress.ElapsedMilliseconds >= ProgressIntervalMs)
                    {
                        WriteProgress(progress(activityId));
                        shown = true;
                        sinceProgress.Restart();
                    }
                }
            }
            finally
            {
                FlushLog();
                if (shown)
                {
                    try { WriteProgress(new ProgressRecord(activityId, activity, "Done") { RecordType = ProgressRecordType.Completed }); }
                    catch (PipelineStoppedException) { }
                }
            }
        }

        private static ProgressRecord Progress(int id, string activity, TransferProgress p)
        {
            long done = p.BytesDone, total = p.BytesTotal;
            var status = total > 0 ? $"{Mb(done)} of {Mb(total)}" : Mb(done);
            status += $", {p.FilesDone} of {p.FilesTotal} files";
            var record = new ProgressRecord(id, activity, status) { CurrentOperation = p.CurrentItem };
            if (total > 0) record.PercentComplete = (int)Math.Min(100, done * 100 / total);
            return record;
        }
    }

    /// <summary>An executor's failure, already an ErrorRecord naming it.</summary>
    internal sealed class FanOutError
    {
        public FanOutError(ErrorRecord record) { Record = record; }
        public ErrorRecord Record { get; }
    }

    /// <summary>An object one executor's work produced, written as it is.</summary>
    internal sealed class FanOutObject
    {
        public FanOutObject(object value) { Value = value; }
        public object Value { get; }
    }
}
