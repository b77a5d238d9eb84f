using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using ExecBridge.Client;
using ExecBridge.Client.Pool;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// The connection pool of a PowerShell session (runspace); closed when the module is removed.
    /// A runspace that never connected (a ForEach-Object -Parallel or thread-job runspace) borrows the connections
    /// of the other runspaces in this process, read-only: a runspace that ever ran Connect-ExecBridge sees only its
    /// own pool, even once it disconnected them all, so separate sessions stay apart; a borrowed id must name one
    /// connection in the process.
    /// </summary>
    internal static class SessionPool
    {
        private static readonly ConditionalWeakTable<Runspace, ConnectionPool> Pools = new ConditionalWeakTable<Runspace, ConnectionPool>();
        private static readonly ConnectionPool Fallback = new ConnectionPool();
        // Runspaces that ran Connect-ExecBridge: they never borrow.
        private static readonly ConditionalWeakTable<Runspace, object> Owners = new ConditionalWeakTable<Runspace, object>();
        // Weak both ways: the registry must not keep a closed runspace or its pool alive.
        private static readonly List<(WeakReference<Runspace> Runspace, WeakReference<ConnectionPool> Pool)> Registry =
            new List<(WeakReference<Runspace>, WeakReference<ConnectionPool>)>();

        public static ConnectionPool Current
        {
            get
            {
                var runspace = Runspace.DefaultRunspace;
                return runspace == null ? Fallback : Pools.GetValue(runspace, Register);
            }
        }

        private static ConnectionPool Register(Runspace runspace)
        {
            var pool = new ConnectionPool();
            lock (Registry)
            {
                Registry.RemoveAll(e => !e.Runspace.TryGetTarget(out _) || !e.Pool.TryGetTarget(out _));
                Registry.Add((new WeakReference<Runspace>(runspace), new WeakReference<ConnectionPool>(pool)));
            }
            return pool;
        }

        /// <summary>Called by Connect-ExecBridge: from now on this runspace uses only its own connections.</summary>
        public static void MarkOwner()
        {
            var runspace = Runspace.DefaultRunspace;
            if (runspace != null) Owners.GetValue(runspace, _ => new object());
        }

        private static bool Borrows
        {
            get
            {
                var runspace = Runspace.DefaultRunspace;
                return runspace != null && !Owners.TryGetValue(runspace, out _) && Current.Count == 0;
            }
        }

        /// <summary>Whether the current runspace uses other runspaces' connections (it never connected itself).</summary>
        public static bool IsBorrowing => Borrows && Others().Any(p => p.Count > 0);

        /// <summary>The connections this runspace can use: its own, or when it has none, every other live runspace's.</summary>
        public static IReadOnlyList<ExecutorClient> Visible
        {
            get
            {
                var own = Current;
                if (!Borrows) return own.Clients;
                return Others().SelectMany(p => p.Clients).Distinct().OrderBy(c => c.ExecutorId, StringComparer.OrdinalIgnoreCase).ToList();
            }
        }

        private static List<ConnectionPool> Others()
        {
            var current = Runspace.DefaultRunspace;
            var found = new List<ConnectionPool>();
            lock (Registry)
            {
                foreach (var (rsRef, poolRef) in Registry)
                {
                    if (!rsRef.TryGetTarget(out var rs) || !poolRef.TryGetTarget(out var pool)) continue;
                    if (ReferenceEquals(rs, current)) continue;
                    var state = rs.RunspaceStateInfo.State;
                    if (state == RunspaceState.Closed || state == RunspaceState.Closing || state == RunspaceState.Broken) continue;
                    found.Add(pool);
                }
            }
            return found;
        }

        public static void CloseCurrent()
        {
            var runspace = Runspace.DefaultRunspace;
            if (runspace != null && Pools.TryGetValue(runspace, out var pool))
            {
                Pools.Remove(runspace);
                lock (Registry) Registry.RemoveAll(e => !e.Pool.TryGetTarget(out var p) || ReferenceEquals(p, pool));
                pool.Dispose();
            }
        }
    }
}
