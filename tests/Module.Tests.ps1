#Requires -Modules Pester
# The module as pwsh loads it: the manifest, one version, its own load context, and Remove-Module cleaning up.
# Each case runs in a new pwsh, so nothing another test file loaded can mask it.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $manifest = Get-ModuleManifestPath
    $codex = Get-CodexPath (Get-CodexVersion -Dialect Current)
}

Describe 'The manifest' {
    It 'exports its cmdlets explicitly, and nothing else' {
        $m = Test-ModuleManifest -Path $manifest
        $m.ExportedCmdlets.Keys | Should -Contain 'Connect-ExecBridge'
        $m.ExportedFunctions.Count | Should -Be 0
        $m.ExportedAliases.Count | Should -Be 0
        (Import-PowerShellDataFile $manifest).CmdletsToExport | Should -Not -Contain '*'
    }

    It 'exports exactly the cmdlets the assembly defines' {
        $r = Invoke-ChildPwsh -Script 'Import-Module $env:EXECBRIDGE_MODULE; (Get-Command -Module ExecBridge -CommandType Cmdlet).Name | Sort-Object'
        $r.ExitCode | Should -Be 0
        $r.Output | Should -Be ((Import-PowerShellDataFile $manifest).CmdletsToExport | Sort-Object)
    }

    It 'declares an OutputType on every cmdlet, and a view for every ExecBridge type it outputs' {
        $r = Invoke-ChildPwsh -Script @'
Import-Module $env:EXECBRIDGE_MODULE
$formats = (Get-FormatData -TypeName 'ExecBridge.*').TypeNames
foreach ($c in Get-Command -Module ExecBridge -CommandType Cmdlet) {
    if (-not $c.OutputType) { "$($c.Name): no OutputType" }
    foreach ($t in $c.OutputType.Type | Where-Object { $_ -and $_.Namespace -eq 'ExecBridge' }) {
        if ($t.FullName -notin $formats) { "$($c.Name): no view for $($t.FullName)" }
    }
}
'@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -BeNullOrEmpty
    }

    It 'has one version: the assemblies carry the manifest''s ModuleVersion' {
        $version = (Import-PowerShellDataFile $manifest).ModuleVersion
        $folder = Split-Path $manifest
        foreach ($dll in "$folder/ExecBridge.dll", "$folder/dependencies/ExecBridge.Client.dll") {
            [Reflection.AssemblyName]::GetAssemblyName($dll).Version.ToString(3) | Should -Be $version
        }
    }
}

Describe 'Import-Module ExecBridge' {
    It 'loads the client and logging into the module''s own load context; System.Text.Json is pwsh''s own' {
        $r = Invoke-ChildPwsh -ArgumentList $codex -Script @'
param($codex)
Import-Module $env:EXECBRIDGE_MODULE
$null = Connect-ExecBridge -Local -ExecServerPath $codex
Invoke-RemoteCommand 'echo remote-ok'
$null = Get-Command -Module ExecBridge | ForEach-Object { $_.Parameters.Values.ParameterType; $_.OutputType.Type }
foreach ($a in [AppDomain]::CurrentDomain.GetAssemblies()) {
    $n = $a.GetName().Name
    if ($n -in 'ExecBridge', 'ExecBridge.Client', 'Microsoft.Extensions.Logging.Abstractions', 'System.Text.Json') {
        $default = [Runtime.Loader.AssemblyLoadContext]::GetLoadContext($a) -eq [Runtime.Loader.AssemblyLoadContext]::Default
        '{0}|{1}|{2}' -f $n, $default, $a.Location.StartsWith((Get-Module ExecBridge).ModuleBase)
    }
}
Disconnect-ExecBridge -All
'@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -Contain 'remote-ok'
        $r.Output | Should -Contain 'ExecBridge|True|True'
        $r.Output | Should -Contain 'ExecBridge.Client|False|True'
        $r.Output | Should -Contain 'Microsoft.Extensions.Logging.Abstractions|False|True'
        $r.Output | Should -Contain 'System.Text.Json|True|False'
    }

    It 'uses only the module''s own types in parameters and output' {
        $r = Invoke-ChildPwsh -Script @'
Import-Module $env:EXECBRIDGE_MODULE
Get-Command -Module ExecBridge | ForEach-Object { $_.Parameters.Values.ParameterType; $_.OutputType.Type } |
    Where-Object { $_ -and $_.Assembly.GetName().Name -notin 'ExecBridge', 'System.Private.CoreLib', 'System.Management.Automation', 'System.Runtime', 'System.Private.Uri', 'netstandard' } |
    ForEach-Object FullName | Sort-Object -Unique
'@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -BeNullOrEmpty
    }
}

Describe 'Remove-Module ExecBridge' {
    It 'stops the -Local exec-servers it started and closes the connections' {
        $r = Invoke-ChildPwsh -ArgumentList $codex -Script @'
param($codex)
Import-Module $env:EXECBRIDGE_MODULE
$c = Connect-ExecBridge -Local -ExecServerPath $codex -ExecutorId one
$null = Connect-ExecBridge -Local -ExecServerPath $codex -ExecutorId two
$ports = (Get-ExecBridgeConnection).Uri | ForEach-Object { ([uri]$_).Port }
Remove-Module ExecBridge
foreach ($port in $ports) {
    $probe = [Net.Sockets.TcpClient]::new()
    try { $probe.Connect('127.0.0.1', $port); "open:$port" } catch { "closed:$port" } finally { $probe.Dispose() }
}
'@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output.Count | Should -Be 2
        $r.Output | Should -BeLike 'closed:*'
    }
}
