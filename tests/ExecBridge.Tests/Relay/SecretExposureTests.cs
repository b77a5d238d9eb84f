using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ExecBridge.Tests.Gateway;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Relay
{
    /// <summary>
    /// Every kind of object the module outputs (and its errors), shown every way PowerShell can show or save it,
    /// while a gateway token, a relay secret and relay tickets are in use: none of them may appear. A real pwsh
    /// (a transcript needs its console host) against the gateway fixture and real exec-servers.
    /// </summary>
    public sealed class SecretExposureTests : IClassFixture<GatewayWithExecutors>
    {
        private readonly GatewayWithExecutors _f;

        public SecretExposureTests(GatewayWithExecutors f) => _f = f;

        private const string Script = @"
$ErrorActionPreference = 'Stop'
$VerbosePreference = 'Continue'; $DebugPreference = 'Continue'; $InformationPreference = 'Continue'
Import-Module $env:EB_MODULE
$null = Start-Transcript -Path $env:EB_TRANSCRIPT
$token = [System.Net.NetworkCredential]::new('', $env:EB_TOKEN).SecurePassword
$env:EB_TOKEN = $null
$all = [System.Collections.Generic.List[object]]::new()
$all.Add((Set-ExecBridgeRelay -InternalUri $env:EB_INTERNAL -WorkspaceId $env:EB_WORKSPACE -SecretEnvironmentVariable EB_RELAY_SECRET -Verbose -Debug))
$all.Add((Connect-ExecBridge -GatewayUri $env:EB_GATEWAY -ExecutorId exe-legacy -Token $token -Verbose -Debug))
$all.Add((Connect-ExecBridge -GatewayUri $env:EB_GATEWAY -ExecutorId exe-current -Token $token -Verbose -Debug))
$all.Add((New-RelayTicket exe-legacy exe-current -Verbose -Debug))
$p = Start-RemoteProcess -ExecutorId exe-current -Command 'echo hello' -Verbose -Debug
$all.Add($p)
Receive-RemoteOutput -Process $p -Wait -Verbose -Debug | ForEach-Object { $all.Add($_) }
$all.Add((Invoke-RemoteCommand -ExecutorId exe-legacy 'echo hi' -Verbose -Debug))
$all.Add((Set-RemoteFile -ExecutorId exe-legacy -Path ($env:EB_DIR + '/src.txt') -Value 'payload' -PassThru -Verbose -Debug))
$all.Add((Get-RemoteItem -ExecutorId exe-legacy -Path ($env:EB_DIR + '/src.txt') -Verbose -Debug))
Get-RemoteChildItem -ExecutorId exe-legacy -Path $env:EB_DIR | ForEach-Object { $all.Add($_) }
$all.Add((Copy-RemoteItem -FromExecutor exe-legacy -ToExecutor exe-current -Path ($env:EB_DIR + '/src.txt') -Destination ($env:EB_DIR + '/relayed.txt') -Transport Relay -PassThru -Verbose -Debug))
$all.Add((Get-RemoteFile -ExecutorId exe-current -Path ($env:EB_DIR + '/relayed.txt') -Raw))
Get-ExecBridgeConnection | ForEach-Object { $all.Add($_) }
Get-RemoteProcess | ForEach-Object { $all.Add($_) }
$ErrorActionPreference = 'Continue'
Connect-ExecBridge -GatewayUri $env:EB_GATEWAY -ExecutorId exe-dead -Token $token -TimeoutSec 5 -ErrorVariable +errs -ErrorAction SilentlyContinue
Connect-ExecBridge -GatewayUri $env:EB_GATEWAY -ExecutorId exe-foreign -Token $token -TimeoutSec 5 -ErrorVariable +errs -ErrorAction SilentlyContinue
Connect-ExecBridge -Uri ('ws://user:' + $env:EB_URI_PASSWORD + '@127.0.0.1:1/?token=' + $env:EB_URI_PASSWORD) -ErrorVariable +errs -ErrorAction SilentlyContinue
Get-RemoteFile -ExecutorId exe-current -Path /no/such/file -ErrorVariable +errs -ErrorAction SilentlyContinue
foreach ($e in $errs) { $all.Add($e) }
'COUNT ' + $all.Count
foreach ($o in $all) {
    if ($null -eq $o) { continue }
    'TYPE ' + $o.GetType().FullName
    $o | Format-List * -Force | Out-String -Width 4096
    $o | Format-Table * -Force | Out-String -Width 4096
    $o | Out-String -Width 4096
    $o | ConvertTo-Json -Depth 5 -WarningAction SilentlyContinue
    '' + $o
}
$all | Export-Clixml -Path $env:EB_CLIXML -Depth 5
Disconnect-ExecBridge -All -Verbose -Debug
Stop-Transcript
'DONE'
";

        [Fact]
        public void No_output_type_shown_listed_serialized_or_transcribed_contains_a_secret()
        {
            var G = _f.Gateway;
            var dir = Path.Combine(Path.GetTempPath(), "eb-leak-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(dir);
            var script = Path.Combine(dir, "leak.ps1");
            File.WriteAllText(script, Script);
            var uriPassword = "uri-password-" + Guid.NewGuid().ToString("N");
            var env = new Dictionary<string, string>
            {
                ["EB_MODULE"] = Peers.ModuleManifest, ["EB_TRANSCRIPT"] = Path.Combine(dir, "transcript.txt"),
                ["EB_CLIXML"] = Path.Combine(dir, "all.clixml"), ["EB_DIR"] = dir,
                ["EB_TOKEN"] = G.WorkspaceToken, ["EB_RELAY_SECRET"] = G.InternalSecret, ["EB_URI_PASSWORD"] = uriPassword,
                ["EB_INTERNAL"] = G.InternalBaseUri.ToString(), ["EB_WORKSPACE"] = G.WorkspaceId, ["EB_GATEWAY"] = G.BridgeBaseUri.ToString(),
            };
            int mintedBefore = G.TicketsMinted;
            try
            {
                var (exit, stdout, stderr) = RealPwsh.RunFile(script, env, TimeSpan.FromMinutes(3));
                Assert.True(stdout.Contains("DONE"), $"the script failed ({exit}): {stderr}\n{stdout}");
                Assert.True(G.TicketsMinted >= mintedBefore + 2, "New-RelayTicket and the relay copy should each have minted a ticket");
                Assert.Contains("TYPE ExecBridge.RelayTicket", stdout);
                Assert.Contains("TYPE ExecBridge.RemoteCopyResult", stdout);
                Assert.Contains("TYPE System.Management.Automation.ErrorRecord", stdout);
                var everything = stdout + stderr + File.ReadAllText(env["EB_TRANSCRIPT"]) + File.ReadAllText(env["EB_CLIXML"]);
                Assert.Contains("VERBOSE:", everything);
                var secrets = new List<string> { G.WorkspaceToken, G.InternalSecret, GatewayWithExecutors.ExecServerToken, uriPassword };
                secrets.AddRange(G.MintedTickets);
                // On failure the whole text is kept (secrets replaced) to see where it leaked.
                var shown = secrets.Aggregate(everything, (t, s) => t.Replace(s, "<SECRET:" + s.Substring(0, 4) + ">"));
                if (shown != everything) File.WriteAllText(Path.Combine(Path.GetTempPath(), "eb-leak-last.txt"), shown);
                foreach (var s in secrets)
                {
                    int at = everything.IndexOf(s, StringComparison.Ordinal);
                    Assert.True(at < 0, $"a secret appeared: …{(at < 0 ? "" : everything.Substring(Math.Max(0, at - 200), Math.Min(260, everything.Length - Math.Max(0, at - 200))).Replace(s, "<SECRET>"))}…");
                }
            }
            finally
            {
                try { Directory.Delete(dir, true); } catch { }
            }
        }
    }
}
