#Requires -Modules Pester
# The shipped examples run as a user would run them, each in a new pwsh against a local executor:
# examples/quickstart.ps1, and the ops check suite examples/ops.Tests.ps1 under Pester.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $examples = Join-Path (Split-Path $PSScriptRoot -Parent) 'examples'
    $codex = Get-CodexPath (Get-CodexVersion -Dialect Current)
    $pester = (Get-Module Pester).Path

    # Runs examples/ops.Tests.ps1 with the given data in a new pwsh; returns Pester's counts and failed test names.
    function Invoke-OpsSuite([hashtable] $Data) {
        $script = @'
param($pester, $codex, $ops, $dataJson)
Import-Module $pester
Import-Module $env:EXECBRIDGE_MODULE
$conn = Connect-ExecBridge -Local -ExecServerPath $codex -ExecutorId ops-local
$data = @{}
($dataJson | ConvertFrom-Json).PSObject.Properties | ForEach-Object { $data[$_.Name] = $_.Value }
# The exec-server's own health endpoint (codex 0.142+) stands in for the service.
if ($data.ServiceUrl -eq 'local') { $data.ServiceUrl = ($conn.Uri -replace '^ws', 'http').TrimEnd('/') + '/readyz' }
$r = Invoke-Pester -Container (New-PesterContainer -Path $ops -Data $data) -PassThru -Output None
[pscustomobject]@{ Passed = $r.PassedCount; Failed = $r.FailedCount; Skipped = $r.SkippedCount; FailedNames = @($r.Failed.ExpandedName) } | ConvertTo-Json -Compress
'@
        $r = Invoke-ChildPwsh -Script $script -ArgumentList $pester, $codex, (Join-Path $examples 'ops.Tests.ps1'), ($Data | ConvertTo-Json -Compress)
        if ($r.ExitCode -ne 0) { throw "The ops suite did not run: $($r.Error)" }
        $r.Output[-1] | ConvertFrom-Json
    }
}

Describe 'examples/quickstart.ps1' {
    It 'runs end to end in a new pwsh and says what each step did' {
        $r = Invoke-ChildPwsh -Script "`$env:EXECBRIDGE_CODEX = '$codex'; & '$examples/quickstart.ps1'"
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $text = $r.Output -join "`n"
        $text | Should -Match '\[1\] Connected to executor'
        $text | Should -Match 'hello from Linux'
        $text | Should -Match 'exit code 3'
        $text | Should -Match 'nice to meet you, ExecBridge'
        $text | Should -Match 'hello.txt says: first line / second line'
        $text | Should -Match 'Exists: True'
        $text | Should -Match '\[7\] Disconnected; 0 connections left'
    }
}

Describe 'examples/ops.Tests.ps1' {
    It 'passes every check against a healthy local executor' {
        $r = Invoke-OpsSuite @{ MinFreeGiB = 0.01; ServiceUrl = 'local' }
        $r.FailedNames | Should -BeNullOrEmpty
        $r.Failed | Should -Be 0
        $r.Passed | Should -Be 8
        $r.Skipped | Should -Be 0
    }

    It 'fails the disk check when the executor has less free space than required' {
        $r = Invoke-OpsSuite @{ MinFreeGiB = 1e9 }
        $r.Failed | Should -Be 1
        $r.FailedNames | Should -BeLike '*GiB free*'
        $r.Skipped | Should -Be 1   # no ServiceUrl
    }

    It 'fails the tool check for a tool the executor lacks' {
        $r = Invoke-OpsSuite @{ MinFreeGiB = 0.01; RequiredTool = @('/bin/sh', '/usr/bin/no-such-tool') }
        $r.FailedNames | Should -Be 'has the tools builds need: /usr/bin/no-such-tool'
    }
}
