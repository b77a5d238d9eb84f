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
            while (!task.Wait(50)) FlushLog();
            FlushLog();
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
            if (exception is OperationCanceledException && _stop.IsCancellationRequested) throw new PipelineStoppedException();
            WriteError(ErrorMapping.ToErrorRecord(exception, target));
        }

        /// <summary>Reports a failure that ends the cmdlet.</summary>
        protected void ThrowFailure(Exception exception, object? target)
        {
            if (exception is OperationCanceledException && _stop.IsCancellationRequested) throw new PipelineStoppedException();
            ThrowTerminatingError(ErrorMapping.ToErrorRecord(exception, target));
        }

        protected static bool IsClientFailure(Exception ex) =>
            ex is ExecBridgeException || ex is TimeoutException || ex is System.IO.IOException || ex is UnauthorizedAccessException
            || (ex is AggregateException a && a.InnerException is ExecBridgeException);

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
