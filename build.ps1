#Requires -Version 7.2
<#
.SYNOPSIS
    Builds, tests, demonstrates and packages the ExecBridge module.

.DESCRIPTION
    The one entry point of the project (the bash wrappers in .ci/ only bootstrap pwsh):

      Build       dotnet build ExecBridge.sln, which assembles out/ExecBridge (manifest, ExecBridge.dll,
                  dependencies/, format files), then writes its help (out/ExecBridge/en-US) from docs/en-US.
      Test        Build, then every test: the xunit suite (dotnet test: the protocol client, fault proxy and
                  hostile servers) and the Pester suite (tests/*.Tests.ps1: the user surface in this pwsh),
                  both against real codex exec-servers fetched with npm into the gitignored .peers/ folder.
                  Prints one line over both suites: "N passed, N failed, N skipped".
      Quickstart  Build, fetch codex 0.169.0, run examples/quickstart.ps1 in a new pwsh against
                  Connect-ExecBridge -Local.
      Package     Build, then out/dist/ExecBridge-<version>.zip (and a .nupkg where PSResourceGet exists).

    The version comes from ExecBridge.psd1 (ModuleVersion), the project's one version source; Pester's from
    Directory.Build.props (PesterVersion), restored from NuGet with the solution.

.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 -Task Test

.EXAMPLE
    ./build.ps1 -Task Test -Suite Pester -TestPath tests/Files.Tests.ps1
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Quickstart', 'Package')]
    [string[]] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Test: which suites run.
    [ValidateSet('All', 'Xunit', 'Pester')]
    [string] $Suite = 'All',

    # Test: Pester files or folders to run instead of tests/ (and examples/ops.Tests.ps1 through tests/).
    [string[]] $TestPath,

    # Test: an xunit --filter expression.
    [string] $XunitFilter,

    # Use the module already in out/ExecBridge (for quick test runs while editing tests).
    [switch] $NoBuild
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$root = $PSScriptRoot
$module = Join-Path $root 'out' 'ExecBridge'
$manifest = Join-Path $module 'ExecBridge.psd1'
$results = Join-Path $root 'TestResults'
Import-Module (Join-Path $root 'tools' 'Peers.psm1') -Force

# Plain functions (no CmdletBinding): their arguments pass through untouched, `-v:minimal` included.
function Invoke-Dotnet {
    Write-Verbose "dotnet $($args -join ' ')"
    # To the host: a caller that keeps this function's result (`$info = Invoke-Build`) would swallow compiler errors.
    & dotnet @args | Out-Host
    if ($LASTEXITCODE -ne 0) { throw "dotnet $($args[0]) failed with exit code $LASTEXITCODE." }
}

function Invoke-Pwsh {
    # A new pwsh like this one (the pinned tool), for work that must not load the module into this process.
    $pwsh = Get-PwshCommand
    & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoLogo -NoProfile @args | Out-Host
    $LASTEXITCODE
}

function Invoke-Build {
    if ($NoBuild) { return Test-ModuleManifest -Path $manifest }
    Invoke-Dotnet build (Join-Path $root 'ExecBridge.sln') -c $Configuration -nologo '-v:minimal'
    $helpBuilder = Join-Path $root 'tools' 'Build-Help.ps1'
    if (Test-Path $helpBuilder) {
        $rc = Invoke-Pwsh -File $helpBuilder -ModulePath $manifest -DocsPath (Join-Path $root 'docs' 'en-US') -OutputPath (Join-Path $module 'en-US')
        if ($rc -ne 0) { throw "tools/Build-Help.ps1 failed with exit code $rc." }
    }
    $info = Test-ModuleManifest -Path $manifest
    Write-Host "Built $($info.Name) $($info.Version) in $module"
    $info
}

function Get-PesterModule {
    $version = ([xml](Get-Content (Join-Path $root 'Directory.Build.props') -Raw)).Project.PropertyGroup.PesterVersion | Where-Object { $_ } | Select-Object -First 1
    $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget' 'packages' }
    $psd1 = Join-Path $packages 'pester' $version 'tools' 'Pester.psd1'
    if (-not (Test-Path $psd1)) {
        # Restored by tests/ExecBridge.Tests (PackageDownload); a Build restores it, so this is a fallback.
        Invoke-Dotnet restore (Join-Path $root 'tests' 'ExecBridge.Tests' 'ExecBridge.Tests.csproj') -nologo '-v:quiet'
    }
    if (-not (Test-Path $psd1)) { throw "Pester $version was not restored to $psd1." }
    $psd1
}

function Invoke-XunitSuite {
    $trxName = 'xunit.trx'
    $testArgs = @('test', (Join-Path $root 'ExecBridge.sln'), '-c', $Configuration, '--no-build', '-nologo',
        '--logger', "trx;LogFileName=$trxName", '--results-directory', $results)
    if ($XunitFilter) { $testArgs += @('--filter', $XunitFilter) }
    # To the host: the output of a function is its result, and only the counts belong there.
    & dotnet @testArgs | Out-Host
    $trx = Get-ChildItem $results -Recurse -Filter $trxName | Select-Object -First 1
    if (-not $trx) { return [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0; Note = 'xunit wrote no results' } }
    $run = ([xml](Get-Content $trx.FullName -Raw)).TestRun
    $c = $run.ResultSummary.Counters
    # Named again beside the summary: CI shows only the tail of the log, far below dotnet test's own lines.
    $failedNames = @($run.Results.UnitTestResult | Where-Object outcome -NE 'Passed' | Where-Object outcome -NE 'NotExecuted' |
        ForEach-Object { "xunit failed: $($_.testName)" + $(if ($_.Output.ErrorInfo.Message) { ' -- ' + ($_.Output.ErrorInfo.Message -split "`n")[0] }) })
    [pscustomobject]@{ Passed = [int]$c.passed; Failed = [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted; Skipped = [int]$c.total - [int]$c.executed; Note = $failedNames -join "`n" }
}

function Invoke-PesterSuite {
    Import-Module (Get-PesterModule) -Force
    $config = New-PesterConfiguration
    $config.Run.Path = if ($TestPath) { $TestPath } else { Join-Path $root 'tests' }
    $config.Run.PassThru = $true
    $config.Output.Verbosity = 'Detailed'
    $config.TestResult.Enabled = $true
    $config.TestResult.OutputFormat = 'NUnitXml'
    $config.TestResult.OutputPath = Join-Path $results 'pester.xml'
    $env:EXECBRIDGE_MODULE = $manifest
    $r = Invoke-Pester -Configuration $config
    # A failed BeforeAll or a file that does not parse fails no It by itself: count them as failures.
    $failedNames = @($r.Failed | ForEach-Object { "Pester failed: $($_.ExpandedPath)" }) + @($r.FailedBlocks | ForEach-Object { "Pester block failed: $($_.ExpandedPath)" }) +
        @($r.FailedContainers | ForEach-Object { "Pester file failed: $($_.Item)" })
    [pscustomobject]@{
        Note = $failedNames -join "`n"
        Passed = $r.PassedCount
        Failed = $r.FailedCount + $r.FailedBlocksCount + $r.FailedContainersCount
        Skipped = $r.SkippedCount + $r.NotRunCount
    }
}

Push-Location $root
try {
    $info = Invoke-Build
    foreach ($t in $Task) {
        switch ($t) {
            'Build' { }
            'Test' {
                Remove-Item $results -Recurse -Force -ErrorAction Ignore
                $null = New-Item -ItemType Directory -Path $results
                foreach ($v in Get-CodexVersion) { $null = Get-CodexPath $v }  # fetched once, before either suite needs them
                $counts = @()
                if ($Suite -in 'All', 'Xunit') { $counts += Invoke-XunitSuite }
                if ($Suite -in 'All', 'Pester') { $counts += Invoke-PesterSuite }
                $passed = ($counts | Measure-Object Passed -Sum).Sum
                $failed = ($counts | Measure-Object Failed -Sum).Sum
                $skipped = ($counts | Measure-Object Skipped -Sum).Sum
                $counts | Where-Object Note | ForEach-Object { Write-Host $_.Note }
                # The one summary line over both suites (CI reads it).
                Write-Host "$passed passed, $failed failed, $skipped skipped"
                if ($passed + $failed -eq 0) { Write-Host 'no test ran'; exit 1 }
                if ($failed -gt 0) { exit 1 }
            }
            'Quickstart' {
                $env:EXECBRIDGE_CODEX = Get-CodexPath (Get-CodexVersion -Dialect Current)
                $env:EXECBRIDGE_MODULE = $manifest
                $rc = Invoke-Pwsh -File (Join-Path $root 'examples' 'quickstart.ps1')
                if ($rc -ne 0) { exit $rc }
            }
            'Package' {
                $dist = Join-Path $root 'out' 'dist'
                $null = New-Item -ItemType Directory -Path $dist -Force
                $zip = Join-Path $dist "ExecBridge-$($info.Version).zip"
                Compress-Archive -Path $module -DestinationPath $zip -Force
                Write-Host "Packaged $zip"
                if (Get-Command Publish-PSResource -ErrorAction SilentlyContinue) {
                    # A throw-away file repository: Publish-PSResource writes the .nupkg into it.
                    $repo = "ExecBridgeBuild-$([guid]::NewGuid().ToString('N'))"
                    Register-PSResourceRepository -Name $repo -Uri $dist -Trusted
                    try {
                        Publish-PSResource -Path $module -Repository $repo
                        Write-Host "Packaged $(Join-Path $dist "ExecBridge.$($info.Version).nupkg")"
                    }
                    finally { Unregister-PSResourceRepository -Name $repo }
                }
                else { Write-Warning 'Microsoft.PowerShell.PSResourceGet is not available: only the .zip was made.' }
            }
        }
    }
}
finally {
    Pop-Location
}
