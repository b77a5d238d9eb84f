# Peers for the Pester suite: real codex exec-servers and the loopback gateway fixture, started by a test
# file's BeforeAll and stopped by its AfterAll. Test infrastructure only: it holds secrets in plain text.

Set-StrictMode -Version Latest

$script:RepoRoot = Split-Path (Split-Path $PSScriptRoot -Parent) -Parent
Import-Module (Join-Path $script:RepoRoot 'tools' 'Peers.psm1') -Global -Force

function Get-ModuleManifestPath {
    if ($env:EXECBRIDGE_MODULE) { $env:EXECBRIDGE_MODULE } else { Join-Path $script:RepoRoot 'out' 'ExecBridge' 'ExecBridge.psd1' }
}

function Get-TestDialect {
    # The -ForEach data of a Describe that runs against both dialects.
    foreach ($d in 'Legacy', 'Current') { @{ Dialect = $d; Version = (Get-CodexVersion -Dialect $d) } }
}

function Start-TestExecServer {
    <#
    .SYNOPSIS
        A real codex exec-server on 127.0.0.1 (a free port), with a capability token where asked (0.160+).
        -AsNobody runs it as user nobody (setpriv), for permission-denied cases: root ignores file modes.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string] $Version,
        [switch] $WithToken,
        [switch] $AsNobody,
        # The server's own HOME and working directory (what ~ and relative paths resolve against).
        [string] $UserHome,
        [string] $WorkingDirectory
    )
    $home_ = Join-Path ([IO.Path]::GetTempPath()) "eb-pester-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory -Path $home_
    if ($AsNobody) {
        chmod 777 $home_
        $psi = [Diagnostics.ProcessStartInfo]::new('setpriv')
        foreach ($a in '--reuid=nobody', '--regid=nogroup', '--clear-groups', (Get-CodexPath $Version)) { $psi.ArgumentList.Add($a) }
    }
    else { $psi = [Diagnostics.ProcessStartInfo]::new((Get-CodexPath $Version)) }
    foreach ($a in 'exec-server', '--listen', 'ws://127.0.0.1:0') { $psi.ArgumentList.Add($a) }
    $token = $null
    if ($WithToken) {
        $token = [Convert]::ToHexString([Security.Cryptography.RandomNumberGenerator]::GetBytes(24)).ToLowerInvariant()
        $tokenFile = Join-Path $home_ 'token'
        [IO.File]::WriteAllText($tokenFile, $token)
        foreach ($a in '--ws-auth', 'capability-token', '--ws-token-file', $tokenFile) { $psi.ArgumentList.Add($a) }
    }
    $psi.Environment['CODEX_HOME'] = $home_
    if ($UserHome) { $psi.Environment['HOME'] = $UserHome }
    if ($WorkingDirectory) { $psi.WorkingDirectory = $WorkingDirectory }
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.UseShellExecute = $false
    $process = [Diagnostics.Process]::Start($psi)
    $process.BeginErrorReadLine()
    $read = $process.StandardOutput.ReadLineAsync()
    if (-not $read.Wait(30000) -or -not "$($read.Result)".StartsWith('ws://')) {
        $process.Kill($true)
        throw "codex $Version exec-server did not start: '$($read.Result)'"
    }
    # Keep draining stdout so the server never blocks on a full pipe.
    $null = $process.StandardOutput.ReadToEndAsync()
    [pscustomobject]@{
        PSTypeName = 'ExecBridge.Tests.ExecServer'
        Version    = $Version
        IsLegacy   = $Version -eq (Get-CodexVersion -Dialect Legacy)
        Uri        = $read.Result.Trim()
        Token      = $token
        TokenFile  = if ($WithToken) { $tokenFile } else { $null }
        Process    = $process
        Home       = $home_
    }
}

function Stop-TestExecServer {
    [CmdletBinding()]
    param([Parameter(ValueFromPipeline)] $Server)
    process {
        if (-not $Server) { return }
        try { if (-not $Server.Process.HasExited) { $Server.Process.Kill($true); $null = $Server.Process.WaitForExit(5000) } } catch { }
        Remove-Item $Server.Home -Recurse -Force -ErrorAction Ignore
    }
}

function Start-TestGateway {
    <#
    .SYNOPSIS
        The loopback gateway fixture (tests/ExecBridge.TestGateway) in front of exec-servers: @{ id = $server }.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)] [hashtable] $Executor)
    $dll = Get-ChildItem (Join-Path $script:RepoRoot 'tests' 'ExecBridge.TestGateway' 'bin') -Recurse -Filter 'ExecBridge.TestGateway.dll' -ErrorAction Ignore |
        Sort-Object LastWriteTimeUtc -Descending | Select-Object -First 1
    if (-not $dll) { throw 'tests/ExecBridge.TestGateway is not built: run ./build.ps1 first.' }
    $psi = [Diagnostics.ProcessStartInfo]::new('dotnet')
    $psi.ArgumentList.Add($dll.FullName)
    foreach ($id in $Executor.Keys) {
        $s = $Executor[$id]
        $psi.ArgumentList.Add("$id=$($s.Uri)$(if ($s.TokenFile) { ";$($s.TokenFile)" })")
    }
    # No config file watchers: on a busy machine the user's 128 inotify instances run out and the fixture would not start.
    $psi.Environment['DOTNET_hostBuilder__reloadConfigOnChange'] = 'false'
    $psi.Environment['DOTNET_USE_POLLING_FILE_WATCHER'] = 'true'
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardInput = $true
    $psi.UseShellExecute = $false
    $process = [Diagnostics.Process]::Start($psi)
    $read = $process.StandardOutput.ReadLineAsync()
    if (-not $read.Wait(30000) -or -not $read.Result) { $process.Kill($true); throw 'The gateway fixture did not start.' }
    $info = $read.Result | ConvertFrom-Json
    $info | Add-Member -NotePropertyName Process -NotePropertyValue $process -PassThru |
        Add-Member -NotePropertyName SecureWorkspaceToken -NotePropertyValue (ConvertTo-SecureString $info.WorkspaceToken -AsPlainText -Force) -PassThru |
        Add-Member -NotePropertyName SecureInternalSecret -NotePropertyValue (ConvertTo-SecureString $info.InternalSecret -AsPlainText -Force) -PassThru
}

function Stop-TestGateway {
    [CmdletBinding()]
    param([Parameter(ValueFromPipeline)] $Gateway)
    process {
        if (-not $Gateway) { return }
        # Closing its stdin ends it; a kill is the fallback.
        try { $Gateway.Process.StandardInput.Close() } catch { }
        if (-not $Gateway.Process.WaitForExit(5000)) { try { $Gateway.Process.Kill($true) } catch { } }
    }
}

function Invoke-ChildPwsh {
    <#
    .SYNOPSIS
        Runs a script in a new pwsh (a fresh session: its own pool, its own module load) and returns its
        output lines, stderr and exit code.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string] $Script,
        [string[]] $ArgumentList = @(),
        [int] $TimeoutSec = 120,
        # The child's umask (octal, e.g. '027'); it passes it on to the exec-servers it starts.
        [string] $Umask
    )
    $file = Join-Path ([IO.Path]::GetTempPath()) "eb-child-$([guid]::NewGuid().ToString('N')).ps1"
    Set-Content -LiteralPath $file -Value $Script
    try {
        $pwsh = Get-PwshCommand
        if ($Umask) { $pwsh = @('sh', '-c', 'umask "$0" && exec "$@"', $Umask) + $pwsh }
        $psi = [Diagnostics.ProcessStartInfo]::new($pwsh[0])
        foreach ($a in @($pwsh | Select-Object -Skip 1) + @('-NoLogo', '-NoProfile', '-NonInteractive', '-File', $file) + $ArgumentList) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        $psi.Environment['EXECBRIDGE_MODULE'] = Get-ModuleManifestPath
        $p = [Diagnostics.Process]::Start($psi)
        $out = $p.StandardOutput.ReadToEndAsync()
        $err = $p.StandardError.ReadToEndAsync()
        if (-not $p.WaitForExit($TimeoutSec * 1000)) { $p.Kill($true); throw "The child pwsh did not finish within $TimeoutSec s." }
        [pscustomobject]@{
            Output   = @($out.Result -split "`r?`n" | Where-Object { $_ -ne '' })
            Error    = $err.Result
            ExitCode = $p.ExitCode
        }
    }
    finally { Remove-Item -LiteralPath $file -ErrorAction Ignore }
}

function New-TestFolder {
    # A fresh local scratch folder (the executors run on this machine, so it is also a remote path).
    $p = Join-Path ([IO.Path]::GetTempPath()) "eb-pester-data-$([guid]::NewGuid().ToString('N'))"
    (New-Item -ItemType Directory -Path $p).FullName
}

function Get-ChildProcessId {
    # The pids of a process's descendants (the executor's remote processes run as children of codex).
    param([Parameter(Mandatory)] [int] $ParentId)
    $kids = @(Get-ChildItem /proc -Directory -ErrorAction Ignore | Where-Object Name -Match '^\d+$' | ForEach-Object {
            $stat = Get-Content "/proc/$($_.Name)/stat" -Raw -ErrorAction Ignore
            if ($stat -and $stat -match '^\d+ \(.*\) \S (\d+)' -and [int]$Matches[1] -eq $ParentId) { [int]$_.Name }
        })
    foreach ($k in $kids) { $k; Get-ChildProcessId -ParentId $k }
}

function Find-DescendantProcess {
    # The pids of the descendants of any of the given processes whose command line (NUL-separated argv) matches the
    # pattern, in one pass over /proc (Get-ChildProcessId rescans /proc per level: seconds on a busy machine).
    param([Parameter(Mandatory)] [int[]] $ParentId, [Parameter(Mandatory)] [string] $CommandLinePattern)
    $parent = @{}; $cmd = @{}
    foreach ($d in [IO.Directory]::GetDirectories('/proc')) {
        $name = [IO.Path]::GetFileName($d)
        if ($name -notmatch '^\d+$') { continue }
        try { $stat = [IO.File]::ReadAllText("$d/stat"); $line = [IO.File]::ReadAllText("$d/cmdline") } catch { continue }
        if ($stat -match '^\d+ \(.*\) \S (\d+)') { $parent[[int]$name] = [int]$Matches[1]; $cmd[[int]$name] = $line }
    }
    foreach ($p in $parent.Keys) {
        if ($cmd[$p] -notmatch $CommandLinePattern) { continue }
        for ($up = $parent[$p]; $up -gt 1; $up = $parent[$up]) {
            if ($up -in $ParentId) { $p; break }
            if (-not $parent.ContainsKey($up)) { break }
        }
    }
}

function Get-RemoteSleep {
    # The executors' `sleep <Seconds>` processes: descendants of the exec-servers started for a test.
    param([Parameter(Mandatory)] [int[]] $ServerPid, [Parameter(Mandatory)] [string] $Seconds)
    Find-DescendantProcess -ParentId $ServerPid -CommandLinePattern "^sleep\x00$Seconds"
}

Export-ModuleMember -Function Get-ModuleManifestPath, Get-RemoteSleep, Get-TestDialect, Start-TestExecServer, Stop-TestExecServer, Start-TestGateway,
    Stop-TestGateway, Invoke-ChildPwsh, New-TestFolder, Get-ChildProcessId, Find-DescendantProcess
