#Requires -Modules Pester, ExecBridge
<#
    An operator's health checks for a fleet of executors, written with Pester and ExecBridge.
    Copy it and change the thresholds. It checks every connected executor (or the ones you name):

        Connect-ExecBridge -GatewayUri wss://gw.example/bridge -ExecutorId build01 -Token $token
        Connect-ExecBridge -GatewayUri wss://gw.example/bridge -ExecutorId build02 -Token $token
        Invoke-Pester ./examples/ops.Tests.ps1 -Output Detailed

    or with settings:

        $checks = New-PesterContainer -Path ./examples/ops.Tests.ps1 -Data @{ MinFreeGiB = 20; ServiceUrl = 'http://127.0.0.1:8080/healthz' }
        Invoke-Pester -Container $checks
#>
param(
    # The executors to check; all connected ones when not given.
    [string[]] $ExecutorId,
    # Free space every executor needs on its work volume.
    [double] $MinFreeGiB = 10,
    [string] $WorkVolume = '/',
    # A health URL every executor must reach (from the executor itself), or none.
    [string] $ServiceUrl,
    # Programs every build box needs.
    [string[]] $RequiredTool = @('/bin/sh', '/usr/bin/env'),
    # How far an executor's clock may be from this machine's.
    [double] $MaxClockSkewSec = 5
)

BeforeDiscovery {
    $targets = if ($ExecutorId) { $ExecutorId } else { @((Get-ExecBridgeConnection).ExecutorId) }
    if (-not $targets) { throw 'No executor to check: connect with Connect-ExecBridge first, or pass -Data @{ ExecutorId = ... }.' }
}

Describe 'Executor <_>' -ForEach $targets {
    BeforeAll {
        $exe = $_
    }

    It 'is connected' {
        (Get-ExecBridgeConnection -ExecutorId $exe).State | Should -Be 'Connected'
    }

    It 'runs a command and reports its exit code honestly' {
        Invoke-RemoteCommand 'true' -ExecutorId $exe
        $LASTEXITCODE | Should -Be 0
        { Invoke-RemoteCommand 'exit 3' -ExecutorId $exe -ErrorAction Stop } | Should -Throw -ErrorId 'RemoteProcessFailed,*'
    }

    It "has at least $MinFreeGiB GiB free on $WorkVolume" {
        # df -P: one portable line per volume; the fourth field is the free space in 1024-byte blocks.
        $line = Invoke-RemoteCommand -FilePath df -ArgumentList '-Pk', $WorkVolume -ExecutorId $exe -ErrorAction Stop | Select-Object -Last 1
        $freeGiB = [long]($line -split '\s+')[3] / 1MB
        $freeGiB | Should -BeGreaterOrEqual $MinFreeGiB -Because "$WorkVolume on $exe has $([math]::Round($freeGiB, 1)) GiB free"
    }

    It 'has the tools builds need: <_>' -ForEach $RequiredTool {
        Test-RemotePath -Path $_ -PathType Leaf -ExecutorId $exe | Should -BeTrue
    }

    It 'has a writable temp folder' {
        $probe = "/tmp/ops-check-$([guid]::NewGuid().ToString('N'))"
        Set-RemoteFile -Path $probe -Value 'ok' -ExecutorId $exe
        try { Get-RemoteFile -Path $probe -ExecutorId $exe | Should -Be 'ok' }
        finally { Remove-RemoteItem -Path $probe -ExecutorId $exe -Confirm:$false }
        Test-RemotePath -Path $probe -ExecutorId $exe | Should -BeFalse
    }

    It "keeps its clock within $MaxClockSkewSec s of this machine's" {
        $remote = [long](Invoke-RemoteCommand 'date +%s' -ExecutorId $exe -ErrorAction Stop)
        $skew = [math]::Abs($remote - [DateTimeOffset]::UtcNow.ToUnixTimeSeconds())
        $skew | Should -BeLessOrEqual $MaxClockSkewSec
    }

    It 'reaches the service health URL' -Skip:(-not $ServiceUrl) {
        # curl on the executor: the check is that the service answers *there*, not here.
        $code = Invoke-RemoteCommand -FilePath curl -ArgumentList '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', $ServiceUrl -ExecutorId $exe
        $code | Should -Be '200'
    }
}
