using System;
using System.Linq;
using System.Threading.Tasks;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Cmdlets
{
    /// <summary>What reaches a process's environment: -Environment names are checked; -Local inherits no secrets.</summary>
    public sealed class EnvironmentTests
    {
        [Theory]
        [InlineData("Start-RemoteProcess", "''")]
        [InlineData("Start-RemoteProcess", "'A=B'")]
        [InlineData("Invoke-RemoteCommand", "' '")]
        [InlineData("Invoke-RemoteCommand", "'X=1'")]
        public async Task EnvironmentNamesThatAreEmptyOrHoldAnEqualsSignAreRefused(string cmdlet, string name)
        {
            using var server = await ExecServer.StartAsync(Peers.Current);
            using var ps = new PsHost();
            ps.Run("$null = Connect-ExecBridge -Uri $args[0] -ExecutorId e", server.Uri).AssertOk();
            var r = ps.Run($"{cmdlet} -Command 'echo started' -Environment @{{ {name} = 'v' }}");
            var e = r.AllErrors.Single();
            Assert.Equal($"InvalidArgument,ExecBridge.Cmdlets.{cmdlet.Replace("-", "")}", e.FullyQualifiedErrorId);
            Assert.Equal(System.Management.Automation.ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
            Assert.Equal(name.Trim('\''), e.TargetObject);
            Assert.DoesNotContain(r.Output, o => o.ToString().Contains("started"));
        }

        [Fact]
        public void TheLocalServerDoesNotInheritTheRelaySecretOrExecBridgeVariables()
        {
            var secretName = "EB_TEST_RELAY_SECRET_" + Guid.NewGuid().ToString("N").Substring(0, 6);
            var secret = "relay-secret-" + Guid.NewGuid().ToString("N");
            Environment.SetEnvironmentVariable(secretName, secret);
            Environment.SetEnvironmentVariable("EXECBRIDGE_TEST_SECRET", secret);
            try
            {
                using var ps = new PsHost();
                ps.Run("Set-ExecBridgeRelay -InternalUri http://127.0.0.1:9/ -WorkspaceId w -SecretEnvironmentVariable $args[0]", secretName).AssertOk();
                var port = new Uri(ps.Run("(Connect-ExecBridge -Local -ExecServerPath $args[0]).Uri", Peers.CodexPath(Peers.Current)).AssertOk().Output.Single().ToString()).Port;
                var env = string.Join("\n", ps.Run("Invoke-RemoteCommand 'env'").AssertOk().Output.Select(o => o.ToString()));
                Assert.Contains("PATH=", env);
                Assert.DoesNotContain(secret, env);
                Assert.DoesNotContain("EXECBRIDGE_", env);
                // codex filters *SECRET* names out of what its processes see, so look at the server's own environment:
                // the -Local server this test started: the exec-server below this process that listens on its port.
                var server = ProcTree.ExecServersBelow(Environment.ProcessId).Single(i => ProcTree.Listens(i.Pid, port));
                var environ = System.IO.File.ReadAllText($"/proc/{server.Pid}/environ").Replace('\0', '\n');
                Assert.Contains("PATH=", environ);
                Assert.DoesNotContain(secret, environ);
                Assert.DoesNotContain("EXECBRIDGE_", environ);
                ps.Run("Disconnect-ExecBridge -All").AssertOk();
            }
            finally
            {
                Environment.SetEnvironmentVariable(secretName, null);
                Environment.SetEnvironmentVariable("EXECBRIDGE_TEST_SECRET", null);
            }
        }
    }
}
