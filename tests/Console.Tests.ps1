#Requires -Modules Pester
# The interactive console, in a real terminal: tmux runs pwsh, send-keys types, capture-pane reads the screen.
# Progress that moves, Ctrl+C that stops only the remote command, confirmation prompts, tab completion.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'Terminal.psm1') -Force
    $script:NoTmux = -not (Test-Tmux)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support' 'Terminal.psm1') -Force
    $dir = New-TestFolder
    $term = Start-TerminalPwsh -Environment @{ EXECBRIDGE_CODEX = (Get-CodexPath (Get-CodexVersion -Dialect Current)) }
    # The way an operator starts: import, and a private local exec-server.
    $null = Invoke-TerminalLine $term "Import-Module '$(Get-ModuleManifestPath)'; `$c = Connect-ExecBridge -Local -ExecutorId con; `$c.ExecutorId"
    $panePid = [int](& tmux -S $term.Socket display-message -p -t $term.Name '#{pane_pid}')

    function Get-RemoteSleep {
        # The executor's `sleep` processes: descendants of the terminal's pwsh (the -Local server is its child).
        Find-DescendantProcess -ParentId $panePid -CommandLinePattern '^sleep\x00'
    }
}

AfterAll {
    $term | Stop-TerminalPwsh
    Remove-Item $dir -Recurse -Force -ErrorAction Ignore
}

Describe 'Ctrl+C in the console' -Skip:$NoTmux {
    It 'returns to the prompt within 1 s, stops the remote process, and the next command works' {
        Send-Keys $term -Literal "Invoke-RemoteCommand 'sleep 100'" -Key Enter
        $deadline = [datetime]::UtcNow.AddSeconds(15)
        while (-not (Get-RemoteSleep) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
        $sleeping = @(Get-RemoteSleep)
        $sleeping.Count | Should -Be 1 -Because 'the remote sleep must be running before Ctrl+C'

        $pressed = [Diagnostics.Stopwatch]::StartNew()
        Send-Keys $term -Key C-c
        $null = Wait-Screen $term -Pattern "sleep 100'[\s\S]*\nPS [^\n]*> *(\n\s*)*\z" -TimeoutSec 10 -PollMs 20
        $pressed.Elapsed.TotalSeconds | Should -BeLessThan 1.0

        $deadline = [datetime]::UtcNow.AddSeconds(5)
        while ((Get-RemoteSleep) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
        Get-RemoteSleep | Should -BeNullOrEmpty -Because 'Ctrl+C must stop the remote process'

        $screen = Invoke-TerminalLine $term "Invoke-RemoteCommand 'echo after-ctrl-c'"
        $screen | Should -Match '(?m)^after-ctrl-c\s*$'
    }

    It 'leaves the -Local exec-server alone when Ctrl+C interrupts something else' {
        Send-Keys $term -Literal 'Start-Sleep -Seconds 30' -Key Enter
        Start-Sleep -Milliseconds 500
        Send-Keys $term -Key C-c
        $null = Wait-Screen $term -Pattern "Start-Sleep -Seconds 30[\s\S]*\nPS [^\n]*> *(\n\s*)*\z" -TimeoutSec 10
        $screen = Invoke-TerminalLine $term "Invoke-RemoteCommand 'echo still-connected'"
        $screen | Should -Match '(?m)^still-connected\s*$'
    }

    It 'stops the remote process on every executor of a fan-out' {
        $null = Invoke-TerminalLine $term "`$null = Connect-ExecBridge -Local -ExecutorId con2"
        try {
            Send-Keys $term -Literal "Invoke-RemoteCommand 'sleep 100' -ExecutorId con*" -Key Enter
            $deadline = [datetime]::UtcNow.AddSeconds(15)
            while (@(Get-RemoteSleep).Count -lt 2 -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            @(Get-RemoteSleep).Count | Should -Be 2 -Because 'both remote sleeps must be running before Ctrl+C'
            $pressed = [Diagnostics.Stopwatch]::StartNew()
            Send-Keys $term -Key C-c
            $null = Wait-Screen $term -Pattern "con\*[\s\S]*\nPS [^\n]*> *(\n\s*)*\z" -TimeoutSec 10 -PollMs 20
            $pressed.Elapsed.TotalSeconds | Should -BeLessThan 1.5
            $deadline = [datetime]::UtcNow.AddSeconds(5)
            while ((Get-RemoteSleep) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            Get-RemoteSleep | Should -BeNullOrEmpty -Because 'Ctrl+C must stop the remote process on both executors'
        }
        finally {
            $null = Invoke-TerminalLine $term "Disconnect-ExecBridge -ExecutorId con2 -Confirm:`$false"
        }
    }
}

Describe 'Progress in the console' -Skip:$NoTmux {
    It 'shows a progress bar that moves during a 256 MiB Copy-RemoteItem' {
        $null = Invoke-TerminalLine $term "`$f = [IO.File]::Create('$dir/big.bin'); `$f.SetLength(256MB); `$f.Dispose()"
        Send-Keys $term -Literal "Copy-RemoteItem -Path '$dir/big.bin' -Destination '$dir/big.copy' -ToExecutor con; 'copy-finished'" -Key Enter
        # Two different readings of the bar: it moves. The end is the marker's own output line, not the echoed command
        # (that wraps at the terminal's width wherever the clone's path puts it).
        $seen = [Collections.Generic.HashSet[string]]::new()
        $deadline = [datetime]::UtcNow.AddSeconds(60)
        while ($seen.Count -lt 2 -and [datetime]::UtcNow -lt $deadline) {
            $screen = Get-Screen $term
            foreach ($m in [regex]::Matches($screen, '\d+(\.\d)? MB of 256\.0 MB')) { $null = $seen.Add($m.Value) }
            if ($screen -match '(?m)^copy-finished\s*$') { break }
            Start-Sleep -Milliseconds 30
        }
        $seen.Count | Should -BeGreaterOrEqual 2 -Because "the bar must move (seen: $($seen -join ', '))"
        $null = Wait-Screen $term -Pattern '(?m)^copy-finished\s*$' -TimeoutSec 60
        (Get-Item "$dir/big.copy").Length | Should -Be 256MB
    }
}

Describe 'Confirmation in the console' -Skip:$NoTmux {
    It 'asks before Remove-RemoteItem -Recurse -Confirm, and keeps the folder on No' {
        $null = New-Item -ItemType Directory "$dir/victim/sub" -Force
        Send-Keys $term -Literal "Remove-RemoteItem -Path '$dir/victim' -Recurse -Confirm" -Key Enter
        $screen = Wait-Screen $term -Pattern '\[Y\] Yes.*\[N\] No' -TimeoutSec 15
        $screen | Should -Match 'victim'
        Send-Keys $term -Literal 'N' -Key Enter
        $null = Wait-Screen $term -Pattern "victim' -Recurse -Confirm[\s\S]*\nPS [^\n]*> *(\n\s*)*\z" -TimeoutSec 15
        Test-Path "$dir/victim/sub" | Should -BeTrue
    }

    It 'removes the folder on Yes' {
        Send-Keys $term -Literal "Remove-RemoteItem -Path '$dir/victim' -Recurse -Confirm" -Key Enter
        $null = Wait-Screen $term -Pattern '\[Y\] Yes.*\[N\] No' -TimeoutSec 15
        Send-Keys $term -Literal 'Y' -Key Enter
        $deadline = [datetime]::UtcNow.AddSeconds(15)
        while ((Test-Path "$dir/victim") -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
        Test-Path "$dir/victim" | Should -BeFalse
    }

    It 'removes a folder with -Recurse without asking, like Remove-Item' {
        $null = New-Item -ItemType Directory "$dir/quiet/sub" -Force
        $null = Invoke-TerminalLine $term 'Clear-Host'
        Send-Keys $term -Literal "Remove-RemoteItem -Path '$dir/quiet' -Recurse; 'removed-' + 'quietly'" -Key Enter
        $screen = Wait-Screen $term -Pattern 'removed-quietly' -TimeoutSec 15
        $screen | Should -Not -Match '\[Y\] Yes'
        Test-Path "$dir/quiet" | Should -BeFalse
    }
}

Describe 'Tab completion in the console' -Skip:$NoTmux {
    It 'completes -ExecutorId from the connected executors' {
        $null = Invoke-TerminalLine $term 'Clear-Host'
        Send-Keys $term -Literal 'Get-ExecBridgeConnection -ExecutorId c' -Key Tab
        $null = Wait-Screen $term -Pattern 'Get-ExecBridgeConnection -ExecutorId con\b' -TimeoutSec 10
        Send-Keys $term -Key C-c
    }

    It 'completes a remote path on the executor' {
        $null = New-Item -ItemType Directory "$dir/completion" -Force
        Set-Content "$dir/completion/unique-remote-name.txt" 'x'
        $null = Invoke-TerminalLine $term 'Clear-Host'
        Send-Keys $term -Literal "Get-RemoteItem -ExecutorId con -Path $dir/completion/uni" -Key Tab
        $null = Wait-Screen $term -Pattern 'unique-remote-name\.txt' -TimeoutSec 10
        Send-Keys $term -Key C-c
    }
}
