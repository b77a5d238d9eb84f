using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using ExecBridge.Tests.Gateway;
using ExecBridge.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ExecBridge.Tests.Faults
{
    /// <summary>
    /// A pwsh SIGKILLed in the middle of a copy to an executor runs no clean-up of its own: the partial beside the
    /// target must still disappear (the executor's janitor, idle limit 3 s here) and the target must never appear.
    /// A real pwsh, the loopback gateway and real exec-servers of both dialects (the executors share this machine's disk).
    /// </summary>
    public sealed class KilledClientPartialTests : IClassFixture<GatewayWithExecutors>, IDisposable
    {
        private const int IdleSec = 3;
        private readonly GatewayWithExecutors _f;
        private readonly ITestOutputHelper _out;
        private readonly string _root = "/tmp/eb-janitor-" + Guid.NewGuid().ToString("N").Substring(0, 10);

        public KilledClientPartialTests(GatewayWithExecutors f, ITestOutputHelper output)
        {
            _f = f;
            _out = output;
            Directory.CreateDirectory(_root + "/dst");
        }

        public void Dispose()
        {
            _f.Gateway.RelayChunkDelay = TimeSpan.Zero;
            try { Directory.Delete(_root, true); } catch { }
        }

        private RealPwsh Connected(params string[] executors)
        {
            // The token and the relay secret reach pwsh by environment, not on any command line.
            var pwsh = new RealPwsh(new Dictionary<string, string>
            {
                ["EXECBRIDGE_PARTIAL_IDLE_SEC"] = IdleSec.ToString(),
                ["EB_TEST_TOKEN"] = _f.Gateway.WorkspaceToken,
                ["EB_TEST_RELAY_SECRET"] = _f.Gateway.InternalSecret,
            });
            var connects = string.Join("; ", executors.Select(x => $"Connect-ExecBridge -GatewayUri '{_f.Gateway.BridgeBaseUri}' -ExecutorId {x} -Token $tok | Out-Null"));
            pwsh.Send($"Import-Module '{Peers.ModuleManifest}'; $tok = ConvertTo-SecureString $env:EB_TEST_TOKEN -AsPlainText -Force; {connects}; " +
                      $"Set-ExecBridgeRelay -InternalUri '{_f.Gateway.InternalBaseUri}' -WorkspaceId {_f.Gateway.WorkspaceId} -SecretEnvironmentVariable EB_TEST_RELAY_SECRET; 'connected'");
            pwsh.WaitFor("connected", TimeSpan.FromSeconds(60));
            return pwsh;
        }

        private string[] Partials() => Directory.GetFiles(_root + "/dst", ".eb-*");

        /// <summary>Starts the copy, SIGKILLs pwsh once the partial exists, then waits for the partial to go.</summary>
        private void KillMidCopyAndExpectNoPartial(RealPwsh pwsh, string copyCommand)
        {
            string target = _root + "/dst/target.bin";
            pwsh.Send(copyCommand + "; 'copied'");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (Partials().Length == 0 && DateTime.UtcNow < deadline && !File.Exists(target)) Thread.Sleep(20);
            Assert.False(File.Exists(target), "the copy finished before it could be interrupted");
            Assert.NotEmpty(Partials());
            Thread.Sleep(300); // some bytes in flight
            pwsh.Signal("KILL", group: false);
            Assert.True(pwsh.WaitForExit(TimeSpan.FromSeconds(5)));
            var killed = DateTime.UtcNow;

            // codex keeps a dead session's curl for about 10 s, and the janitor waits while it holds the partial open.
            var gone = killed.AddSeconds(IdleSec + 25);
            while (Partials().Length > 0 && DateTime.UtcNow < gone) Thread.Sleep(250);
            _out.WriteLine($"partial gone after {(DateTime.UtcNow - killed).TotalSeconds:0.0} s: {Partials().Length == 0}");
            Assert.Empty(Partials());
            Assert.False(File.Exists(target), "a killed copy created the target");
        }

        [Theory]
        [InlineData(GatewayWithExecutors.LegacyId)]
        [InlineData(GatewayWithExecutors.CurrentId)]
        public void KilledPumpCopyToAnExecutorLeavesNoPartial(string executor)
        {
            string src = _root + "/src.bin";
            using (var fs = File.Create(src)) fs.SetLength(512L << 20);
            using var pwsh = Connected(executor);
            KillMidCopyAndExpectNoPartial(pwsh, $"Copy-RemoteItem -ToExecutor {executor} -Path '{src}' -Destination '{_root}/dst/target.bin'");
        }

        [Theory]
        [InlineData(GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId)]
        [InlineData(GatewayWithExecutors.CurrentId, GatewayWithExecutors.LegacyId)]
        public void KilledRelayCopyLeavesNoPartial(string from, string to)
        {
            string src = _root + "/src.bin";
            using (var fs = File.Create(src)) fs.SetLength(64L << 20);
            _f.Gateway.RelayChunkDelay = TimeSpan.FromMilliseconds(20);
            using var pwsh = Connected(from, to);
            KillMidCopyAndExpectNoPartial(pwsh,
                $"Copy-RemoteItem -FromExecutor {from} -ToExecutor {to} -Path '{src}' -Destination '{_root}/dst/target.bin' -Transport Relay");
        }
    }
}
