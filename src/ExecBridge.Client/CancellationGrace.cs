using System;
using System.Threading;

namespace ExecBridge.Client
{
    /// <summary>
    /// A token that is cancelled a while after the caller's is. For a request that creates something on the executor
    /// (a process, an open file): cancelled on the wire, the server may still create it, so the caller lets the
    /// answer come (up to the grace) and then undoes what was created, instead of forgetting it.
    /// </summary>
    internal sealed class CancellationGrace : IDisposable
    {
        /// <summary>How long such a request may still take to answer once the caller gave up.</summary>
        public static readonly TimeSpan Default = TimeSpan.FromSeconds(3);

        private readonly CancellationTokenSource _grace = new CancellationTokenSource();
        private readonly CancellationTokenRegistration _link;

        public CancellationGrace(CancellationToken caller)
        {
            caller.ThrowIfCancellationRequested();
            _link = caller.Register(() => { try { _grace.CancelAfter(Default); } catch (ObjectDisposedException) { } });
        }

        public CancellationToken Token => _grace.Token;

        public void Dispose()
        {
            _link.Dispose();
            _grace.Dispose();
        }
    }
}
