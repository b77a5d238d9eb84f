#Requires -Version 7.2
<#
.SYNOPSIS
    Builds the ExecBridge module into out/ExecBridge, and optionally tests and packages it.

.DESCRIPTION
    Runs `dotnet build ExecBridge.sln`, which assembles the importable module folder out/ExecBridge
    (manifest, ExecBridge.dll, dependencies/, format files, en-US help); nothing is copied by hand here.
    The version comes from ExecBridge.psd1 (ModuleVersion), the project's one version source.

    -Test runs the test suite (`dotnet test ExecBridge.sln`, what .ci/run runs). The tests fetch real
    codex exec-servers (linux-x64) with npm into the gitignored .peers/ folder on first use.

    -Package writes out/dist/ExecBridge-<version>.zip (the ExecBridge folder, ready to extract into a
    folder on $env:PSModulePath) and, where Microsoft.PowerShell.PSResourceGet is available (PowerShell
    7.4+), out/dist/ExecBridge.<version>.nupkg as the PowerShell Gallery would store it.

.EXAMPLE
    ./build.ps1
    Import-Module ./out/ExecBridge

.EXAMPLE
    ./build.ps1 -Test -Package
#>
[CmdletBinding()]
param(
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Run the test suite after building.
    [switch] $Test,

    # Write a .zip (and a .nupkg where PSResourceGet exists) of out/ExecBridge to out/dist.
    [switch] $Package
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$root = $PSScriptRoot
$module = Join-Path $root 'out' 'ExecBridge'
$manifest = Join-Path $module 'ExecBridge.psd1'

function Invoke-Dotnet {
    param([Parameter(ValueFromRemainingArguments)] [string[]] $Arguments)
    Write-Verbose "dotnet $($Arguments -join ' ')"
    & dotnet @Arguments
    if ($LASTEXITCODE -ne 0) { throw "dotnet $($Arguments[0]) failed with exit code $LASTEXITCODE." }
}

if (-not (Get-Command dotnet -ErrorAction SilentlyContinue)) {
    throw 'The .NET SDK (dotnet, 8.0 or later; the tests need 10.0) is required: https://dot.net/download'
}

Push-Location $root
try {
    Invoke-Dotnet build ExecBridge.sln -c $Configuration -nologo

    $info = Test-ModuleManifest -Path $manifest
    Write-Host "Built $($info.Name) $($info.Version) in $module"

    if ($Test) {
        Invoke-Dotnet test ExecBridge.sln -c $Configuration --no-build -nologo
    }

    if ($Package) {
        $dist = Join-Path $root 'out' 'dist'
        New-Item -ItemType Directory -Path $dist -Force | Out-Null

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
            finally {
                Unregister-PSResourceRepository -Name $repo
            }
        }
        else {
            Write-Warning 'Microsoft.PowerShell.PSResourceGet is not available: only the .zip was made.'
        }
    }
}
finally {
    Pop-Location
}
