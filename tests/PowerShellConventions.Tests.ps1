#Requires -Modules Pester
# Issue #18, "Feels like PowerShell": pipelines across executors, confirmation like Remove-Item, stderr on the error
# stream, and errors that name what is wrong — as a user types them, against real codex exec-servers.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
    # New runspaces find the module as an installed one, on PSModulePath (imported by path, it would not autoload there).
    $env:PSModulePath = (Split-Path (Split-Path (Get-ModuleManifestPath))) + [IO.Path]::PathSeparator + $env:PSModulePath
    $legacy = Start-TestExecServer -Version (Get-CodexVersion -Dialect Legacy)
    $current = Start-TestExecServer -Version (Get-CodexVersion -Dialect Current)
    $dir = New-TestFolder
}

AfterAll {
    Disconnect-ExecBridge -All -Confirm:$false
    $legacy, $current | Stop-TestExecServer
    Remove-Item $dir -Recurse -Force -ErrorAction Ignore
}

Describe 'Pipelines with two executors connected (#18.2)' {
    BeforeAll {
        $null = Connect-ExecBridge -Uri $legacy.Uri -ExecutorId exe01
        $null = Connect-ExecBridge -Uri $current.Uri -ExecutorId web01
        Set-Content "$dir/a.txt" 'alpha'
        Set-Content "$dir/b.txt" 'beta'
    }
    AfterAll { Disconnect-ExecBridge -All -Confirm:$false }

    It 'pipes Get-RemoteChildItem -ExecutorId into Get-RemoteFile, which takes the executor from each item' {
        $items = Get-RemoteChildItem -ExecutorId web01 -Path $dir -Filter '*.txt'
        $items.ExecutorId | Sort-Object -Unique | Should -Be 'web01'
        $items | Get-RemoteFile | Sort-Object | Should -Be @('alpha', 'beta')
    }

    It 'resolves the executor per pipeline record, not once' {
        $both = @(Get-RemoteItem -ExecutorId exe01 -Path "$dir/a.txt"; Get-RemoteItem -ExecutorId web01 -Path "$dir/b.txt")
        $both | Test-RemotePath | Should -Be @($true, $true)
        $both | Get-RemoteFile | Should -Be @('alpha', 'beta')
    }

    It 'runs a command on every connection piped from Get-ExecBridgeConnection' {
        $said = Get-ExecBridgeConnection | Invoke-RemoteCommand -Command 'echo hi'
        $said | Should -Be @('hi', 'hi')
    }

    It 'pipes Get-RemoteProcess into Stop-RemoteProcess' {
        $a = Start-RemoteProcess -Command 'sleep 60' -ExecutorId exe01
        $b = Start-RemoteProcess -Command 'sleep 60' -ExecutorId web01
        $stopped = Get-RemoteProcess | Where-Object CommandLine -EQ 'sleep 60' | Stop-RemoteProcess -PassThru -Confirm:$false
        @($stopped).Count | Should -Be 2
        $null = $a, $b | Receive-RemoteOutput -Wait
        "$($a.State)", "$($b.State)" | Should -Be @('Exited', 'Exited')
    }

    It 'reaches the parent runspace''s connections from ForEach-Object -Parallel by -ExecutorId' {
        $out = 1..3 | ForEach-Object -ThrottleLimit 3 -Parallel {
            Invoke-RemoteCommand -Command "echo $_" -ExecutorId exe01
        }
        $out | Sort-Object | Should -Be @('1', '2', '3')
        $ids = 1 | ForEach-Object -Parallel { (Get-ExecBridgeConnection).ExecutorId }
        $ids | Should -Be @('exe01', 'web01')
    }

    It 'keeps a runspace that connected itself to its own connections' {
        $seen = 1 | ForEach-Object -Parallel {
            $null = Connect-ExecBridge -Uri $using:current.Uri -ExecutorId mine
            try { (Get-ExecBridgeConnection).ExecutorId; Invoke-RemoteCommand -Command 'echo own' }
            finally { Disconnect-ExecBridge -All -Confirm:$false }
        }
        $seen | Should -Be @('mine', 'own')
        (Get-ExecBridgeConnection).ExecutorId | Should -Be @('exe01', 'web01')
    }

    It 'does not lend other runspaces'' connections to one that disconnected all its own' {
        $seen = 1 | ForEach-Object -Parallel {
            $null = Connect-ExecBridge -Uri $using:current.Uri -ExecutorId mine
            Disconnect-ExecBridge -All -Confirm:$false
            @(Get-ExecBridgeConnection).Count
        }
        $seen | Should -Be 0
    }
}

Describe 'Remove-RemoteItem asks like Remove-Item (#18.5)' {
    It 'removes a folder tree with -Recurse -Force under -NonInteractive, without a prompt' {
        $null = New-Item -ItemType Directory "$dir/tree/sub" -Force
        Set-Content "$dir/tree/sub/f.txt" 'x'
        $r = Invoke-ChildPwsh -Script @"
Import-Module `$env:EXECBRIDGE_MODULE
`$null = Connect-ExecBridge -Uri '$($current.Uri)' -ExecutorId rm
Remove-RemoteItem -Path '$dir/tree' -Recurse -Force -ErrorAction Stop
'removed'
"@
        $r.Error | Should -BeNullOrEmpty
        $r.Output | Should -Be 'removed'
        Test-Path "$dir/tree" | Should -BeFalse
    }

    It 'removes a read-only file with -Force, and a missing path is no error with -Force' {
        Set-Content "$dir/ro.txt" 'x'
        chmod 0444 "$dir/ro.txt"
        $null = Connect-ExecBridge -Uri $current.Uri -ExecutorId rm
        try {
            Remove-RemoteItem -Path "$dir/ro.txt" -Force -ErrorAction Stop
            Test-Path "$dir/ro.txt" | Should -BeFalse
            Remove-RemoteItem -Path "$dir/ro.txt" -Force -ErrorAction Stop
        }
        finally { Disconnect-ExecBridge -All -Confirm:$false }
    }
}

Describe 'Remote stderr on the error stream, as for native commands (#18.4)' {
    BeforeAll { $null = Connect-ExecBridge -Uri $current.Uri -ExecutorId err }
    AfterAll { Disconnect-ExecBridge -All -Confirm:$false }

    It 'is silenced by 2>$null and does not fail $? when the command exits 0' {
        $out = Invoke-RemoteCommand 'echo out; echo noise >&2' 2>$null
        $ok = $?
        $out | Should -Be 'out'
        $ok | Should -BeTrue
    }

    It 'is captured in order by 2>&1' {
        # Two pipes keep no order between them once read; a pause between writes lets each reach the server first.
        $all = Invoke-RemoteCommand 'echo o1; sleep 0.1; echo e1 >&2; sleep 0.1; echo o2; sleep 0.1; echo e2 >&2' 2>&1
        $all | ForEach-Object { "$_" } | Should -Be @('o1', 'e1', 'o2', 'e2')
        ($all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] }).Count | Should -Be 2
    }

    It 'does not turn an exit-0 command into a failure under -ErrorAction Stop or $ErrorActionPreference = Stop' {
        { Invoke-RemoteCommand 'echo warn >&2; exit 0' -ErrorAction Stop 2>$null } | Should -Not -Throw
        & {
            $ErrorActionPreference = 'Stop'
            { Invoke-RemoteCommand 'echo warn >&2' -ErrorVariable ev 2>$null } | Should -Not -Throw
        }
        $err = { Invoke-RemoteCommand 'echo warn >&2; exit 4' -ErrorAction Stop 2>$null } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -BeLike 'RemoteProcessFailed,*'
    }

    It 'lands in -ErrorVariable; -ErrorAction SilentlyContinue hides it, Ignore drops it' {
        $null = Invoke-RemoteCommand 'echo bad >&2' -ErrorVariable ev 2>$null
        $ev.Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'RemoteStderr,*'
        "$($ev[0])" | Should -Be 'bad'
        $ev[0].InvocationInfo.MyCommand.Name | Should -Be 'Invoke-RemoteCommand'
        $shown = Invoke-RemoteCommand 'echo hidden >&2' -ErrorVariable ev2 -ErrorAction SilentlyContinue 2>&1
        $shown | Should -BeNullOrEmpty
        "$ev2" | Should -Be 'hidden'
        $none = Invoke-RemoteCommand 'echo dropped >&2' -ErrorVariable ev3 -ErrorAction Ignore 2>&1
        $none | Should -BeNullOrEmpty
        $ev3.Count | Should -Be 0
    }
}

Describe 'Processes like jobs, and reading parts of files (#18.7)' {
    BeforeAll { $null = Connect-ExecBridge -Uri $legacy.Uri -ExecutorId jobs }
    AfterAll { Disconnect-ExecBridge -All -Confirm:$false }

    It 'takes a command line as the first positional argument of Start-RemoteProcess, like Invoke-RemoteCommand' {
        $p = Start-RemoteProcess 'echo hi; echo there'
        $p.CommandLine | Should -Be 'echo hi; echo there'
        ($p | Receive-RemoteOutput -Wait).Line | Should -Be @('hi', 'there')
        $q = Start-RemoteProcess -FilePath printf -ArgumentList '%s', 'argv'
        ($q | Receive-RemoteOutput -Wait).Line | Should -Be 'argv'
    }

    It 'kills a command that outlives Invoke-RemoteCommand -TimeoutSec and reports OperationTimeout' {
        $started = [datetime]::UtcNow
        $err = { Invoke-RemoteCommand 'echo begun; sleep 30' -TimeoutSec 1 -ErrorAction Stop } | Should -Throw -PassThru
        ([datetime]::UtcNow - $started).TotalSeconds | Should -BeLessThan 15
        $err.FullyQualifiedErrorId | Should -BeLike 'OperationTimeout,*'
        "$($err.CategoryInfo.Category)" | Should -Be 'OperationTimeout'
        "$($err.TargetObject)" | Should -Be 'echo begun; sleep 30'
        (Get-ChildProcessId -ParentId $legacy.Process.Id | ForEach-Object { Get-Content "/proc/$_/cmdline" -Raw -ErrorAction Ignore }) -match 'sleep.30' |
            Should -BeNullOrEmpty
    }

    It 'waits for processes with Wait-RemoteProcess: all, -Any, -Timeout' {
        $fast = Start-RemoteProcess 'exit 3'
        $slow = Start-RemoteProcess 'sleep 1; exit 4'
        $first = $fast, $slow | Wait-RemoteProcess -Any
        $first.ExitCode | Should -Be 3
        $all = $fast, $slow | Wait-RemoteProcess
        $all.ExitCode | Sort-Object | Should -Be @(3, 4)
        "$($slow.State)" | Should -Be 'Exited'
        $hang = Start-RemoteProcess 'sleep 30'
        $r = Wait-RemoteProcess -Process $hang -Timeout 1 -ErrorVariable late -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $late[0].FullyQualifiedErrorId | Should -BeLike 'OperationTimeout,*'
        "$($hang.State)" | Should -Be 'Running'
        Stop-RemoteProcess -Process $hang -Confirm:$false
    }

    It 'forgets ended processes with Remove-RemoteProcess; a running one needs -Force' {
        $done = Start-RemoteProcess 'exit 0'
        $null = $done | Wait-RemoteProcess
        $running = Start-RemoteProcess 'sleep 30'
        $done | Remove-RemoteProcess
        Get-RemoteProcess | Where-Object ProcessId -EQ $done.ProcessId | Should -BeNullOrEmpty
        { $running | Remove-RemoteProcess -ErrorAction Stop } | Should -Throw -ErrorId 'RemoteProcessRunning,*'
        Get-RemoteProcess | Where-Object ProcessId -EQ $running.ProcessId | Should -Not -BeNullOrEmpty
        $running | Remove-RemoteProcess -Force
        Get-RemoteProcess | Where-Object ProcessId -EQ $running.ProcessId | Should -BeNullOrEmpty
    }

    It 'reads the first or last lines with Get-RemoteFile -TotalCount / -Tail' {
        Set-Content "$dir/lines.txt" (1..1000 | ForEach-Object { "line $_" })
        Get-RemoteFile "$dir/lines.txt" -TotalCount 2 | Should -Be @('line 1', 'line 2')
        Get-RemoteFile "$dir/lines.txt" -Tail 3 | Should -Be @('line 998', 'line 999', 'line 1000')
        Get-RemoteFile "$dir/lines.txt" -Tail 0 | Should -BeNullOrEmpty
        { Get-RemoteFile "$dir/lines.txt" -Tail 1 -Raw -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,*'
    }
}

Describe 'Errors that name what is wrong (#18.6)' {
    BeforeAll { $null = Connect-ExecBridge -Uri $current.Uri -ExecutorId named }
    AfterAll { Disconnect-ExecBridge -All -Confirm:$false }

    It 'refuses -Uri ''not a uri'' as InvalidExecutorUri with the text as target' {
        $err = { Connect-ExecBridge -Uri 'not a uri' -ExecutorId bad -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidExecutorUri,*' -PassThru
        "$($err.CategoryInfo.Category)" | Should -Be 'InvalidArgument'
        $err.TargetObject | Should -Be 'not a uri'
        { Connect-ExecBridge -GatewayUri 'gw' -ExecutorId bad -Token (ConvertTo-SecureString 'x' -AsPlainText -Force) -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidExecutorUri,*'
    }

    It 'says ExecutorNotConnected, naming the executor, for a connection object used after Disconnect-ExecBridge' {
        $old = Connect-ExecBridge -Uri $current.Uri -ExecutorId gone
        Disconnect-ExecBridge -ExecutorId gone -Confirm:$false
        $err = { Invoke-RemoteCommand 'echo hi' -Connection $old -ErrorAction Stop } | Should -Throw -ErrorId 'ExecutorNotConnected,*' -PassThru
        "$err" | Should -BeLike "*'gone'*"
        "$err" | Should -Not -BeLike '*ObjectDisposed*'
    }

    It 'names a missing -WorkingDirectory as the target, not the command' {
        $err = { Invoke-RemoteCommand 'echo hi' -WorkingDirectory /no/such/dir -ErrorAction Stop } | Should -Throw -ErrorId 'RemotePathNotFound,*' -PassThru
        $err.TargetObject | Should -Be '/no/such/dir'
        "$err" | Should -BeLike '*working directory*/no/such/dir*'
        $err = { Start-RemoteProcess -FilePath sh -WorkingDirectory /no/such/dir -ErrorAction Stop } | Should -Throw -ErrorId 'RemotePathNotFound,*' -PassThru
        $err.TargetObject | Should -Be '/no/such/dir'
    }

    It 'names a missing -FilePath program as the target' {
        $err = { Invoke-RemoteCommand -FilePath /no/such/prog -WorkingDirectory $dir -ErrorAction Stop } | Should -Throw -ErrorId 'RemoteCommandNotFound,*' -PassThru
        $err.TargetObject | Should -Be '/no/such/prog'
        "$($err.CategoryInfo.Category)" | Should -Be 'ObjectNotFound'
        "$err" | Should -BeLike "*program '/no/such/prog'*"
        $err = { Start-RemoteProcess -FilePath no-such-program-here -ErrorAction Stop } | Should -Throw -ErrorId 'RemoteCommandNotFound,*' -PassThru
        "$err" | Should -BeLike '*PATH*'
    }

    It 'refuses -Encoding klingon as InvalidArgument naming the valid names, and completes -Encoding' {
        Set-Content "$dir/enc.txt" 'x'
        $err = { Get-RemoteFile "$dir/enc.txt" -Encoding klingon -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,*' -PassThru
        $err.TargetObject | Should -Be 'klingon'
        "$err" | Should -BeLike '*utf8*'
        { 'x' | Set-RemoteFile "$dir/enc2.txt" -Encoding klingon -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,*'
        Test-Path "$dir/enc2.txt" | Should -BeFalse
        $line = "Get-RemoteFile /x -Encoding utf8"
        (TabExpansion2 $line $line.Length).CompletionMatches.CompletionText | Should -Contain 'utf8BOM'
    }

    It 'is caught by id as the help says, and a non-zero exit by [ExecBridge.Cmdlets.RemoteProcessFailedException]' {
        $caught = try { Get-RemoteFile /no/such/file.txt -ErrorAction Stop } catch { if ($_.FullyQualifiedErrorId -like 'RemotePathNotFound,*') { 'by id' } else { throw } }
        $caught | Should -Be 'by id'
        $exit = try { Invoke-RemoteCommand 'exit 3' -ErrorAction Stop } catch [ExecBridge.Cmdlets.RemoteProcessFailedException] { $_.Exception }
        $exit.ExitCode | Should -Be 3
        $exit.ExecutorId | Should -Be 'named'
    }
}

Describe 'Wildcards in -Path, -LiteralPath beside it (#18.3)' {
    BeforeAll {
        $null = Connect-ExecBridge -Uri $legacy.Uri -ExecutorId wild
        $w = Join-Path $dir 'wild'
        $null = New-Item -ItemType Directory "$w/logs/a", "$w/logs/b" -Force
        Set-Content "$w/logs/a/one.log" 'one'
        Set-Content "$w/logs/b/two.log" 'two'
        Set-Content "$w/logs/b/skip.txt" 'skip'
        Set-Content "$w/logs/.hidden.log" 'hidden'
        Set-Content -LiteralPath "$w/logs/odd[1].log" 'odd'
    }
    AfterAll { Disconnect-ExecBridge -All -Confirm:$false }

    It 'expands wildcards in Get-RemoteItem -Path, also in folder segments, and skips dot files' {
        (Get-RemoteItem "$w/logs/*/*.log").FullName | Should -Be @("$w/logs/a/one.log", "$w/logs/b/two.log")
        (Get-RemoteItem "$w/logs/*.log").Name | Should -Be 'odd[1].log'
        (Get-RemoteItem "$w/logs/.h*").Name | Should -Be '.hidden.log'
        Get-RemoteItem "$w/logs/*.none" -ErrorAction Stop | Should -BeNullOrEmpty
    }

    It 'reads every match with Get-RemoteFile and lists every matching folder with Get-RemoteChildItem' {
        Get-RemoteFile "$w/logs/?/*.log" | Should -Be @('one', 'two')
        (Get-RemoteChildItem "$w/logs/[ab]" -File).Name | Sort-Object | Should -Be @('one.log', 'skip.txt', 'two.log')
    }

    It 'takes names with wildcard characters literally with -LiteralPath and from piped RemoteItems' {
        Get-RemoteFile -LiteralPath "$w/logs/odd[1].log" | Should -Be 'odd'
        (Get-RemoteItem -LiteralPath "$w/logs/odd[1].log").Name | Should -Be 'odd[1].log'
        Get-RemoteItem -LiteralPath "$w/logs/odd[1].log" | Get-RemoteFile | Should -Be 'odd'
        { Get-RemoteItem -LiteralPath "$w/logs/*.log" -ErrorAction Stop } | Should -Throw -ErrorId 'RemotePathNotFound,*'
        # Pipeline input is literal, like Get-Item's -LiteralPath from objects: a piped string is not a pattern.
        "$w/logs/odd[1].log" | Get-RemoteFile | Should -Be 'odd'
    }

    It 'removes every match with Remove-RemoteItem -Path, and only the literal one with -LiteralPath' {
        Set-Content -LiteralPath "$w/logs/b/x[1].tmp" 'x'
        Set-Content "$w/logs/b/x1.tmp" 'x'
        Remove-RemoteItem -LiteralPath "$w/logs/b/x[1].tmp"
        Test-Path -LiteralPath "$w/logs/b/x[1].tmp" | Should -BeFalse
        Test-Path "$w/logs/b/x1.tmp" | Should -BeTrue
        Remove-RemoteItem "$w/logs/*/*.log"
        Test-Path "$w/logs/a/one.log", "$w/logs/b/two.log" | Should -Be @($false, $false)
        Test-Path "$w/logs/b/skip.txt" | Should -BeTrue
    }
}
