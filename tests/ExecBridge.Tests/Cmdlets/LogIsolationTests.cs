using System;
using System.Linq;
using System.Threading.Tasks;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Cmdlets
{
    /// <summary>-Verbose/-Debug of one runspace shows its own calls only, never another runspace's.</summary>
    public sealed class LogIsolationTests
    {
        [Fact]
        public async Task DebugOfOneRunspaceNeverShowsAnotherRunspacesRequests()
        {
            using var serverA = await ExecServer.StartAsync(Peers.Current);
            using var serverB = await ExecServer.StartAsync(Peers.Current);
            using var psA = new PsHost();
            using var psB = new PsHost();
            psB.Run("$null = Connect-ExecBridge -Uri $args[0] -ExecutorId bee", serverB.Uri).AssertOk();

            // Runspace A dials, runs and hangs up again and again while B runs one command with -Verbose -Debug.
            var noisy = Task.Run(() => psA.Run(
                "$end = [DateTime]::UtcNow.AddSeconds(4); $n = 0; while ([DateTime]::UtcNow -lt $end) { " +
                "$null = Connect-ExecBridge -Uri $args[0] -ExecutorId ant -Force; $null = Invoke-RemoteCommand -ExecutorId ant 'true'; Disconnect-ExecBridge -All; $n++ }; $n",
                serverA.Uri));
            await Task.Delay(300);
            var b = psB.Run("Invoke-RemoteCommand -ExecutorId bee 'sleep 3; echo done' -Verbose -Debug").AssertOk();
            var a = (await noisy).AssertOk();
            Assert.True(int.Parse(a.Output.Last().ToString()) >= 2, "runspace A made too few calls to test anything");
            Assert.Equal("done", b.Output.Single().ToString());
            var lines = b.Verbose.Concat(b.Debug).ToList();
            // B's own frames are shown, responses too (the socket reader logs them to the caller, not to whoever dialed).
            Assert.Contains(b.Debug, l => l.StartsWith("-> process/start"));
            Assert.Contains(b.Debug, l => l.StartsWith("<- result"));
            Assert.DoesNotContain(lines, l => l.Contains(":" + serverA.Port) || l.Contains("executor ant"));
        }
    }
}
