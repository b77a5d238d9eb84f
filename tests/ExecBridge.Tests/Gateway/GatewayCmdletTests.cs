using System.Linq;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Gateway
{
    /// <summary>Connect-ExecBridge -GatewayUri through the loopback gateway to real exec-servers of both dialects.</summary>
    public sealed class GatewayCmdletTests : IClassFixture<GatewayWithExecutors>
    {
        private readonly GatewayWithExecutors _f;

        public GatewayCmdletTests(GatewayWithExecutors f) => _f = f;

        private static string Token(string variable) => $"$tok = [System.Net.NetworkCredential]::new('', {variable}).SecurePassword";

        [Fact]
        public void ManyExecutorsThroughOneGatewayShareThePoolAndRedial()
        {
            using var ps = new PsHost();
            ps.Run(Token("$args[1]") + @"
                Connect-ExecBridge -GatewayUri $args[0] -ExecutorId $args[2] -Token $tok | Out-Null
                Connect-ExecBridge -GatewayUri $args[0] -ExecutorId $args[3] -Token $tok | Out-Null",
                _f.Gateway.BridgeBaseUri, _f.Gateway.WorkspaceToken, GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId).AssertOk();

            var conns = ps.Run("Get-ExecBridgeConnection").AssertOk().Output;
            Assert.Equal(2, conns.Count);
            Assert.All(conns, c => Assert.Equal("Gateway", c.P("Kind")));
            Assert.Equal("Legacy", conns.Single(c => c.P("ExecutorId") == GatewayWithExecutors.LegacyId).P("Dialect"));
            Assert.Equal("Current", conns.Single(c => c.P("ExecutorId") == GatewayWithExecutors.CurrentId).P("Dialect"));
            Assert.EndsWith("/bridge/" + GatewayWithExecutors.CurrentId, conns.Single(c => c.P("ExecutorId") == GatewayWithExecutors.CurrentId).P("Uri"));

            var r = ps.Run("Invoke-RemoteCommand 'echo L' -ExecutorId $args[0]; Invoke-RemoteCommand 'echo C' -ExecutorId $args[1]",
                GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId).AssertOk();
            Assert.Equal(new[] { "L", "C" }, r.Output.Select(o => o.ToString()));

            // The gateway drops every bridged connection: the next use of each executor redials it.
            _f.Gateway.DropAllBridges();
            var again = ps.Run(@"
                Invoke-RemoteCommand 'echo L2' -ExecutorId $args[0]
                Invoke-RemoteCommand 'echo C2' -ExecutorId $args[1]
                (Get-ExecBridgeConnection | ForEach-Object Reconnects) -join ','",
                GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId).AssertOk();
            Assert.Equal("L2", again.Output[0].ToString());
            Assert.Equal("C2", again.Output[1].ToString());
            Assert.Equal("1,1", again.Output[2].ToString());
        }

        [Fact]
        public void WrongWorkspaceTokenIsAnAuthenticationErrorWithoutTheToken()
        {
            const string wrong = "not-the-workspace-token-77c1";
            using var ps = new PsHost();
            var e = ps.Run(Token("$args[1]") + "; Connect-ExecBridge -GatewayUri $args[0] -ExecutorId $args[2] -Token $tok",
                _f.Gateway.BridgeBaseUri, wrong, GatewayWithExecutors.CurrentId).AllErrors.Single();
            Assert.Equal("AuthenticationFailed,ExecBridge.Cmdlets.ConnectExecBridge", e.FullyQualifiedErrorId);
            Assert.DoesNotContain(wrong, e.ToString());
            Assert.DoesNotContain(wrong, e.Exception.ToString());
            Assert.DoesNotContain(_f.Gateway.WorkspaceToken, e.Exception.ToString());
        }

        [Fact]
        public void UnknownExecutorBehindTheGatewayIsRefused()
        {
            using var ps = new PsHost();
            var e = ps.Run(Token("$args[1]") + "; Connect-ExecBridge -GatewayUri $args[0] -ExecutorId nobody -Token $tok",
                _f.Gateway.BridgeBaseUri, _f.Gateway.WorkspaceToken).AllErrors.Single();
            Assert.Equal("ConnectionRefused,ExecBridge.Cmdlets.ConnectExecBridge", e.FullyQualifiedErrorId);
            Assert.Contains("404", e.Exception.Message);
        }
    }
}
