#Requires -Modules Pester
# One command on many executors: Connect-ExecBridge -ExecutorId a,b,c through the gateway fixture, Invoke-RemoteCommand
# with several executors (tagged output, per-executor errors, -ThrottleLimit, wildcards, piped connections, -Summary,
# Ctrl+C), pipeline input to stdin, and a 64-executor fan-out. Both dialects.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $script:Dialects = Get-TestDialect
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Fan-out to several executors (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $servers = 1..4 | ForEach-Object { Start-TestExecServer -Version $Version }
        $ppid = @{ 'fan-a' = $servers[0].Process.Id; 'fan-b' = $servers[1].Process.Id; 'fan-c' = $servers[2].Process.Id }
        $gateway = Start-TestGateway -Executor @{ 'fan-a' = $servers[0]; 'fan-b' = $servers[1]; 'fan-c' = $servers[2]; 'fan-dead' = $servers[3]; 'extra' = $servers[0] }
        $conns = Connect-ExecBridge -GatewayUri $gateway.BridgeUri -ExecutorId 'fan-a', 'fan-b', 'fan-c', 'fan-dead' -Token $gateway.SecureWorkspaceToken
        $three = 'fan-a', 'fan-b', 'fan-c'
    }
    AfterAll {
        Get-Job | Remove-Job -Force
        Disconnect-ExecBridge -All -Confirm:$false
        $gateway | Stop-TestGateway
        $servers | Stop-TestExecServer
    }

    It 'connects every executor named with one Connect-ExecBridge call, one connection each, in the order named' {
        $conns.ExecutorId | Should -Be @('fan-a', 'fan-b', 'fan-c', 'fan-dead')
        $conns | ForEach-Object { "$($_.Kind)/$($_.State)" } | Sort-Object -Unique | Should -Be 'Gateway/Connected'
    }

    It 'reports an executor that cannot be connected as its own error and connects the others' {
        $more = Connect-ExecBridge -GatewayUri $gateway.BridgeUri -ExecutorId 'no-such-executor', 'extra' -Token $gateway.SecureWorkspaceToken -ErrorVariable failed -ErrorAction SilentlyContinue
        $more.ExecutorId | Should -Be 'extra'
        $failed.Count | Should -Be 1
        $failed[0].TargetObject | Should -Be 'no-such-executor'
        Disconnect-ExecBridge -ExecutorId extra -Confirm:$false
    }

    It 'runs on three executors at once, each line tagged with the executor that wrote it' {
        $out = Invoke-RemoteCommand 'echo "ppid $PPID"' -ExecutorId $three
        $out.Count | Should -Be 3
        $out.ExecutorId | Sort-Object | Should -Be $three
        foreach ($line in $out) {
            $line | Should -BeOfType [string]
            "$line" | Should -Be "ppid $($ppid[$line.ExecutorId])"
            $line.PSObject.TypeNames[0] | Should -Be 'ExecBridge.ExecutorOutput'
        }
        $LASTEXITCODE | Should -Be 0
    }

    It 'shows the executor beside each line in the default view with several executors, the bare line with one' {
        $many = Invoke-RemoteCommand 'echo view-line' -ExecutorId 'fan-a', 'fan-b' | Out-String
        $many | Should -Match '(?m)^fan-a\s+view-line\s*$'
        $many | Should -Match '(?m)^fan-b\s+view-line\s*$'
        $one = Invoke-RemoteCommand 'echo view-line' -ExecutorId 'fan-a'
        $one.ExecutorId | Should -Be 'fan-a'
        $one.PSObject.TypeNames[0] | Should -Be 'System.String'
        ($one | Out-String).Trim() | Should -Be 'view-line'
    }

    It 'keeps going when one executor exits non-zero: its error names it, the others answer, -Summary tells which' {
        $bad = $ppid['fan-b']
        $all = Invoke-RemoteCommand "[ `$PPID != $bad ] || exit 3; echo fine" -ExecutorId $three -Summary -ErrorVariable failed -ErrorAction SilentlyContinue
        $lines = $all | Where-Object { $_ -is [string] }
        $summary = $all | Where-Object { $_ -isnot [string] }
        $lines.ExecutorId | Sort-Object | Should -Be @('fan-a', 'fan-c')
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'RemoteProcessFailed,*'
        $failed[0].TargetObject | Should -Be 'fan-b'
        $failed[0].Exception.ExitCode | Should -Be 3
        $LASTEXITCODE | Should -Be 3
        $summary[0].PSObject.TypeNames[0] | Should -Be 'ExecBridge.RemoteCommandSummary'
        $summary.ExecutorId | Should -Be $three
        $summary.ExitCode | Should -Be @(0, 3, 0)
        $summary.Succeeded | Should -Be @($true, $false, $true)
        $summary.CommandLine | Sort-Object -Unique | Should -Be "[ `$PPID != $bad ] || exit 3; echo fine"
        $summary | ForEach-Object { $_.Duration | Should -BeGreaterThan ([timespan]::Zero) }
        $table = $summary | Format-Table | Out-String
        $table | Should -Match '(?m)^fan-b\s+3\s'
    }

    It 'writes a summary for a single executor too, and keeps its $LASTEXITCODE rule' {
        $s = Invoke-RemoteCommand 'exit 4' -ExecutorId fan-a -Summary -ErrorAction SilentlyContinue
        $s.ExecutorId | Should -Be 'fan-a'
        $s.ExitCode | Should -Be 4
        $s.Succeeded | Should -BeFalse
        $LASTEXITCODE | Should -Be 4
    }

    It 'tags stderr lines with their executor' {
        $null = Invoke-RemoteCommand 'echo oops >&2' -ExecutorId 'fan-a', 'fan-c' -ErrorVariable said 2>$null
        $said.FullyQualifiedErrorId | Sort-Object -Unique | Should -BeLike 'RemoteStderr,*'
        $said.TargetObject | Sort-Object | Should -Be @('fan-a', 'fan-c')
        $said | ForEach-Object { "$_" } | Sort-Object | Should -Be @('[fan-a] oops', '[fan-c] oops')
    }

    It 'stops everything at the first failure with -ErrorAction Stop, killing the rest' {
        $bad = $ppid['fan-b']
        $clock = [Diagnostics.Stopwatch]::StartNew()
        { Invoke-RemoteCommand "[ `$PPID != $bad ] || exit 3; sleep 41" -ExecutorId $three -ErrorAction Stop } |
            Should -Throw -ErrorId 'RemoteProcessFailed,*'
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 15
        $deadline = [datetime]::UtcNow.AddSeconds(5)
        while ((Get-RemoteSleep $ppid.Values 41) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        Get-RemoteSleep $ppid.Values 41 | Should -BeNullOrEmpty -Because 'the other executors'' commands must not outlive the call'
    }

    It 'reports an executor whose server is gone and still runs on the others' {
        $servers[3] | Stop-TestExecServer
        $out = Invoke-RemoteCommand 'echo alive' -ExecutorId 'fan-a', 'fan-dead', 'fan-c' -Summary -ErrorVariable failed -ErrorAction SilentlyContinue
        ($out | Where-Object { $_ -is [string] }).ExecutorId | Sort-Object | Should -Be @('fan-a', 'fan-c')
        $failed.TargetObject | Should -Contain 'fan-dead'
        $dead = $out | Where-Object { $_ -isnot [string] -and $_.ExecutorId -eq 'fan-dead' }
        $dead.ExitCode | Should -BeNullOrEmpty
        $dead.Error | Should -Not -BeNullOrEmpty
        $LASTEXITCODE | Should -Be 1
    }

    It 'runs one executor at a time with -ThrottleLimit 1, all at once by default' {
        $timed = 'date +%s%N; sleep 0.4; date +%s%N'
        $intervals = {
            param($lines)
            $lines | Group-Object ExecutorId | ForEach-Object { [pscustomobject]@{ Id = $_.Name; Start = [long]"$($_.Group[0])"; End = [long]"$($_.Group[1])" } } |
                Sort-Object Start
        }
        $serial = & $intervals (Invoke-RemoteCommand $timed -ExecutorId $three -ThrottleLimit 1)
        $serial.Count | Should -Be 3
        for ($i = 1; $i -lt 3; $i++) { $serial[$i].Start | Should -BeGreaterOrEqual $serial[$i - 1].End }
        $parallel = & $intervals (Invoke-RemoteCommand $timed -ExecutorId $three)
        $parallel.Count | Should -Be 3
        ($parallel.Start | Measure-Object -Maximum).Maximum | Should -BeLessThan ($parallel.End | Measure-Object -Minimum).Minimum
    }

    It 'matches wildcards against connected executors; a pattern that matches none is an error' {
        $out = Invoke-RemoteCommand 'echo w' -ExecutorId 'fan-[ab]'
        $out.ExecutorId | Sort-Object | Should -Be @('fan-a', 'fan-b')
        $none = Invoke-RemoteCommand 'echo w' -ExecutorId 'web-*' -ErrorVariable failed -ErrorAction SilentlyContinue
        $none | Should -BeNullOrEmpty
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'ExecutorNotConnected,*'
        $failed[0].TargetObject | Should -Be 'web-*'
    }

    It 'runs on connections from the pipeline and from -Connection' {
        $piped = Get-ExecBridgeConnection -ExecutorId 'fan-a', 'fan-c' | Invoke-RemoteCommand 'echo p'
        $piped.ExecutorId | Sort-Object | Should -Be @('fan-a', 'fan-c')
        $given = Invoke-RemoteCommand 'echo g' -Connection $conns[0], $conns[1]
        $given.ExecutorId | Sort-Object | Should -Be @('fan-a', 'fan-b')
    }

    It 'starts a process on several executors with Start-RemoteProcess, one RemoteProcess each, in the order named' {
        $procs = Start-RemoteProcess 'echo "started $PPID"' -ExecutorId $three
        $procs.ExecutorId | Should -Be $three
        $out = $procs | Receive-RemoteOutput -Wait
        @($out).Count | Should -Be 3
        foreach ($line in $out) { "$line" | Should -Be "started $($ppid[$line.ExecutorId])" }
        $some = Start-RemoteProcess 'true' -ExecutorId 'fan-a', 'not-connected' -ErrorVariable failed -ErrorAction SilentlyContinue
        $some.ExecutorId | Should -Be 'fan-a'
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'ExecutorNotConnected,*'
        $failed[0].TargetObject | Should -Be 'not-connected'
        $null = $some | Receive-RemoteOutput -Wait
    }

    It 'stops every remote process it started on Ctrl+C, promptly' {
        $ps = [powershell]::Create()
        $null = $ps.AddScript('param($m, $c) Import-Module $m; Invoke-RemoteCommand "sleep 42" -Connection $c').
            AddArgument((Get-ModuleManifestPath)).AddArgument(@($conns[0..2]))
        $async = $ps.BeginInvoke()
        try {
            $deadline = [datetime]::UtcNow.AddSeconds(20)
            while (@(Get-RemoteSleep $ppid.Values 42).Count -lt 3 -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            @(Get-RemoteSleep $ppid.Values 42).Count | Should -Be 3 -Because 'all three remote sleeps must run before Ctrl+C'
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()   # what Ctrl+C does: StopProcessing on the running cmdlet
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 3
            "$($ps.InvocationStateInfo.State)" | Should -Be 'Stopped'
            $deadline = [datetime]::UtcNow.AddSeconds(5)
            while ((Get-RemoteSleep $ppid.Values 42) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            Get-RemoteSleep $ppid.Values 42 | Should -BeNullOrEmpty -Because 'Ctrl+C must stop the remote process on every executor'
        }
        finally {
            $ps.Dispose()
        }
    }
}

Describe 'Pipeline input to stdin (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $server = Start-TestExecServer -Version $Version
        $gateway = Start-TestGateway -Executor @{ 'in-a' = $server; 'in-b' = $server }
        $null = Connect-ExecBridge -GatewayUri $gateway.BridgeUri -ExecutorId 'in-a', 'in-b' -Token $gateway.SecureWorkspaceToken
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $gateway | Stop-TestGateway
        $server | Stop-TestExecServer
    }

    It 'sends piped strings to stdin as lines; the command sees the end of input and ends by itself' {
        $out = 'alpha', 'beta', 'gamma' | Invoke-RemoteCommand 'wc -l' -ExecutorId in-a -TimeoutSec 20
        "$out".Trim() | Should -Be '3'
        $sorted = 'b', 'c', 'a' | Invoke-RemoteCommand 'sort' -ExecutorId in-a -TimeoutSec 20
        $sorted | Should -Be @('a', 'b', 'c')
    }

    It 'sends byte arrays unchanged, and keeps the command''s own exit code' {
        $out = , [byte[]](0x68, 0x69, 0x00, 0x0a) | Invoke-RemoteCommand 'od -An -tx1; exit 5' -ExecutorId in-b -TimeoutSec 20 -ErrorAction SilentlyContinue
        "$out".Trim() | Should -Be '68 69 00 0a'
        $LASTEXITCODE | Should -Be 5
    }

    It 'feeds a -FilePath program, and every executor of a fan-out gets the same input' {
        $one = 'x', 'y' | Invoke-RemoteCommand -FilePath wc -ArgumentList '-l' -ExecutorId in-a -TimeoutSec 20
        "$one".Trim() | Should -Be '2'
        $both = 'x', 'y' | Invoke-RemoteCommand 'wc -l' -ExecutorId 'in-*' -TimeoutSec 20
        $both.ExecutorId | Sort-Object | Should -Be @('in-a', 'in-b')
        $both | ForEach-Object { "$_".Trim() } | Should -Be @('2', '2')
    }

    It 'never takes the executor from piped strings, even lines tagged with an ExecutorId' {
        $tagged = Invoke-RemoteCommand 'echo from-a' -ExecutorId in-a
        $tagged.ExecutorId | Should -Be 'in-a'
        $relayed = $tagged | Invoke-RemoteCommand 'cat' -ExecutorId in-b -TimeoutSec 20
        "$relayed" | Should -Be 'from-a'
        $relayed.ExecutorId | Should -Be 'in-b'
        { $tagged | Invoke-RemoteCommand 'cat' -TimeoutSec 20 } | Should -Throw -ErrorId 'ExecutorNotConnected,*'
    }

    It 'never sends piped connections to stdin; without input stdin is empty' {
        $out = Get-ExecBridgeConnection -ExecutorId in-a | Invoke-RemoteCommand 'wc -c' -TimeoutSec 20
        "$out".Trim() | Should -Be '0'
        $out.ExecutorId | Should -Be 'in-a'
        "$(Invoke-RemoteCommand 'wc -c' -ExecutorId in-b -TimeoutSec 20)".Trim() | Should -Be '0'
    }

    It 'refuses pipeline input with -Tty (a terminal has no end of input)' {
        { 'a' | Invoke-RemoteCommand 'cat' -ExecutorId in-a -Tty } | Should -Throw -ErrorId 'InvalidArgument,*'
    }
}

Describe '64 executors in one fan-out (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $servers = 1..2 | ForEach-Object { Start-TestExecServer -Version $Version }
        $map = @{}
        $ids = 1..64 | ForEach-Object { 'x{0:d2}' -f $_ }
        foreach ($i in 0..63) { $map[$ids[$i]] = $servers[$i % 2] }
        $gateway = Start-TestGateway -Executor $map
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $gateway | Stop-TestGateway
        $servers | Stop-TestExecServer
    }

    It 'connects 64 executors with one call and collects every output line and exit code, each attributed to its executor' {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $conns = Connect-ExecBridge -GatewayUri $gateway.BridgeUri -ExecutorId $ids -Token $gateway.SecureWorkspaceToken
        $connected = $clock.Elapsed
        $conns.Count | Should -Be 64
        $conns.ExecutorId | Should -Be $ids

        $clock.Restart()
        $all = Invoke-RemoteCommand 'echo "ppid $PPID"; exit $(( $PPID % 7 ))' -ExecutorId 'x*' -Summary -ErrorAction SilentlyContinue
        $ran = $clock.Elapsed
        $lines = @($all | Where-Object { $_ -is [string] })
        $summary = @($all | Where-Object { $_ -isnot [string] })
        $lines.Count | Should -Be 64
        ($lines.ExecutorId | Sort-Object) | Should -Be $ids -Because 'every executor''s line must be there exactly once'
        foreach ($line in $lines) { "$line" | Should -Be "ppid $($map[$line.ExecutorId].Process.Id)" }
        $summary.ExecutorId | Should -Be $ids
        foreach ($s in $summary) { $s.ExitCode | Should -Be ($map[$s.ExecutorId].Process.Id % 7) }
        Write-Host ("    64 executors ({0}): connect-all {1:N0} ms, fan-out echo {2:N0} ms" -f $Dialect, $connected.TotalMilliseconds, $ran.TotalMilliseconds)
    }
}
