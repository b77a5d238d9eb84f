using System;
using System.Collections.Generic;
using System.Linq;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Management.Automation;
using System.Text;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Client.Files;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>
    /// Shared by the file cmdlets: waits on background transfers while draining their results, per-item errors and
    /// log lines on the pipeline thread, and shows progress at most twice a second from the counters the
    /// transfer updates (the copy itself never waits for the host).
    /// </summary>
    public abstract class FileCmdletBase : ExecutorCmdlet
    {
        private static int _nextActivityId = 0x4542;

        // Twice a second: a 256 MiB copy on loopback takes about 2 s, and a bar updated once a second never moved.
        protected const int ProgressIntervalMs = 500;

        /// <summary>Runs 'task' to completion on the pipeline thread; outputs and errors queued by it are written as they come.</summary>
        protected void RunTransfer(Task task, TransferProgress? progress, string activity,
            ConcurrentQueue<object>? outputs = null, ConcurrentQueue<(Exception Error, object Target)>? errors = null)
        {
            int activityId = NextActivityId();
            var sinceProgress = Stopwatch.StartNew();
            bool shown = false;
            try
            {
                while (!WaitQuietly(task, 100))
                {
                    Drain(outputs, errors);
                    FlushLog();
                    if (progress != null && sinceProgress.ElapsedMilliseconds >= ProgressIntervalMs)
                    {
                        WriteProgress(MakeRecord(activityId, activity, progress));
                        shown = true;
                        sinceProgress.Restart();
                    }
                }
                Drain(outputs, errors);
            }
            finally
            {
                // However the transfer ended, what it logged is shown.
                FlushLog();
                if (shown)
                {
                    try { WriteProgress(new ProgressRecord(activityId, activity, "Done") { RecordType = ProgressRecordType.Completed }); }
                    catch (PipelineStoppedException) { }
                }
            }
            Await(task);
        }

        /// <summary>A progress activity id of its own for each transfer (several bars can be shown at once).</summary>
        protected static int NextActivityId() => System.Threading.Interlocked.Increment(ref _nextActivityId);

        private void Drain(ConcurrentQueue<object>? outputs, ConcurrentQueue<(Exception Error, object Target)>? errors)
        {
            // Client types never reach the pipeline: they live in the module's private load context.
            if (outputs != null) while (outputs.TryDequeue(out var o)) WriteObject(o is ExecBridge.Client.Copy.CopyResult c ? new RemoteCopyResult(c) : o);
            if (errors != null) while (errors.TryDequeue(out var e)) WriteFailure(e.Error, e.Target);
        }

        private static ProgressRecord MakeRecord(int id, string activity, TransferProgress p)
        {
            long done = p.BytesDone, total = p.BytesTotal;
            double rate = p.Rate;
            var status = total > 0
                ? $"{Mb(done)} of {Mb(total)} at {Mb((long)rate)}/s"
                : $"{Mb(done)} at {Mb((long)rate)}/s";
            if (p.FilesTotal > 1) status += $", file {Math.Min(p.FilesDone + 1, p.FilesTotal)} of {p.FilesTotal}";
            var record = new ProgressRecord(id, activity, status) { CurrentOperation = p.CurrentItem };
            if (total > 0) record.PercentComplete = (int)Math.Min(100, done * 100 / total);
            var left = p.Remaining;
            if (left.HasValue && left.Value.TotalSeconds < int.MaxValue) record.SecondsRemaining = (int)left.Value.TotalSeconds;
            return record;
        }

        protected static string Mb(long bytes) => bytes >= 1 << 20 ? $"{bytes / 1048576.0:0.0} MB" : $"{bytes / 1024.0:0.0} KB";

        /// <summary>RemoteWildcard.ExpandAsync on the pipeline thread (Ctrl+C ends the wait).</summary>
        protected IEnumerable<string> ExpandPath(ExecutorClient client, string path, bool literal) =>
            Await(RemoteWildcard.ExpandAsync(client, path, literal, StopToken));

        protected static RemoteItem ToItem(ExecutorClient client, RemoteFileInfo info) => new RemoteItem(client.ExecutorId, info);

        /// <summary>
        /// A user's remote path made absolute and tidy: '~' and '~/x' below the executor's home, relative paths below its
        /// working directory (ExecutorClient.ResolvePathAsync); '~name' ends the item with InvalidArgument.
        /// </summary>
        protected string ResolveRemote(ExecutorClient client, string path) => Await(client.ResolvePathAsync(path, StopToken));

        /// <summary>Get-Content style encoding names; UTF-8 without BOM by default.</summary>
        protected static Encoding ResolveEncoding(string? name)
        {
            switch ((name ?? "utf8NoBOM").ToLowerInvariant())
            {
                case "utf8":
                case "utf8nobom":
                case "utf-8":
                    return new UTF8Encoding(false);
                case "utf8bom":
                    return new UTF8Encoding(true);
                case "ascii": return Encoding.ASCII;
                case "unicode":
                case "utf-16":
                    return Encoding.Unicode;
                case "bigendianunicode": return Encoding.BigEndianUnicode;
                case "utf32": return Encoding.UTF32;
                case "latin1": return Encoding.GetEncoding("iso-8859-1");
                default: return Encoding.GetEncoding(name!);
            }
        }

        /// <summary>Checks -Encoding up front, so a bad name is one clear InvalidArgument error, not a .NET exception later.</summary>
        protected void ValidateEncoding(string? name)
        {
            if (name == null) return;
            try
            {
                ResolveEncoding(name);
            }
            catch (Exception ex) when (ex is ArgumentException || ex is NotSupportedException)
            {
                ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                    $"'{name}' is not a known encoding. Use one of: {string.Join(", ", EncodingNames)} (or a .NET encoding name such as utf-16BE)."),
                    "InvalidArgument", ErrorCategory.InvalidArgument, name));
            }
        }

        public static readonly string[] EncodingNames = { "utf8", "utf8NoBOM", "utf8BOM", "ascii", "unicode", "bigendianunicode", "utf32", "latin1" };
    }
}
