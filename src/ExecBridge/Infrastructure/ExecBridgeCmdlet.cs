using System;
using System.Collections.Concurrent;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Logging;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// Owns cancellation (Ctrl+C cancels one token that every wait honours) and the log queue that background
    /// work fills and only the pipeline thread drains.
    /// </summary>
    public abstract class ExecBridgeCmdlet : PSCmdlet, IDisposable
    {
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly ConcurrentQueue<LogLine> _log = new ConcurrentQueue<LogLine>();
        private bool _attached;
        private ConcurrentQueue<LogLine>? _previousScope;

        protected CancellationToken StopToken => _stop.Token;

        protected override void BeginProcessing()
        {
            var level = Wants("Debug", "DebugPreference") ? LogSeverity.Debug
                : Wants("Verbose", "VerbosePreference") ? LogSeverity.Information : LogSeverity.None;
            if (level == LogSeverity.None) return;
            QueueLogger.Instance.Attach(_log, level);
            // Set on the pipeline thread before any client call: the work those calls start logs to this cmdlet only.
            _previousScope = QueueLogger.EnterScope(_log);
            _attached = true;
        }

        /// <summary>Whether -Verbose/-Debug (or the preference variable) asks for that stream.</summary>
        private bool Wants(string parameter, string preferenceVariable)
        {
            if (MyInvocation.BoundParameters.TryGetValue(parameter, out var v))
                return v is SwitchParameter sp ? sp.IsPresent : LanguagePrimitives.IsTrue(v);
            var pref = GetVariableValue(preferenceVariable);
            return pref is ActionPreference ap && ap != ActionPreference.SilentlyContinue && ap != ActionPreference.Ignore;
        }

        protected override void StopProcessing() => _stop.Cancel();

        protected override void EndProcessing()
        {
            FlushLog();
            Detach();
        }

        /// <summary>Blocks the pipeline thread on background work, draining its log lines meanwhile.</summary>
        protected T Await<T>(Task<T> task)
        {
            WaitDraining(task);
            try
            {
                return task.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
        }

        protected void Await(Task task)
        {
            WaitDraining(task);
            try
            {
                task.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
        }

        private void WaitDraining(Task task)
        {
            // The log is flushed however the task ends: a failed connect still shows its -Verbose/-Debug lines.
            try
            {
                while (!WaitQuietly(task, 50)) FlushLog();
            }
            finally
            {
                FlushLog();
            }
        }

        /// <summary>Waits up to 'ms' for the task; never throws (Task.Wait would throw an AggregateException when it faulted).</summary>
        protected static bool WaitQuietly(Task task, int ms)
        {
            try
            {
                return task.Wait(ms);
            }
            catch (AggregateException)
            {
                return true;
            }
        }

        /// <summary>The error inside task bridges (AggregateException with one inner, possibly nested).</summary>
        protected static Exception Unwrap(Exception ex)
        {
            while (ex is AggregateException a && a.InnerExceptions.Count == 1) ex = a.InnerExceptions[0];
            return ex;
        }

        /// <summary>Writes queued log lines: Information and above as Verbose, the rest as Debug.</summary>
        protected void FlushLog()
        {
            while (_log.TryDequeue(out var line))
            {
                if (line.Level >= LogSeverity.Information) WriteVerbose(line.Message);
                else WriteDebug(line.Message);
            }
        }

        /// <summary>Reports a failure as a non-terminating error (per-item failures let the rest continue).</summary>
        protected void WriteFailure(Exception exception, object? target)
        {
            exception = Unwrap(exception);
            if (exception is OperationCanceledException && _stop.IsCancellationRequested) throw new PipelineStoppedException();
            WriteError(ErrorMapping.ToErrorRecord(exception, target));
        }

        /// <summary>Reports a failure that ends the cmdlet.</summary>
        protected void ThrowFailure(Exception exception, object? target)
        {
            exception = Unwrap(exception);
            if (exception is OperationCanceledException && _stop.IsCancellationRequested) throw new PipelineStoppedException();
            ThrowTerminatingError(ErrorMapping.ToErrorRecord(exception, target));
        }

        protected static bool IsClientFailure(Exception ex)
        {
            ex = Unwrap(ex);
            return ex is ExecBridgeException || ex is TimeoutException || ex is System.IO.IOException || ex is UnauthorizedAccessException;
        }

        /// <summary>
        /// A local path as the provider resolves it. What the provider throws for a path it cannot take (a NUL, an
        /// unknown drive) becomes InvalidArgument with the path as target instead of a raw error that ends the cmdlet.
        /// </summary>
        protected string ResolveLocalPath(string path)
        {
            try
            {
                if (path.IndexOf('\0') >= 0) throw new ArgumentException("The path contains a NUL character.");
                return GetUnresolvedProviderPathFromPSPath(path);
            }
            catch (Exception ex) when (!(ex is PipelineStoppedException) && (ex is ArgumentException || ex is RuntimeException || ex is NotSupportedException || ex is System.IO.IOException))
            {
                throw new ExecBridge.Client.Copy.LocalFileException(ExecBridgeErrorKind.InvalidArgument,
                    $"The local path '{ExecBridge.Client.Copy.LocalErrors.Shown(path)}' is not valid: {ex.Message}", path, ex);
            }
        }

        private void Detach()
        {
            if (!_attached) return;
            _attached = false;
            QueueLogger.Instance.Detach(_log);
            QueueLogger.RestoreScope(_previousScope);
        }

        public void Dispose()
        {
            Detach();
            _stop.Dispose();
        }
    }
}
