using System;
using System.IO;
using System.Linq;
using System.Threading;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Local
{
    /// <summary>
    /// The -Local server belongs to the pwsh that started it: Ctrl+C in that pwsh must not reach it, and it must not
    /// outlive it (plain exit or SIGKILL). A real pwsh process, a real codex 0.169.0 exec-server.
    /// </summary>
    public sealed class LocalServerLifetimeTests
    {
        private static readonly TimeSpan Start = TimeSpan.FromSeconds(90);

        private static ProcTree.Info ConnectLocal(RealPwsh pwsh)
        {
            pwsh.Send($"Import-Module '{Peers.ModuleManifest}'; $null = Connect-ExecBridge -Local -ExecServerPath '{Peers.CodexPath(Peers.Current)}'; 'connected'");
            pwsh.WaitFor("connected", Start);
            return ProcTree.ExecServersBelow(pwsh.Pid).Single();
        }

        [Fact]
        public void CtrlCInPwshDoesNotReachTheLocalServer()
        {
            using var pwsh = new RealPwsh();
            var server = ConnectLocal(pwsh);
            try
            {
                // What a terminal does on Ctrl+C: SIGINT to every process of the foreground process group.
                pwsh.Signal("INT", group: true);
                Thread.Sleep(3000);
                Assert.True(ProcTree.IsAlive(server.Pid), "the local exec-server died of the Ctrl+C meant for pwsh");
                pwsh.Send("Invoke-RemoteCommand 'echo still-$((40+2))'");
                pwsh.WaitFor("still-42", TimeSpan.FromSeconds(30));
                Assert.NotEqual(pwsh.Pid, ProcTree.Get(server.Pid)!.ProcessGroup);
            }
            finally { Kill(server.Pid); }
        }

        [Fact]
        public void SigkillOfPwshStopsTheLocalServerAndRemovesItsTokenFolder()
        {
            using var pwsh = new RealPwsh();
            var server = ConnectLocal(pwsh);
            var folder = Path.GetDirectoryName(server.Option("--ws-token-file"))!;
            Assert.True(Directory.Exists(folder));
            try
            {
                pwsh.Signal("KILL", group: false);
                Assert.True(pwsh.WaitForExit(TimeSpan.FromSeconds(5)));
                AssertGone(server.Pid, folder);
            }
            finally { Kill(server.Pid); }
        }

        [Fact]
        public void ExitWithoutDisconnectStopsTheLocalServerAndRemovesItsTokenFolder()
        {
            using var pwsh = new RealPwsh();
            var server = ConnectLocal(pwsh);
            var folder = Path.GetDirectoryName(server.Option("--ws-token-file"))!;
            try
            {
                pwsh.Send("exit");
                Assert.True(pwsh.WaitForExit(TimeSpan.FromSeconds(20)), "pwsh did not exit");
                AssertGone(server.Pid, folder);
            }
            finally { Kill(server.Pid); }
        }

        private static void AssertGone(int pid, string folder)
        {
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (DateTime.UtcNow < deadline && (ProcTree.IsAlive(pid) || Directory.Exists(folder))) Thread.Sleep(100);
            Assert.False(ProcTree.IsAlive(pid), "the local exec-server outlived pwsh");
            Assert.False(Directory.Exists(folder), "the token folder outlived pwsh");
        }

        private static void Kill(int pid)
        {
            if (ProcTree.IsAlive(pid)) RealPwsh.Run("kill", "-KILL", pid.ToString());
        }
    }
}
