<#
.SYNOPSIS
    W10 of the benchmark, run by it in a real pwsh child: what a user would use instead of ExecBridge, in the same
    process and the same rounds. PowerShell remoting over SSH (the powershell subsystem of the bench's own sshd on
    loopback) and plain ssh/scp over ControlMaster connections, against ExecBridge to as many executors on loopback.
    Prints one line `RESULT <json>`: for every path, its time per round (ms).
.DESCRIPTION
    Each round runs every workload's paths back to back (interleaved), the order of the peer and ExecBridge swapped
    every round. Every output is checked: 'hi' from every target, file lengths every round, SHA-256 in round 1.
#>
param(
    [Parameter(Mandatory)] [string] $Module,
    [Parameter(Mandatory)] [int] $SshPort,
    [Parameter(Mandatory)] [string] $SshDir,          # holds id_ed25519 and known_hosts
    [Parameter(Mandatory)] [string[]] $ExecutorUri,   # one per target
    [Parameter(Mandatory)] [string] $CopyFile,        # local source of the copies
    [Parameter(Mandatory)] [string] $WorkDir,         # where the copies land (the "remote" side is this machine too)
    [int] $Rounds = 5,
    [int] $Calls = 50
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module $Module -ErrorAction Stop
$ExecutorUri = @($ExecutorUri -split ',')   # -File passes the list as one argument

$n = $ExecutorUri.Count
$key = Join-Path $SshDir 'id_ed25519'
$known = Join-Path $SshDir 'known_hosts'
$sshOpts = @('-i', $key, '-p', "$SshPort", '-o', "UserKnownHostsFile=$known", '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes')
$user = [Environment]::UserName
$size = (Get-Item $CopyFile).Length
$sourceHash = (Get-FileHash $CopyFile -Algorithm SHA256).Hash
$times = [ordered]@{}
function Add-Time([string] $Name, [double] $Ms) { if (-not $times.Contains($Name)) { $times[$Name] = [Collections.Generic.List[double]]::new() }; $times[$Name].Add($Ms) }
function Assert-Hi([object[]] $Out, [int] $Expected, [string] $What) {
    $ok = @($Out | Where-Object { "$_".Trim() -eq 'hi' }).Count
    if ($ok -ne $Expected -or $Out.Count -ne $Expected) { throw "$What printed $($Out.Count) lines, $ok of them 'hi'; expected $Expected" }
}
function Assert-Copy([string] $Path, [int] $Round, [string] $What) {
    $len = (Get-Item $Path).Length
    if ($len -ne $size) { throw "$What left $len bytes, expected $size" }
    if ($Round -eq 1 -and (Get-FileHash $Path -Algorithm SHA256).Hash -ne $sourceHash) { throw "${What}: SHA-256 differs from the source" }
    Remove-Item $Path
}
function Invoke-Timed([scriptblock] $Block) { $sw = [Diagnostics.Stopwatch]::StartNew(); $null = & $Block; $sw.Elapsed.TotalMilliseconds }

# ---- set-up (untimed): n PS remoting sessions, n ControlMaster connections, n ExecBridge connections -------------
$sessions = @(1..$n | ForEach-Object {
        New-PSSession -HostName 127.0.0.1 -Port $SshPort -UserName $user -KeyFilePath $key -Options @{ UserKnownHostsFile = $known; StrictHostKeyChecking = 'yes' }
    })
$masters = @(1..$n | ForEach-Object {
        $cm = Join-Path $SshDir "cm$_"
        & ssh @sshOpts -o ControlMaster=yes -o ControlPersist=600 -o "ControlPath=$cm" -fN "$user@127.0.0.1"
        if ($LASTEXITCODE -ne 0) { throw "ssh ControlMaster $_ did not start" }
        $cm
    })
$ids = [string[]](1..$n | ForEach-Object { 'p{0:00}' -f $_ })
for ($i = 0; $i -lt $n; $i++) { $null = Connect-ExecBridge -Uri $ExecutorUri[$i] -ExecutorId $ids[$i] }
$conns = @(Get-ExecBridgeConnection | Where-Object ExecutorId -in $ids)
$fanout = (Get-Command Invoke-RemoteCommand).Parameters.ContainsKey('ThrottleLimit')

function Start-Ssh([string] $ControlPath, [string[]] $Command) {
    $psi = [Diagnostics.ProcessStartInfo]::new('ssh')
    foreach ($a in @('-o', "ControlPath=$ControlPath", '-o', 'ControlMaster=no') + $sshOpts + @("$user@127.0.0.1") + $Command) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true
    $psi.UseShellExecute = $false
    [Diagnostics.Process]::Start($psi)
}

# Warm-up (untimed): each path once.
Assert-Hi @(Invoke-Command -Session $sessions -ThrottleLimit 32 { echo hi }) $n 'warm-up Invoke-Command'
Assert-Hi @(foreach ($c in $conns) { Invoke-RemoteCommand 'echo hi' -Connection $c }) $n 'warm-up Invoke-RemoteCommand'
Assert-Hi @(& ssh -o "ControlPath=$($masters[0])" @sshOpts "$user@127.0.0.1" echo hi) 1 'warm-up ssh'

for ($round = 1; $round -le $Rounds; $round++) {
    $peerFirst = $round % 2 -eq 1
    # ---- fan-out: one small command on every target ------------------------------------------------------------
    $fan = @(
        { Add-Time 'fanout.psremoting' (Invoke-Timed { Assert-Hi @(Invoke-Command -Session $sessions -ThrottleLimit 32 { echo hi }) $n 'Invoke-Command -Session' }) },
        { Add-Time 'fanout.ssh' (Invoke-Timed {
                    $procs = @(foreach ($cm in $masters) { Start-Ssh $cm @('echo', 'hi') })
                    $out = @(foreach ($p in $procs) { $p.StandardOutput.ReadToEnd().Trim(); $p.WaitForExit(); if ($p.ExitCode) { throw "ssh exited $($p.ExitCode)" } })
                    Assert-Hi $out $n 'ssh (ControlMaster)' }) },
        { if ($fanout) { Add-Time 'fanout.execbridge' (Invoke-Timed { Assert-Hi @(Invoke-RemoteCommand 'echo hi' -ExecutorId $ids -ThrottleLimit 32) $n 'Invoke-RemoteCommand -ExecutorId' }) } },
        { Add-Time 'fanout.execbridge-parallel' (Invoke-Timed {
                    Assert-Hi @($conns | ForEach-Object -ThrottleLimit 32 -Parallel { if (-not (Get-Module ExecBridge)) { Import-Module $using:Module }; Invoke-RemoteCommand 'echo hi' -Connection $_ }) $n 'ForEach-Object -Parallel' }) },
        { Add-Time 'fanout.execbridge-sequential' (Invoke-Timed { Assert-Hi @(foreach ($c in $conns) { Invoke-RemoteCommand 'echo hi' -Connection $c }) $n 'Invoke-RemoteCommand loop' }) }
    )
    if (-not $peerFirst) { [array]::Reverse($fan) }
    foreach ($b in $fan) { & $b }

    # ---- small calls one after another on one target -----------------------------------------------------------
    $small = @(
        { Add-Time 'small.psremoting' (Invoke-Timed { for ($i = 0; $i -lt $Calls; $i++) { Assert-Hi @(Invoke-Command -Session $sessions[0] { echo hi }) 1 'Invoke-Command' } }) },
        { Add-Time 'small.ssh' (Invoke-Timed { for ($i = 0; $i -lt $Calls; $i++) { Assert-Hi @(& ssh -o "ControlPath=$($masters[0])" @sshOpts "$user@127.0.0.1" echo hi) 1 'ssh' } }) },
        { Add-Time 'small.execbridge' (Invoke-Timed { for ($i = 0; $i -lt $Calls; $i++) { Assert-Hi @(Invoke-RemoteCommand 'echo hi' -Connection $conns[0]) 1 'Invoke-RemoteCommand' } }) }
    )
    if (-not $peerFirst) { [array]::Reverse($small) }
    foreach ($b in $small) { & $b }

    # ---- copy the file there and back ----------------------------------------------------------------------------
    $there = Join-Path $WorkDir 'peer-there.bin'
    $back = Join-Path $WorkDir 'peer-back.bin'
    $copy = @(
        { Add-Time 'up.psremoting' (Invoke-Timed { Copy-Item -ToSession $sessions[0] -Path $CopyFile -Destination $there -Force }); Assert-Copy $there $round 'Copy-Item -ToSession'
          Copy-Item $CopyFile $there
          Add-Time 'down.psremoting' (Invoke-Timed { Copy-Item -FromSession $sessions[0] -Path $there -Destination $back -Force }); Assert-Copy $back $round 'Copy-Item -FromSession'; Remove-Item $there },
        { Add-Time 'up.scp' (Invoke-Timed { & scp -q -o "ControlPath=$($masters[0])" @($sshOpts -replace '^-p$', '-P') $CopyFile "$($user)@127.0.0.1:$there"; if ($LASTEXITCODE) { throw 'scp up failed' } }); Assert-Copy $there $round 'scp up'
          Copy-Item $CopyFile $there
          Add-Time 'down.scp' (Invoke-Timed { & scp -q -o "ControlPath=$($masters[0])" @($sshOpts -replace '^-p$', '-P') "$($user)@127.0.0.1:$there" $back; if ($LASTEXITCODE) { throw 'scp down failed' } }); Assert-Copy $back $round 'scp down'; Remove-Item $there },
        { Add-Time 'up.execbridge' (Invoke-Timed { Copy-RemoteItem -Path $CopyFile -Destination $there -ToExecutor $ids[0] -Force }); Assert-Copy $there $round 'Copy-RemoteItem -ToExecutor'
          Copy-Item $CopyFile $there
          Add-Time 'down.execbridge' (Invoke-Timed { Copy-RemoteItem -FromExecutor $ids[0] -Path $there -Destination $back -Force }); Assert-Copy $back $round 'Copy-RemoteItem -FromExecutor'; Remove-Item $there }
    )
    if (-not $peerFirst) { [array]::Reverse($copy) }
    foreach ($b in $copy) { & $b }
}

$sessions | Remove-PSSession
foreach ($cm in $masters) { & ssh -o "ControlPath=$cm" -O exit "$user@127.0.0.1" 2>$null }
Disconnect-ExecBridge -All
'RESULT ' + ([pscustomobject]@{ Fanout = $fanout; Count = $n; Calls = $Calls; Bytes = $size; Times = $times } | ConvertTo-Json -Compress -Depth 4)
