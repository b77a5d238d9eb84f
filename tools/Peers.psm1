# Real codex exec-servers from the npm registry (@openai/codex@<ver>-linux-x64), fetched once into the
# gitignored .peers/<ver>/ folder: the same cache and layout as tests/ExecBridge.Tests/Infrastructure/Peers.cs.

Set-StrictMode -Version Latest

$script:RepoRoot = Split-Path $PSScriptRoot -Parent

# The two dialects in the wild (shared PROTOCOL-NOTES.md): legacy plain paths, current file:// URIs.
$script:CodexVersions = [ordered]@{ Legacy = '0.130.0'; Current = '0.169.0' }

function Get-CodexVersion {
    [CmdletBinding()]
    param([ValidateSet('Legacy', 'Current')] [string] $Dialect)
    if ($Dialect) { $script:CodexVersions[$Dialect] } else { $script:CodexVersions.Values }
}

function Get-CodexPath {
    <#
    .SYNOPSIS
        Path of the codex binary of a version; downloads and unpacks it on first use.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)] [string] $Version)

    $root = Join-Path $script:RepoRoot '.peers' $Version
    $binary = Find-CodexBinary $root
    if ($binary) { return $binary }

    $null = New-Item -ItemType Directory -Path $root -Force
    # The same lock file as Peers.cs: parallel test processes never unpack one tarball twice.
    $lock = Lock-File (Join-Path $script:RepoRoot '.peers' "$Version.lock")
    try {
        $binary = Find-CodexBinary $root
        if ($binary) { return $binary }
        Write-Host "Fetching codex $Version (npm pack @openai/codex@$Version-linux-x64) into $root"
        Push-Location $root
        try {
            & npm pack "@openai/codex@$Version-linux-x64" --silent | Out-Null
            if ($LASTEXITCODE -ne 0) { throw "npm pack of codex $Version failed with exit code $LASTEXITCODE." }
        }
        finally { Pop-Location }
        $tgz = @(Get-ChildItem $root -Filter *.tgz)
        if (-not $tgz) { throw "npm pack of codex $Version produced no tarball." }
        # Unpacked beside and moved into place in one rename: a binary found outside the lock is complete.
        $unpack = Join-Path $root "unpack-$([guid]::NewGuid().ToString('N'))"
        $null = New-Item -ItemType Directory -Path $unpack
        & tar -xzf $tgz[0].FullName -C $unpack
        if ($LASTEXITCODE -ne 0) { throw "tar could not unpack $($tgz[0].FullName)." }
        Move-Item (Join-Path $unpack 'package') (Join-Path $root 'package')
        Remove-Item $unpack, $tgz[0].FullName -Recurse -Force
    }
    finally { $lock.Dispose() }
    $binary = Find-CodexBinary $root
    if (-not $binary) { throw "No codex binary in the codex $Version package." }
    $binary
}

function Find-CodexBinary([string] $Root) {
    foreach ($rel in 'package/vendor/x86_64-unknown-linux-musl/bin/codex', 'package/vendor/x86_64-unknown-linux-musl/codex/codex') {
        $p = Join-Path $Root $rel
        if (Test-Path -LiteralPath $p -PathType Leaf) { return $p }
    }
}

function Lock-File([string] $Path) {
    $deadline = [datetime]::UtcNow.AddMinutes(5)
    while ($true) {
        try { return [IO.File]::Open($Path, 'OpenOrCreate', 'ReadWrite', 'None') }
        catch [IO.IOException] { if ([datetime]::UtcNow -gt $deadline) { throw } ; Start-Sleep -Milliseconds 200 }
    }
}

function Get-PwshCommand {
    <#
    .SYNOPSIS
        How to start another pwsh like this one: the pinned dotnet tool runs as `dotnet pwsh.dll`.
    #>
    [OutputType([string[]])]
    param()
    $dll = Join-Path $PSHOME 'pwsh.dll'
    if ((Split-Path ([Environment]::ProcessPath) -Leaf) -like 'dotnet*' -and (Test-Path $dll)) { , @([Environment]::ProcessPath, $dll) }
    else { , @([Environment]::ProcessPath) }
}

Export-ModuleMember -Function Get-CodexVersion, Get-CodexPath, Get-PwshCommand
