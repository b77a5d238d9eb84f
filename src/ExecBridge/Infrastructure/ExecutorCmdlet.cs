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
    /// </summary>
    public abstract class ExecutorCmdlet : ExecBridgeCmdlet
    {
        [Parameter]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [ValidateNotNullOrEmpty]
        public virtual string? ExecutorId { get; set; }

        [Parameter]
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
                return connection.Client;
            }
            var pool = Pool;
            if (executorId != null)
            {
                if (pool.TryGet(executorId, out var client)) return client;
                ThrowNotConnected(executorId, pool);
            }
            var all = pool.Clients;
            if (all.Count == 1) return all[0];
            ThrowNotConnected(null, pool);
            return null!;
        }

        private void ThrowNotConnected(string? executorId, ConnectionPool pool)
        {
            var names = string.Join(", ", pool.Clients.Select(c => "'" + c.ExecutorId + "'"));
            string message = executorId != null
                ? (pool.Count == 0
                    ? $"Executor '{executorId}' is not connected. Run Connect-ExecBridge first."
                    : $"Executor '{executorId}' is not connected. Connected executors: {names}.")
                : (pool.Count == 0
                    ? "No executor is connected. Run Connect-ExecBridge first."
                    : $"More than one executor is connected ({names}); choose one with -ExecutorId or -Connection.");
            ThrowTerminatingError(ErrorMapping.ToErrorRecord(
                new ExecBridgeException(ExecBridgeErrorKind.ExecutorNotConnected, message), executorId));
        }
    }
}
