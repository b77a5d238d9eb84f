using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ExecBridge.Tests.Files
{
    public sealed class ZzDebugTests
    {
        private readonly ITestOutputHelper _o;
        public ZzDebugTests(ITestOutputHelper o) { _o = o; }

        [Fact]
        public async Task Seqs()
        {
            using var s = await ExecServer.StartAsync(Peers.Legacy);
            using var c = new ExecutorClient(new ExecutorEndpoint("x", s.Uri, null));
            var f = System.IO.Path.GetTempFileName();
            TestFiles.WriteRandom(f, 10 << 20, 1);
            for (int i = 0; i < 30; i++)
            {
                long got = 0;
                long n = await c.ReadStreamAsync(f, 1048576, 1048576, (m, t) => { got += m.Length; return Task.CompletedTask; }, default);
                _o.WriteLine($"{i}: {n} {got}");
                await c.Sha256Async(f, default, 1048575, 2);
            }
        }
    }
}
