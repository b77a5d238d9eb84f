using System.Runtime.CompilerServices;
using System.Threading;

namespace ExecBridge.Tests.Infrastructure
{
    internal static class TestHostSetup
    {
        /// <summary>
        /// Many tests drive the PowerShell engine synchronously, which blocks thread-pool threads; on a 2-core machine
        /// the pool starts with 2 and adds ~1 per second, so timers (the client's timeout sweeper) would fire late in
        /// the first seconds of a run and timing assertions would measure the test host, not the client.
        /// </summary>
        [ModuleInitializer]
        internal static void Initialize()
        {
            ThreadPool.GetMinThreads(out int workers, out int io);
            if (workers < 32) ThreadPool.SetMinThreads(32, io < 32 ? 32 : io);
        }
    }
}
