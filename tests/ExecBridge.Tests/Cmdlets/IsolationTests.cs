using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Cmdlets
{
    /// <summary>
    /// The module's own dependencies load into a private AssemblyLoadContext on PowerShell 7. This runs in a clean
    /// host process (tools/ExecBridge.Host): the test process itself references the client, which would mask it.
    /// </summary>
    public sealed class IsolationTests
    {
        [Fact]
        public void ClientAndLoggingLoadOutsideTheDefaultContextAndJsonComesFromTheHost()
        {
            var script = Path.Combine(Path.GetTempPath(), "eb-isolation-" + Guid.NewGuid().ToString("N") + ".ps1");
            File.WriteAllText(script, @"
                Import-Module $args[0]
                $null = Connect-ExecBridge -Local -ExecServerPath $args[1]
                Invoke-RemoteCommand 'echo remote-ok'
                # Parameter and output types are resolved here: none may live in the private load context.
                $null = Get-Command -Module ExecBridge | ForEach-Object { $_.Parameters.Values.ParameterType; $_.OutputType.Type }
                $null = Get-Help Copy-RemoteItem -Full
                $f = [IO.Path]::GetTempFileName(); [IO.File]::WriteAllText($f, 'payload')
                Copy-RemoteItem -ToExecutor local -Path $f -Destination ($f + '.copy') -PassThru | ForEach-Object { $_.GetType().FullName }
                Get-ExecBridgeConnection | ForEach-Object { $_.State.GetType().FullName }
                foreach ($a in [AppDomain]::CurrentDomain.GetAssemblies()) {
                    $n = $a.GetName().Name
                    if ($n -in 'ExecBridge', 'ExecBridge.Client', 'Microsoft.Extensions.Logging.Abstractions', 'System.Text.Json') {
                        $default = [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($a) -eq [System.Runtime.Loader.AssemblyLoadContext]::Default
                        '{0}|{1}|{2}' -f $n, $default, $a.Location.StartsWith((Get-Module ExecBridge).ModuleBase)
                    }
                }
                Disconnect-ExecBridge -All");
            try
            {
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
                psi.ArgumentList.Add(HostDll());
                psi.ArgumentList.Add(script);
                psi.ArgumentList.Add(Peers.ModuleManifest);
                psi.ArgumentList.Add(Peers.CodexPath(Peers.Current));
                using var p = Process.Start(psi)!;
                var stderr = p.StandardError.ReadToEndAsync();
                var lines = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
                Assert.True(p.WaitForExit(60_000), "the host did not finish");
                Assert.True(p.ExitCode == 0, "host failed: " + stderr.Result);
                Assert.Contains("remote-ok", lines);
                Assert.Contains("ExecBridge.RemoteCopyResult", lines);
                Assert.Contains("ExecBridge.ConnectionState", lines);
                Assert.Contains("ExecBridge|True|True", lines);
                Assert.Contains("ExecBridge.Client|False|True", lines);
                Assert.Contains("Microsoft.Extensions.Logging.Abstractions|False|True", lines);
                // System.Text.Json is the host's (PowerShell ships one at least as new): no second copy of ours.
                Assert.Contains("System.Text.Json|True|False", lines);
            }
            finally
            {
                File.Delete(script);
            }
        }

        private static string HostDll()
        {
            var bin = Path.Combine(Peers.RepoRoot, "tools", "ExecBridge.Host", "bin");
            var found = Directory.Exists(bin)
                ? Directory.GetFiles(bin, "ExecBridge.Host.dll", SearchOption.AllDirectories).OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault()
                : null;
            return found ?? throw new InvalidOperationException($"tools/ExecBridge.Host is not built (looked in {bin}); build ExecBridge.sln first.");
        }
    }
}
