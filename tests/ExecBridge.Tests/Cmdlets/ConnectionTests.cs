using System;
using System.Diagnostics;
using System.Linq;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Cmdlets
{
    /// <summary>Connecting, authentication, the local exec-server, and losing the server, through the real engine.</summary>
    public sealed class ConnectionTests
    {
        private static string Secure(string name) => $"$tok = [System.Net.NetworkCredential]::new('', {name}).SecurePassword";

        [Fact]
        public async Task WrongTokenIsAnAuthenticationErrorWithoutTheToken()
        {
            const string good = "good-token-5f1c2d";
            const string bad = "wrong-token-9a8b7c";
            using var server = await ExecServer.StartAsync(Peers.Current, token: good);
            using var ps = new PsHost();
            var r = ps.Run(Secure("$args[1]") + "; Connect-ExecBridge -Uri $args[0] -Token $tok", server.Uri, bad);
            var e = r.AllErrors.Single();
            Assert.Equal("AuthenticationFailed,ExecBridge.Cmdlets.ConnectExecBridge", e.FullyQualifiedErrorId);
            Assert.Equal(System.Management.Automation.ErrorCategory.AuthenticationError, e.CategoryInfo.Category);
            Assert.Contains("401", e.Exception.Message);
            Assert.DoesNotContain(bad, e.ToString());
            Assert.DoesNotContain(bad, e.Exception.ToString());

            var ok = ps.Run(Secure("$args[1]") + "; $c = Connect-ExecBridge -Uri $args[0] -Token $tok; Invoke-RemoteCommand 'echo authed'; $c.ToString()", server.Uri, good).AssertOk();
            Assert.Equal("authed", ok.Output[0].ToString());
            Assert.DoesNotContain(good, string.Join("\n", ok.Output.Select(o => o.ToString())));
        }

        [Fact]
        public void RefusedConnectionIsAConnectionError()
        {
            int port = ExecServer.FreePort();
            using var ps = new PsHost();
            var r = ps.Run("Connect-ExecBridge -Uri $args[0] -TimeoutSec 5", new Uri($"ws://127.0.0.1:{port}"));
            var e = r.AllErrors.Single();
            Assert.Equal("ConnectionRefused,ExecBridge.Cmdlets.ConnectExecBridge", e.FullyQualifiedErrorId);
            Assert.Equal(System.Management.Automation.ErrorCategory.ConnectionError, e.CategoryInfo.Category);
            // Nothing for that address joined the pool. (A runspace without connections of its own lists the
            // process's, and other tests connect in parallel: only this address is ours to check.)
            Assert.Empty(ps.Run("Get-ExecBridgeConnection | Where-Object Uri -Like $args[0]", $"*:{port}/*").Output);
        }

        [Fact]
        public void NonWebSocketUriIsRejected()
        {
            using var ps = new PsHost();
            var e = ps.Run("Connect-ExecBridge -Uri 'http://127.0.0.1:1/'").AllErrors.Single();
            Assert.Equal("InvalidExecutorUri,ExecBridge.Cmdlets.ConnectExecBridge", e.FullyQualifiedErrorId);
        }

        [Fact]
        public async Task DuplicateIdNeedsForceAndAmbiguityNamesTheChoices()
        {
            using var a = await ExecServer.StartAsync(Peers.Legacy);
            using var b = await ExecServer.StartAsync(Peers.Current);
            using var ps = new PsHost();
            ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId a", a.Uri).AssertOk();
            var dup = ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId a", b.Uri).AllErrors.Single();
            Assert.Equal("ExecutorAlreadyConnected,ExecBridge.Cmdlets.ConnectExecBridge", dup.FullyQualifiedErrorId);
            ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId b", b.Uri).AssertOk();
            var amb = ps.Run("Invoke-RemoteCommand 'true'").AllErrors.Single();
            Assert.StartsWith("ExecutorNotConnected,", amb.FullyQualifiedErrorId);
            Assert.Contains("'a'", amb.Exception.Message);
            Assert.Contains("'b'", amb.Exception.Message);
            var both = ps.Run("Invoke-RemoteCommand 'echo A' -ExecutorId a; Invoke-RemoteCommand 'echo B' -ExecutorId B").AssertOk();
            Assert.Equal(new[] { "A", "B" }, both.Output.Select(o => o.ToString()));
            ps.Run("Disconnect-ExecBridge -ExecutorId a").AssertOk();
            Assert.Equal("b", ps.Run("Get-ExecBridgeConnection").Output.Single().P("ExecutorId"));
            ps.Run("Get-ExecBridgeConnection | Disconnect-ExecBridge").AssertOk();
            Assert.Empty(ps.Run("Get-ExecBridgeConnection").Output);
        }

        [Fact]
        public void LocalStartsATokenProtectedServerAndDisconnectStopsIt()
        {
            var codex = Peers.CodexPath(Peers.Current);
            using var ps = new PsHost();
            var r = ps.Run("$c = Connect-ExecBridge -Local -ExecServerPath $args[0] -Verbose; $c; Invoke-RemoteCommand 'echo local'", codex).AssertOk();
            var c = r.Output[0];
            Assert.Equal("local", c.P("ExecutorId"));
            Assert.Equal("Local", c.P("Kind"));
            Assert.Equal("local", r.Output[1].ToString());
            Assert.Contains(r.Verbose, v => v.Contains("capability token"));
            var uri = new Uri(c.P("Uri")!);

            // The token protects it: a connection without one is refused.
            var anon = ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId anon", uri).AllErrors.Single();
            Assert.StartsWith("AuthenticationFailed,", anon.FullyQualifiedErrorId);

            ps.Run("Disconnect-ExecBridge -ExecutorId local").AssertOk();
            Assert.True(WaitUntil(() => !Listening(uri.Port), TimeSpan.FromSeconds(5)), "the local exec-server still listens after Disconnect");
        }

        [Fact]
        public void RemoveModuleStopsTheLocalServer()
        {
            var codex = Peers.CodexPath(Peers.Legacy);
            using var ps = new PsHost();
            var c = ps.Run("Connect-ExecBridge -Local -ExecServerPath $args[0]", codex).AssertOk().Output.Single();
            var uri = new Uri(c.P("Uri")!);
            Assert.True(Listening(uri.Port));
            ps.Run("Remove-Module ExecBridge").AssertOk();
            Assert.True(WaitUntil(() => !Listening(uri.Port), TimeSpan.FromSeconds(5)), "the local exec-server still listens after Remove-Module");
        }

        [Fact]
        public void MissingCodexIsAClearError()
        {
            using var ps = new PsHost();
            var e = ps.Run("Connect-ExecBridge -Local -ExecServerPath /no/such/codex").AllErrors.Single();
            Assert.Equal("LocalExecServerFailed,ExecBridge.Cmdlets.ConnectExecBridge", e.FullyQualifiedErrorId);
        }

        [Theory]
        [InlineData(Peers.Legacy)]
        [InlineData(Peers.Current)]
        public async Task ServerKilledMidReceiveFailsFastAndRedialsAfterRestart(string version)
        {
            using var server = await ExecServer.StartAsync(version);
            using var ps = new PsHost();
            ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId k", server.Uri).AssertOk();
            var run = ps.Begin("Start-RemoteProcess -Command 'echo started; sleep 60' | Receive-RemoteOutput -Wait -ErrorAction Continue");
            var output = new System.Management.Automation.PSDataCollection<System.Management.Automation.PSObject>();
            var async = run.BeginInvoke<System.Management.Automation.PSObject, System.Management.Automation.PSObject>(null, output);
            Assert.True(WaitUntil(() => output.Count > 0, TimeSpan.FromSeconds(10)), "no output before the kill");
            var sw = Stopwatch.StartNew();
            server.Kill();
            Assert.True(async.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(5)), "Receive-RemoteOutput hung after the server died");
            sw.Stop();
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"took {sw.Elapsed}");
            var err = run.Streams.Error.Single();
            Assert.Contains(err.FullyQualifiedErrorId.Split(',')[0], new[] { "ConnectionLost", "RemoteOutputLost" });
            Assert.Equal(System.Management.Automation.ErrorCategory.ConnectionError == err.CategoryInfo.Category
                ? System.Management.Automation.ErrorCategory.ConnectionError : System.Management.Automation.ErrorCategory.ReadError, err.CategoryInfo.Category);
            run.Dispose();

            await server.RestartAsync();
            var again = ps.Run("Invoke-RemoteCommand 'echo back'; (Get-ExecBridgeConnection).Reconnects").AssertOk();
            Assert.Equal("back", again.Output[0].ToString());
            Assert.True((int)again.Output[1].BaseObject >= 1);
        }

        internal static bool Listening(int port)
        {
            try
            {
                using var c = new TcpClient();
                c.Connect("127.0.0.1", port);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }

        internal static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < timeout)
            {
                if (condition()) return true;
                Thread.Sleep(50);
            }
            return condition();
        }
    }
}
