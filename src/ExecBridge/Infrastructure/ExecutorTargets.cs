using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ExecBridge.Client;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// The executors one fan-out call is for: -ExecutorId names (wildcards match connected ids), -Connection objects and
    /// piped connections, each executor once, in the order given. A name that matches nothing is a per-executor error
    /// (the others still run); with none given, the only connection, as for single-executor cmdlets.
    /// </summary>
    internal sealed class ExecutorTargets
    {
        public List<ExecutorClient> Clients { get; } = new List<ExecutorClient>();
        public List<ErrorRecord> Errors { get; } = new List<ErrorRecord>();

        /// <summary>More than one executor is or could be involved: a list, a wildcard, or several connections.</summary>
        public bool IsFanOut { get; private set; }

        public static ExecutorTargets Resolve(IReadOnlyList<string> ids, IReadOnlyList<ExecBridgeConnection> connections)
        {
            var t = new ExecutorTargets();
            t.IsFanOut = ids.Count + connections.Count > 1 || ids.Any(WildcardPattern.ContainsWildcardCharacters);
            foreach (var c in connections)
            {
                if (c.Client.State == ExecutorState.Closed)
                {
                    t.Errors.Add(ErrorMapping.ToErrorRecord(new ExecBridgeException(ExecBridgeErrorKind.ExecutorNotConnected,
                        $"The connection to executor '{c.ExecutorId}' was closed (Disconnect-ExecBridge). Connect again and use the new connection object."),
                        c.ExecutorId));
                    continue;
                }
                t.Add(c.Client);
            }
            var visible = SessionPool.Visible;
            foreach (var id in ids)
            {
                if (WildcardPattern.ContainsWildcardCharacters(id))
                {
                    var pattern = new WildcardPattern(id, WildcardOptions.IgnoreCase);
                    var matched = visible.Where(c => pattern.IsMatch(c.ExecutorId)).OrderBy(c => c.ExecutorId, StringComparer.OrdinalIgnoreCase).ToList();
                    // Running on no executor at all must not look like success to a runbook.
                    if (matched.Count == 0) t.Errors.Add(NotConnected($"No connected executor matches '{id}'.{Listing(visible)}", id));
                    foreach (var m in matched) t.Add(m);
                    continue;
                }
                var named = visible.Where(c => string.Equals(c.ExecutorId, id, StringComparison.OrdinalIgnoreCase)).ToList();
                if (named.Count == 1) t.Add(named[0]);
                else if (named.Count > 1)
                    t.Errors.Add(NotConnected($"Executor '{id}' is connected in {named.Count} runspaces of this process, and this runspace has no connection of its own; pass the one you mean with -Connection (e.g. -Connection $using:conn).", id));
                else
                    t.Errors.Add(NotConnected(visible.Count == 0
                        ? $"Executor '{id}' is not connected. Run Connect-ExecBridge first."
                        : $"Executor '{id}' is not connected.{Listing(visible)}", id));
            }
            if (ids.Count == 0 && connections.Count == 0)
            {
                if (visible.Count == 1) t.Add(visible[0]);
                else t.Errors.Add(NotConnected(visible.Count == 0
                    ? "No executor is connected. Run Connect-ExecBridge first."
                    : $"More than one executor is connected ({Names(visible)}); choose with -ExecutorId (names or wildcards) or -Connection.", null));
            }
            return t;
        }

        private void Add(ExecutorClient client)
        {
            if (!Clients.Contains(client)) Clients.Add(client);
        }

        private static string Names(IReadOnlyList<ExecutorClient> visible) => string.Join(", ", visible.Select(c => "'" + c.ExecutorId + "'"));

        private static string Listing(IReadOnlyList<ExecutorClient> visible) =>
            visible.Count == 0 ? " No executor is connected." : visible.Count <= 10 ? $" Connected executors: {Names(visible)}." : $" {visible.Count} executors are connected.";

        private static ErrorRecord NotConnected(string message, string? id) =>
            ErrorMapping.ToErrorRecord(new ExecBridgeException(ExecBridgeErrorKind.ExecutorNotConnected, message), id);
    }
}
