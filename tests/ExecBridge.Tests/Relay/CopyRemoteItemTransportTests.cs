using System;
using System.Linq;
using ExecBridge.Tests.Gateway;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Relay
{
    /// <summary>Copy-RemoteItem -FromExecutor a -ToExecutor b in the real engine, through the gateway, both dialects.</summary>
    public sealed class CopyRemoteItemTransportTests : IClassFixture<GatewayWithExecutors>
    {
        private readonly GatewayWithExecutors _f;

        public CopyRemoteItemTransportTests(GatewayWithExecutors f) => _f = f;

        private PsHost Connect(bool relay)
        {
            var ps = new PsHost();
            ps.Run(@"$tok = [System.Net.NetworkCredential]::new('', $args[1]).SecurePassword
                Connect-ExecBridge -GatewayUri $args[0] -ExecutorId $args[2] -Token $tok | Out-Null
                Connect-ExecBridge -GatewayUri $args[0] -ExecutorId $args[3] -Token $tok | Out-Null",
                _f.Gateway.BridgeBaseUri, _f.Gateway.WorkspaceToken, GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId).AssertOk();
            if (relay)
                ps.Run("$sec = [System.Net.NetworkCredential]::new('', $args[2]).SecurePassword; Set-ExecBridgeRelay -InternalUri $args[0] -WorkspaceId $args[1] -Secret $sec",
                    _f.Gateway.InternalBaseUri, _f.Gateway.WorkspaceId, _f.Gateway.InternalSecret).AssertOk();
            return ps;
        }

        private const string Script = @"
            $src = $args[0]; $dst = $args[1]; $dir = '/tmp/eb-xcopy-' + [guid]::NewGuid().ToString('N')
            Invoke-RemoteCommand ""mkdir -p '$dir' && head -c 1048577 /dev/urandom > '$dir/a b#%é.bin' && sha256sum '$dir/a b#%é.bin' | cut -c1-64"" -ExecutorId $src
            Invoke-RemoteCommand ""mkdir -p '$dir'"" -ExecutorId $dst
            Copy-RemoteItem -FromExecutor $src -Path ""$dir/a b#%é.bin"" -ToExecutor $dst -Destination ""$dir/copy.bin"" -Transport $args[2] -Verbose
            Invoke-RemoteCommand ""sha256sum '$dir/copy.bin' | cut -c1-64; ls -a '$dir' | grep -cE 'partial|^[.]eb-' || true"" -ExecutorId $dst
            # Without -Force an existing destination is refused and left alone.
            Copy-RemoteItem -FromExecutor $src -Path ""$dir/a b#%é.bin"" -ToExecutor $dst -Destination ""$dir/copy.bin"" -Transport $args[2] -ErrorAction SilentlyContinue -ErrorVariable e
            $e[0].FullyQualifiedErrorId";

        [Theory]
        [InlineData("Relay", GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId)]
        [InlineData("Pump", GatewayWithExecutors.CurrentId, GatewayWithExecutors.LegacyId)]
        [InlineData("Auto", GatewayWithExecutors.CurrentId, GatewayWithExecutors.LegacyId)]
        public void CopiesBetweenExecutorsVerified(string transport, string from, string to)
        {
            using var ps = Connect(relay: transport != "Pump");
            var r = ps.Run(Script, from, to, transport);
            Assert.Empty(r.Errors.Where(e => !e.FullyQualifiedErrorId.StartsWith("DestinationExists")));
            var lines = r.Output.Select(o => o.ToString()).ToList();
            Assert.Equal(lines[0], lines[1]);           // SHA-256 on the destination equals the source
            Assert.Equal("0", lines[2]);                // no .partial left
            Assert.StartsWith("DestinationExists,", lines[3]);
            if (transport == "Auto") Assert.Contains(r.Verbose, v => v.Contains("Relay", StringComparison.OrdinalIgnoreCase));
            Assert.DoesNotContain(r.Verbose, v => _f.Gateway.MintedTickets.Any(t => v.Contains(t)));
        }

        [Fact]
        public void AutoWithoutRelaySettingsPumpsAndSaysWhy()
        {
            using var ps = Connect(relay: false);
            var r = ps.Run(Script, GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId, "Auto");
            var lines = r.Output.Select(o => o.ToString()).ToList();
            Assert.Equal(lines[0], lines[1]);
            Assert.Contains(r.Verbose, v => v.Contains("Pump", StringComparison.OrdinalIgnoreCase));
        }
    }
}
