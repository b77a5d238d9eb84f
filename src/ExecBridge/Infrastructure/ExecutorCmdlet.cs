using System;
using System.Linq;
using System.Management.Automation;
using ExecBridge.Client;
using ExecBridge.Client.Pool;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// A cmdlet that talks to one executor: -ExecutorId (from this session's pool) or -Connection (any
    /// runspace, e.g. $using:conn in ForEach-Object -Parallel); with exactly one connection, neither is needed.
    /// Both bind from the pipeline by property name, so objects that carry their ExecutorId (RemoteItem,
    /// RemoteProcess, ExecBridgeConnection) take their executor with them; resolve per record, in ProcessRecord.
    /// </summary>
    public abstract class ExecutorCmdlet : ExecBridgeCmdlet
    {
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [ValidateNotNullOrEmpty]
        public virtual string? ExecutorId { get; set; }

        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNull]
        public virtual ExecBridgeConnection? Connection { get; set; }

        protected ConnectionPool Pool => SessionPool.Current;

        /// <summary>Finds the executor this call is for, or ends the cmdlet with ExecutorNotConnected.</summary>
        protected ExecutorClient ResolveClient() => ResolveClient(ExecutorId, Connection);

        protected ExecutorClient ResolveClient(string? executorId, ExecBridgeConnection? connection)
        {
            if (connection != null)
            {
                if (executorId != null && !string.Equals(executorId, connection.ExecutorId, StringComparison.OrdinalIgnoreCase))
                    ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                        $"-ExecutorId '{executorId}' and -Connection (executor '{connection.ExecutorId}') name different executors."),
                        "ConflictingExecutor", ErrorCategory.InvalidArgument, executorId));
                if (connection.Client.State == ExecutorState.Closed)
                    ThrowTerminatingError(ErrorMapping.ToErrorRecord(new ExecBridgeException(ExecBridgeErrorKind.ExecutorNotConnected,
                        $"The connection to executor '{connection.ExecutorId}' was closed (Disconnect-ExecBridge). Connect again and use the new connection object."),
                        connection));
                return connection.Client;
            }
            // A runspace that never connected (a -Parallel or thread-job runspace) uses the process's connections.
            var visible = SessionPool.Visible;
            if (executorId != null)
            {
                var named = visible.Where(c => string.Equals(c.ExecutorId, executorId, StringComparison.OrdinalIgnoreCase)).ToList();
                if (named.Count == 1) return named[0];
                if (named.Count > 1)
                    ThrowTerminatingError(ErrorMapping.ToErrorRecord(new ExecBridgeException(ExecBridgeErrorKind.ExecutorNotConnected,
                        $"Executor '{executorId}' is connected in {named.Count} runspaces of this process, and this runspace has no connection of its own; pass the one you mean with -Connection (e.g. -Connection $using:conn)."),
                        executorId));
                ThrowNotConnected(executorId, visible);
            }
            if (visible.Count == 1) return visible[0];
            ThrowNotConnected(null, visible);
            return null!;
        }

        private void ThrowNotConnected(string? executorId, System.Collections.Generic.IReadOnlyList<ExecutorClient> visible)
        {
            var names = string.Join(", ", visible.Select(c => "'" + c.ExecutorId + "'"));
            string message = executorId != null
                ? (visible.Count == 0
                    ? $"Executor '{executorId}' is not connected. Run Connect-ExecBridge first."
                    : $"Executor '{executorId}' is not connected. Connected executors: {names}.")
                : (visible.Count == 0
                    ? "No executor is connected. Run Connect-ExecBridge first."
                    : $"More than one executor is connected ({names}); choose one with -ExecutorId or -Connection.");
            ThrowTerminatingError(ErrorMapping.ToErrorRecord(
                new ExecBridgeException(ExecBridgeErrorKind.ExecutorNotConnected, message), executorId));
        }
    }
}
