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
        private const int ProgressIntervalMs = 500;
        private static int _nextActivityId = 0x4600;

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
        internal void Drain(FanOut<ExecutorClient> fan, IReadOnlyList<ExecutorClient> clients, Action<object> handle, TransferProgress? progress, string activity)
        {
            int activityId = Interlocked.Increment(ref _nextActivityId);
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
                            case FanOutCrashed crash:
                                if (!(Unwrap(crash.Error) is OperationCanceledException && fan.IsCancelled))
                                    WriteError(ExecutorError(crash.Error, clients[crash.Index].ExecutorId));
                                break;
                            case FanOutSkipped _: break;
                            default: handle(item!); break;
                        }
                    }
                    else FlushLog();
                    if (progress != null && sinceProgress.ElapsedMilliseconds >= ProgressIntervalMs)
                    {
                        WriteProgress(Progress(activityId, activity, progress));
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

        private static string Mb(long bytes) => bytes >= 1 << 20 ? $"{bytes / 1048576.0:0.0} MB" : $"{bytes / 1024.0:0.0} KB";

        /// <summary>
        /// The background twin of FileCmdletBase.ExpandPath (which waits on the pipeline thread): the same rules
        /// (case-sensitive, dot names only for dotted patterns, no match gives none), for work running in a fan-out.
        /// </summary>
        internal static async Task<IReadOnlyList<string>> ExpandPathAsync(ExecutorClient client, string path, bool literal, CancellationToken ct)
        {
            path = await client.ResolvePathAsync(path, ct).ConfigureAwait(false);
            if (literal || !WildcardPattern.ContainsWildcardCharacters(path)) return new[] { path };
            var current = new List<string> { "/" };
            foreach (var segment in path.Split(new[] { '/' }, StringSplitOptions.RemoveEmptyEntries))
            {
                var next = new List<string>();
                if (!WildcardPattern.ContainsWildcardCharacters(segment))
                {
                    var name = WildcardPattern.Unescape(segment);
                    next.AddRange(current.Select(c => RemotePath.Combine(c, name)));
                }
                else
                {
                    var pattern = new WildcardPattern(segment, WildcardOptions.None);
                    bool dotted = segment.StartsWith(".", StringComparison.Ordinal);
                    foreach (var folder in current)
                    {
                        IReadOnlyList<RemoteDirectoryEntry> entries;
                        try { entries = await client.ReadDirectoryAsync(folder, ct).ConfigureAwait(false); }
                        catch (ExecBridgeException) { continue; } // not a folder, or gone: no match there
                        next.AddRange(entries.Where(e => (dotted || !e.Name.StartsWith(".", StringComparison.Ordinal)) && pattern.IsMatch(e.Name))
                            .Select(e => RemotePath.Combine(folder, e.Name)));
                    }
                }
                current = next;
                if (current.Count == 0) break;
            }
            var existing = new List<string>();
            foreach (var c in current)
                if (await client.TryGetMetadataAsync(c, ct, needLength: false).ConfigureAwait(false) != null) existing.Add(c);
            return existing.OrderBy(c => c, StringComparer.Ordinal).ToList();
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
