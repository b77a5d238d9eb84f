using System.Linq;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Cmdlets
{
    /// <summary>Credentials never travel in a URI: userinfo is refused, query strings are never shown.</summary>
    public sealed class UriCredentialTests
    {
        [Theory]
        [InlineData("-Uri")]
        [InlineData("-GatewayUri")]
        public void UserinfoInTheUriIsRefusedWithoutShowingIt(string parameter)
        {
            using var ps = new PsHost();
            var e = ps.Run($"Connect-ExecBridge {parameter} 'ws://alice:hunter2pw@127.0.0.1:1/bridge?token=qsecret' -ExecutorId x -Token ([System.Net.NetworkCredential]::new('', 'tok').SecurePassword)").AllErrors.Single();
            Assert.Equal("InvalidArgument,ExecBridge.Cmdlets.ConnectExecBridge", e.FullyQualifiedErrorId);
            Assert.Equal(System.Management.Automation.ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
            Assert.Equal("ws://127.0.0.1:1/bridge", e.TargetObject?.ToString());
            Assert.Contains("-Token", e.Exception.Message);
            foreach (var text in new[] { e.Exception.Message, e.ToString(), e.TargetObject?.ToString() ?? "", e.CategoryInfo.ToString() })
            {
                Assert.DoesNotContain("hunter2pw", text);
                Assert.DoesNotContain("alice", text);
                Assert.DoesNotContain("qsecret", text);
            }
        }

        [Fact]
        public void AQueryStringIsNeverShownInTheErrorOrItsTarget()
        {
            using var ps = new PsHost();
            var e = ps.Run("Connect-ExecBridge -Uri 'ws://127.0.0.1:1/?token=qsecret' -ExecutorId x -TimeoutSec 5").AllErrors.Single();
            Assert.StartsWith("ConnectionRefused,", e.FullyQualifiedErrorId);
            Assert.Equal("ws://127.0.0.1:1/", e.TargetObject?.ToString());
            Assert.DoesNotContain("qsecret", e.Exception.ToString());
            Assert.DoesNotContain("qsecret", e.ToString());
        }
    }
}
