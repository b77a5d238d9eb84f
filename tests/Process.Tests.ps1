#Requires -Modules Pester
# Running things: Invoke-RemoteCommand in a runbook, Start/Receive/Send/Stop, the process table — both dialects.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $script:Dialects = Get-TestDialect
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Invoke-RemoteCommand (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $server = Start-TestExecServer -Version $Version
        $null = Connect-ExecBridge -Uri $server.Uri -ExecutorId "run-$Dialect"
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $server | Stop-TestExecServer
    }

    It 'writes stdout lines as strings and sets $LASTEXITCODE' {
        $out = Invoke-RemoteCommand 'printf "one\ntwo\n"'
        $out | Should -Be @('one', 'two')
        $out[0] | Should -BeOfType [string]
        $LASTEXITCODE | Should -Be 0
    }

    It 'runs argv without a shell with -FilePath' {
        Invoke-RemoteCommand -FilePath printf -ArgumentList '%s|', 'a b', '$HOME' | Should -Be 'a b|$HOME|'
    }

    It 'passes -WorkingDirectory and -Environment' {
        $dir = New-TestFolder
        Invoke-RemoteCommand 'pwd; echo "$EB_GREETING"' -WorkingDirectory $dir -Environment @{ EB_GREETING = 'hi there' } |
            Should -Be @($dir, 'hi there')
    }

    It 'fails a runbook fast on a non-zero exit with -ErrorAction Stop' {
        $err = { Invoke-RemoteCommand 'echo partial; exit 7' -ErrorAction Stop } | Should -Throw -ErrorId 'RemoteProcessFailed,*' -PassThru
        $err.Exception.ExitCode | Should -Be 7
        $err.Exception.ExecutorId | Should -Be "run-$Dialect"
        "$($err.CategoryInfo.Category)" | Should -Be 'InvalidResult'
        $LASTEXITCODE | Should -Be 7
    }

    It 'keeps going after a non-zero exit by default, with the error in $Error' {
        $out = Invoke-RemoteCommand 'echo before; exit 3' -ErrorAction SilentlyContinue -ErrorVariable failed
        $out | Should -Be 'before'
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'RemoteProcessFailed,*'
        $LASTEXITCODE | Should -Be 3
    }

    It 'returns the finished RemoteProcess with -PassThru' {
        $p = Invoke-RemoteCommand 'exit 0' -PassThru
        $p | Should -BeOfType ([ExecBridge.RemoteProcess])
        $p.ExitCode | Should -Be 0
        "$($p.State)" | Should -Be 'Exited'
    }

    It 'writes stderr to the error stream as non-terminating RemoteStderr records, in order with stdout' {
        # Two pipes keep no order between them once read; a pause between writes lets each reach the server first.
        $all = Invoke-RemoteCommand 'echo o1; sleep 0.1; echo e1 >&2; sleep 0.1; echo o2; sleep 0.1; echo e2 >&2' 2>&1
        "$all" | Should -Be 'o1 e1 o2 e2'
        $err = $all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] }
        $err[0].FullyQualifiedErrorId | Should -BeLike 'RemoteStderr*'
        "$($err[0].CategoryInfo.Category)" | Should -Be 'NotSpecified'
        "$($err[0].TargetObject)" | Should -BeLike 'echo o1*'
    }

    It 'keeps stderr on the information stream with -StderrToInformation' {
        $null = Invoke-RemoteCommand 'echo oops >&2' -StderrToInformation -InformationVariable info -ErrorVariable errs
        $info.MessageData | Should -Be 'oops'
        $info[0].Tags | Should -Contain 'stderr'
        $errs | Should -BeNullOrEmpty
    }

    It 'reports a missing program as an error naming the command' {
        $err = { Invoke-RemoteCommand -FilePath /no/such/program -ErrorAction Stop } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -Not -BeLike '*Exception*'
        "$($err.TargetObject)" | Should -BeLike '*/no/such/program*'
    }
}

Describe 'Start-RemoteProcess, Receive-RemoteOutput, Send-RemoteInput, Stop-RemoteProcess (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $server = Start-TestExecServer -Version $Version
        $null = Connect-ExecBridge -Uri $server.Uri -ExecutorId "proc-$Dialect"
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $server | Stop-TestExecServer
    }

    It 'returns a running RemoteProcess at once' {
        $p = Start-RemoteProcess -Command 'sleep 1; echo late'
        $p | Should -BeOfType ([ExecBridge.RemoteProcess])
        "$($p.State)" | Should -Be 'Running'
        $p.ExecutorId | Should -Be "proc-$Dialect"
        $lines = Receive-RemoteOutput -Process $p -Wait
        $lines.Line | Should -Be 'late'
        $p.ExitCode | Should -Be 0
    }

    It 'tags every output line with its stream, in order per stream' {
        $p = Start-RemoteProcess -Command 'echo o1; echo e1 >&2; echo o2'
        $lines = @(Receive-RemoteOutput -Process $p -Wait)
        ($lines | Where-Object Stream -EQ Stdout).Line | Should -Be @('o1', 'o2')
        ($lines | Where-Object Stream -EQ Stderr).Line | Should -Be 'e1'
        $lines[0].ProcessId | Should -Be $p.ProcessId
    }

    It 'streams several processes at once with -Wait, lines interleaved as they arrive' {
        $a = Start-RemoteProcess -Command 'for i in 1 2 3; do echo a$i; sleep 0.3; done'
        $b = Start-RemoteProcess -Command 'sleep 0.15; for i in 1 2 3; do echo b$i; sleep 0.3; done'
        $lines = @($a, $b | Receive-RemoteOutput -Wait)
        # One after the other (as before) would give a1 a2 a3 b1 b2 b3.
        $lines.Line | Should -Be @('a1', 'b1', 'a2', 'b2', 'a3', 'b3')
        ($lines | Where-Object Line -Like 'a*').ProcessId | Sort-Object -Unique | Should -Be $a.ProcessId
        $a.ExitCode, $b.ExitCode | Should -Be @(0, 0)
    }

    It 'shows whose line it is in the default view when several processes are received' {
        $a = Start-RemoteProcess -Command 'echo from-a'
        $b = Start-RemoteProcess -Command 'sleep 0.2; echo from-b'
        $shown = ($a, $b | Receive-RemoteOutput -Wait | Out-String -Width 200) -split '\r?\n' | Where-Object { $_.Trim() }
        $shown | Should -HaveCount 2
        $shown[0] | Should -Match "^out\s+proc-$Dialect/$([regex]::Escape($a.ProcessId))\s+from-a$"
        $shown[1] | Should -Match "^out\s+proc-$Dialect/$([regex]::Escape($b.ProcessId))\s+from-b$"
        # One process: the lines alone, as before.
        $c = Start-RemoteProcess -Command 'echo alone'
        ((Receive-RemoteOutput -Process $c -Wait | Out-String).Trim()) | Should -Match '^out\s+alone$'
    }

    It 'gives byte chunks with -Raw' {
        $p = Start-RemoteProcess -Command 'printf "\001\002\003"'
        $chunks = @(Receive-RemoteOutput -Process $p -Wait -Raw)
        [byte[]]($chunks | ForEach-Object Data) | Should -Be @(1, 2, 3)
    }

    It 'writes to stdin of an -Interactive process; the process ends in-band' {
        $sh = Start-RemoteProcess -FilePath sh -Interactive
        'echo got:$((40+2))', 'exit 5' | Send-RemoteInput -Process $sh
        (Receive-RemoteOutput -Process $sh -Wait).Line | Should -Be 'got:42'
        $sh.ExitCode | Should -Be 5
    }

    It 'refuses input to a process without stdin as RemoteStdinClosed' {
        $p = Start-RemoteProcess -Command 'sleep 5'
        { Send-RemoteInput -Process $p -InputObject 'x' -ErrorAction Stop } | Should -Throw -ErrorId 'RemoteStdinClosed,*'
        Stop-RemoteProcess -Process $p -Confirm:$false
    }

    It 'lists started processes with Get-RemoteProcess and stops them from the pipeline' {
        $p = Start-RemoteProcess -Command 'sleep 60'
        $listed = Get-RemoteProcess | Where-Object ProcessId -EQ $p.ProcessId
        $listed.CommandLine | Should -Be 'sleep 60'
        $stopped = Get-RemoteProcess | Where-Object ProcessId -EQ $p.ProcessId | Stop-RemoteProcess -PassThru -Confirm:$false
        $stopped.ProcessId | Should -Be $p.ProcessId
        $null = Receive-RemoteOutput -Process $p -Wait
        "$($p.State)" | Should -Be 'Exited'
        $p.ExitCode | Should -Not -Be 0
    }

    It 'changes nothing with Stop-RemoteProcess -WhatIf' {
        $p = Start-RemoteProcess -Command 'sleep 2; echo survived'
        Stop-RemoteProcess -Process $p -WhatIf
        (Receive-RemoteOutput -Process $p -Wait).Line | Should -Be 'survived'
        $p.ExitCode | Should -Be 0
    }
}

Describe 'Stop-RemoteProcess -Interrupt' {
    It 'sends SIGINT on codex 0.142+ (the trap runs)' {
        $server = Start-TestExecServer -Version (Get-CodexVersion -Dialect Current)
        try {
            $null = Connect-ExecBridge -Uri $server.Uri -ExecutorId interrupt
            $p = Start-RemoteProcess -Command 'trap "echo interrupted; exit 9" INT; echo ready; while :; do sleep 0.1; done' -ExecutorId interrupt
            # The trap must be set before the signal: wait for the line that says so.
            $deadline = [datetime]::UtcNow.AddSeconds(10)
            $seen = [Collections.Generic.List[string]]::new()
            while (-not $seen.Contains('ready') -and [datetime]::UtcNow -lt $deadline) {
                Receive-RemoteOutput -Process $p | ForEach-Object { $seen.Add($_.Line) }
                Start-Sleep -Milliseconds 50
            }
            Stop-RemoteProcess -Process $p -Interrupt -Confirm:$false
            (Receive-RemoteOutput -Process $p -Wait).Line | Should -Contain 'interrupted'
            $p.ExitCode | Should -Be 9
        }
        finally {
            Disconnect-ExecBridge -All -Confirm:$false
            $server | Stop-TestExecServer
        }
    }

    It 'reports NotSupportedByExecutor on the legacy dialect' {
        $server = Start-TestExecServer -Version (Get-CodexVersion -Dialect Legacy)
        try {
            $null = Connect-ExecBridge -Uri $server.Uri -ExecutorId old
            $p = Start-RemoteProcess -Command 'sleep 30' -ExecutorId old
            { Stop-RemoteProcess -Process $p -Interrupt -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'NotSupportedByExecutor,*'
            Stop-RemoteProcess -Process $p -Confirm:$false
        }
        finally {
            Disconnect-ExecBridge -All -Confirm:$false
            $server | Stop-TestExecServer
        }
    }
}
