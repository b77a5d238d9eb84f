#Requires -Modules Pester
# The help as a user reads it: Get-Help on the built module (written from docs/en-US by tools/Build-Help.ps1).
# Every cmdlet has a synopsis, >= 2 examples and a description for every parameter; every example runs, against
# a local exec-server (codex 0.169.0) or the gateway fixture, and does what its text says (Support/HelpExamples.ps1).

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
    $script:Commands = @(Get-Command -Module ExecBridge | Sort-Object Name | ForEach-Object { @{ Name = $_.Name } })
    # One entry per example: the code and text exactly as Get-Help -Examples shows them.
    $script:Examples = @(foreach ($c in $Commands) {
            foreach ($e in @((Get-Help $c.Name -Examples).examples.example)) {
                if (-not $e) { continue }
                $title = "$($e.title)" -replace '^-+\s*', '' -replace '\s*-+$', ''
                $code = "$($e.code)"
                # A rare example that cannot run here says so in its own code: '# Not run by the help tests: <why>'.
                $skip = if ($code -match '#\s*Not run by the help tests:\s*(.+)') { $Matches[1].Trim() } else { '' }
                @{ Command = $c.Name; Title = $title; Code = $code; Remarks = (@($e.remarks.Text) -join ' ').Trim(); SkipReason = $skip }
            }
        })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
    $RepoRoot = Split-Path $PSScriptRoot -Parent
}

Describe 'Help of <Name>' -ForEach $Commands {
    BeforeAll {
        $help = Get-Help $Name -Full
        $command = Get-Command $Name
    }

    It 'has a synopsis of its own' {
        # Without a MAML entry Get-Help makes the synopsis from the syntax.
        "$($help.Synopsis)".Trim() | Should -Not -BeNullOrEmpty
        "$($help.Synopsis)" | Should -Not -Match ('^\s*' + [regex]::Escape($Name) + '\s+[-\[]')
        @($help.description).Count | Should -BeGreaterThan 0
    }

    It 'has at least 2 examples, each with code and an explanation' {
        $examples = @($help.examples.example)
        $examples.Count | Should -BeGreaterOrEqual 2
        foreach ($e in $examples) {
            "$($e.code)".Trim() | Should -Not -BeNullOrEmpty -Because "$Name example '$($e.title)' needs code"
            (@($e.remarks.Text) -join '').Trim() | Should -Not -BeNullOrEmpty -Because "$Name example '$($e.title)' needs an explanation"
        }
    }

    It 'describes every parameter' {
        $names = $command.Parameters.Keys | Where-Object { $_ -notin [System.Management.Automation.Cmdlet]::CommonParameters }
        $undescribed = foreach ($p in $names) {
            $entry = Get-Help $Name -Parameter $p -ErrorAction SilentlyContinue
            if (-not $entry -or -not (@($entry.description.Text) -join '').Trim()) { "-$p" }
        }
        $undescribed | Should -BeNullOrEmpty -Because "every parameter of $Name needs a description in docs/en-US/$Name.md"
    }

    It 'shows per parameter set what is required, positional and bound from the pipeline, as Get-Command does' {
        # Get-Help's syntax is what a user reads first; it must not call a parameter optional in a set that needs it.
        $syntax = @($help.syntax.syntaxItem)
        $syntax.Count | Should -Be @($command.ParameterSets).Count
        $wrong = foreach ($set in $command.ParameterSets) {
            $names = @($set.Parameters.Name | Where-Object { $_ -notin [System.Management.Automation.Cmdlet]::CommonParameters })
            $key = ($names | Sort-Object) -join ','
            $item = $syntax | Where-Object { (@($_.parameter | ForEach-Object name) | Sort-Object) -join ',' -eq $key }
            if (-not $item) { "set $($set.Name): no syntax entry lists its parameters"; continue }
            foreach ($p in $set.Parameters | Where-Object Name -in $names) {
                $shown = @($item)[0].parameter | Where-Object name -eq $p.Name
                if ("$($shown.required)" -ne "$($p.IsMandatory)".ToLowerInvariant()) { "set $($set.Name) -$($p.Name): required $($shown.required), cmdlet $($p.IsMandatory)" }
                $position = if ($p.Position -ge 0) { "$($p.Position)" } else { 'named' }
                if ("$($shown.position)" -ne $position) { "set $($set.Name) -$($p.Name): position $($shown.position), cmdlet $position" }
            }
        }
        $wrong | Should -BeNullOrEmpty
    }

    It 'says which parameters take wildcards, as their [SupportsWildcards] does' {
        $wrong = foreach ($p in $command.Parameters.Values | Where-Object Name -notin ([System.Management.Automation.Cmdlet]::CommonParameters)) {
            $takes = [bool]($p.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
            $shown = (Get-Help $Name -Parameter $p.Name).globbing
            if ("$shown" -ne "$takes".ToLowerInvariant()) { "-$($p.Name): help says $shown, cmdlet $takes" }
        }
        $wrong | Should -BeNullOrEmpty
    }
}

Describe 'Examples' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'Support' 'HelpExamples.ps1')
        $savedCodex = $env:EXECBRIDGE_CODEX
        $env:EXECBRIDGE_CODEX = Get-CodexPath (Get-CodexVersion -Dialect Current)
        # Two executors behind the gateway fixture (exe-42 is another name for the first) and one direct server
        # with a capability token: what the examples' ids and variables ($uri, $token, $gatewayUri...) stand for.
        $serverA = Start-TestExecServer -Version (Get-CodexVersion -Dialect Current)
        $serverB = Start-TestExecServer -Version (Get-CodexVersion -Dialect Current)
        $tokenServer = Start-TestExecServer -Version (Get-CodexVersion -Dialect Current) -WithToken
        $gateway = Start-TestGateway -Executor @{ build01 = $serverA; web01 = $serverB; 'exe-42' = $serverA }
        $Fixture = @{ Gateway = $gateway; TokenServer = $tokenServer; GatewayIds = 'build01', 'web01', 'exe-42' }
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $gateway | Stop-TestGateway
        $serverA, $serverB, $tokenServer | Stop-TestExecServer
        $env:EXECBRIDGE_CODEX = $savedCodex
        Remove-Item Env:GATEWAY_INTERNAL_SECRET -ErrorAction Ignore
    }

    It '<Command>: <Title>' -ForEach $Examples {
        if ($SkipReason) { Set-ItResult -Skipped -Because $SkipReason; return }
        $check = $ExampleChecks["$Command/$($Title -replace '^Example \d+:\s*', '')"]
        if (-not $check) {
            throw "No check for this example in tests/Support/HelpExamples.ps1: add '$Command/$($Title -replace '^Example \d+:\s*', '')' with what its text promises."
        }
        $world = New-ExampleWorld -Code $Code -Fixture $Fixture
        foreach ($v in $world.Variables.GetEnumerator()) { Set-Variable -Name $v.Key -Value $v.Value }
        Push-Location $world.LocalDir
        try {
            # Dot-sourced: the checks see the example's own variables ($p, $t...) as well as its output.
            $output = @(. ([scriptblock]::Create($Code)) 2>&1)
            $errors = @($output | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
            $objects = @($output | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] })
            $errors | ForEach-Object { "$($_.FullyQualifiedErrorId): $_" } | Should -BeNullOrEmpty -Because 'an example must run without errors'
            . $check
        }
        finally {
            Pop-Location
            Clear-ExampleWorld $world
        }
    }
}

Describe 'tools/Build-Help.ps1 refuses help that does not match the module' {
    BeforeAll {
        $builder = Join-Path $RepoRoot 'tools' 'Build-Help.ps1'
        $source = Join-Path $RepoRoot 'docs' 'en-US'
        function Invoke-HelpBuilder([scriptblock] $Break) {
            # A copy of docs/en-US, broken by $Break, built into a scratch folder.
            $docs = New-TestFolder
            Copy-Item (Join-Path $source '*') $docs
            & $Break $docs
            $out = New-TestFolder
            # Its own exit code, or 2 when it crashed instead of reporting (a crash must not pass for a refusal).
            $script = "& '$builder' -ModulePath '$(Get-ModuleManifestPath)' -DocsPath '$docs' -OutputPath '$out'; `$ok = `$?; " +
                'exit $(if ($LASTEXITCODE) { $LASTEXITCODE } elseif ($ok) { 0 } else { 2 })'
            try { Invoke-ChildPwsh -Script $script }
            finally { Remove-Item $docs, $out -Recurse -Force }
        }
        function Edit-Page([string] $Docs, [string] $Name, [scriptblock] $Edit) {
            $path = Join-Path $Docs "$Name.md"
            Set-Content -LiteralPath $path -Value (& $Edit (Get-Content -LiteralPath $path -Raw)) -NoNewline
        }
    }

    It 'builds the help from the pages as they are' {
        $r = Invoke-HelpBuilder { }
        $r.ExitCode | Should -Be 0 -Because $r.Error
    }

    It 'names a cmdlet that has no page' {
        $r = Invoke-HelpBuilder { param($d) Remove-Item (Join-Path $d 'Get-RemoteItem.md') }
        $r.ExitCode | Should -Be 1
        $r.Error | Should -Match 'Get-RemoteItem: no help page; write docs/en-US/Get-RemoteItem.md'
    }

    It 'names a parameter without a description' {
        $r = Invoke-HelpBuilder { param($d) Edit-Page $d 'Connect-ExecBridge' { param($t) $t -replace '(?s)(### -TimeoutSec\r?\n).*?(```yaml)', '$1$2' } }
        $r.ExitCode | Should -Be 1
        $r.Error | Should -Match 'Connect-ExecBridge -TimeoutSec: no description in docs/en-US/Connect-ExecBridge.md'
    }

    It 'names a documented parameter the cmdlet does not have' {
        $r = Invoke-HelpBuilder { param($d) Edit-Page $d 'Connect-ExecBridge' { param($t) $t -replace '### -TimeoutSec', "### -Retired`nGone.`n`n### -TimeoutSec" } }
        $r.ExitCode | Should -Be 1
        $r.Error | Should -Match 'Connect-ExecBridge -Retired: docs/en-US/Connect-ExecBridge.md documents -Retired, which the cmdlet does not have'
    }

    It 'names a yaml block whose wildcard or pipeline metadata disagrees with the cmdlet' {
        $r = Invoke-HelpBuilder { param($d) Edit-Page $d 'Get-RemoteItem' { param($t) $t -replace '(?s)(### -Path\r?\n.*?Accept wildcard characters: )True', '${1}False' } }
        $r.ExitCode | Should -Be 1
        $r.Error | Should -Match 'Get-RemoteItem -Path: the yaml block in docs/en-US/Get-RemoteItem.md says Accept wildcard characters: False; the cmdlet says True'
        $r = Invoke-HelpBuilder { param($d) Edit-Page $d 'Enter-RemoteShell' { param($t) $t -replace '(?s)(### -ExecutorId\r?\n.*?Accept pipeline input: )True \(ByPropertyName\)', '${1}False' } }
        $r.ExitCode | Should -Be 1
        $r.Error | Should -Match 'Enter-RemoteShell -ExecutorId: .* says Accept pipeline input: False; the cmdlet says True \(ByPropertyName\)'
    }

    It 'names a cmdlet with fewer than 2 examples' {
        $r = Invoke-HelpBuilder { param($d) Edit-Page $d 'Disconnect-ExecBridge' { param($t) $t -replace '(?s)### Example 2:.*?(## PARAMETERS)', '$1' } }
        $r.ExitCode | Should -Be 1
        $r.Error | Should -Match 'Disconnect-ExecBridge: 1 example in docs/en-US/Disconnect-ExecBridge.md; at least 2 are required'
    }
}
