using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using ExecBridge.Client.Pool;

namespace ExecBridge.Infrastructure
{
    /// <summary>The connection pool of a PowerShell session (runspace); closed when the module is removed.</summary>
    internal static class SessionPool
    {
        private static readonly ConditionalWeakTable<Runspace, ConnectionPool> Pools = new ConditionalWeakTable<Runspace, ConnectionPool>();
        private static readonly ConnectionPool Fallback = new ConnectionPool();

        public static ConnectionPool Current
        {
            get
            {
                var runspace = Runspace.DefaultRunspace;
                return runspace == null ? Fallback : Pools.GetValue(runspace, _ => new ConnectionPool());
            }
        }

        public static void CloseCurrent()
        {
            var runspace = Runspace.DefaultRunspace;
            if (runspace != null && Pools.TryGetValue(runspace, out var pool))
            {
                Pools.Remove(runspace);
                pool.Dispose();
            }
        }
    }
}
