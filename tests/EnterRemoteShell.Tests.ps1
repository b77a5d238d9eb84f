#Requires -Modules Pester
# Enter-RemoteShell as a user meets it: a real pwsh in a tmux pane (a real terminal), connected to real exec-servers of
# both dialects, driven by keystrokes; what the terminal shows is read back with capture-pane, polled with a deadline.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $script:Dialects = Get-TestDialect
    $script:NoTmux = -not (Get-Command tmux -ErrorAction Ignore)
    if ($script:NoTmux -and (Get-Command apt-get -ErrorAction Ignore)) {
        # The pane tests need a real terminal; tmux is small, so try to install it once.
        & apt-get install -y -qq tmux *> $null
        $script:NoTmux = -not (Get-Command tmux -ErrorAction Ignore)
    }
    if ($script:NoTmux) { Write-Host 'Enter-RemoteShell pane tests skipped: tmux is not installed and could not be installed.' }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $script:Manifest = Get-ModuleManifestPath

    function Start-Pane {
        # A detached tmux server of our own (its own socket) running a fresh pwsh at 120x40, module imported, connected.
        param([string] $Uri)
        $socket = "eb-shell-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        $command = Get-PwshCommand
        $pwsh = ($command | ForEach-Object { "'$_'" }) -join ' '
        & tmux -L $socket new-session -d -s eb -x 120 -y 40 "$pwsh -NoLogo -NoProfile"
        if ($LASTEXITCODE -ne 0) { throw 'tmux could not start a session.' }
        & tmux -L $socket set-option -t eb history-limit 5000 | Out-Null
        $pane = [pscustomobject]@{ Socket = $socket }
        $script:LastPane = $pane   # so a failed start below is still cleaned up
        Wait-Pane $pane '(?m)^PS .*>' -TimeoutSec 60 | Out-Null
        Send-Line $pane "Set-PSReadLineOption -HistorySaveStyle SaveNothing -PredictionSource None; Import-Module '$script:Manifest'; Connect-ExecBridge -Uri $Uri -ExecutorId shell | Out-Null; 'connected-' + 'ok'"
        Wait-Pane $pane '(?m)^connected-ok' -TimeoutSec 60 | Out-Null
        $pane
    }

    function Stop-Pane([object] $Pane) {
        if ($Pane) { & tmux -L $Pane.Socket kill-server 2>$null }
    }

    function Send-Line([object] $Pane, [string] $Text) {
        & tmux -L $Pane.Socket send-keys -t eb -l $Text
        & tmux -L $Pane.Socket send-keys -t eb Enter
    }

    function Send-Key([object] $Pane, [string[]] $Key) { & tmux -L $Pane.Socket send-keys -t eb @Key }

    function Send-Text([object] $Pane, [string] $Text) { & tmux -L $Pane.Socket send-keys -t eb -l $Text }

    function Get-Mark([object] $Pane) {
        # The absolute line of the cursor: what is shown from here on is new.
        [int](& tmux -L $Pane.Socket display-message -p -t eb '#{e|+:#{history_size},#{cursor_y}}' 2>$null)
    }

    function Get-PaneText([object] $Pane, [int] $Mark = -1, [switch] $Escapes) {
        $start = if ($Mark -ge 0) { $Mark - [int](& tmux -L $Pane.Socket display-message -p -t eb '#{history_size}' 2>$null) } else { 0 }
        $flags = @('-p', '-J', '-S', "$start") + $(if ($Escapes) { '-e' } else { @() })
        (& tmux -L $Pane.Socket capture-pane -t eb @flags 2>$null) -join "`n"
    }

    function Wait-Pane([object] $Pane, [string] $Pattern, [int] $Mark = -1, [int] $TimeoutSec = 20, [switch] $Escapes) {
        $deadline = [datetime]::UtcNow.AddSeconds($TimeoutSec)
        while ($true) {
            $text = Get-PaneText $Pane -Mark $Mark -Escapes:$Escapes
            if ($text -match $Pattern) { return $text }
            if ([datetime]::UtcNow -gt $deadline) { throw "The pane did not show /$Pattern/ within $TimeoutSec s. It shows:`n$text" }
            Start-Sleep -Milliseconds 100
        }
    }

    function Enter-Shell([object] $Pane, [string] $Arguments = '') {
        $m = Get-Mark $Pane
        Send-Line $Pane "Enter-RemoteShell $Arguments".TrimEnd()
        # The remote bash prompt (root's ends with '#', a user's with '$').
        Wait-Pane $Pane '(?m)[#$] $' -Mark ($m + 1) | Out-Null
    }

    function Wait-PwshPrompt([object] $Pane, [int] $Mark) { Wait-Pane $Pane '(?m)^PS [^\n]*> ?$' -Mark $Mark }

    function Test-ProcessRunning([string] $CommandLine) {
        foreach ($d in Get-ChildItem /proc -Directory -ErrorAction Ignore | Where-Object Name -Match '^\d+$') {
            $c = (Get-Content "/proc/$($d.Name)/cmdline" -Raw -ErrorAction Ignore) -replace "`0", ' '
            if ($c -and $c.Trim() -eq $CommandLine) { return $true }
        }
        $false
    }
}

Describe 'Enter-RemoteShell in a terminal (<Dialect>)' -ForEach $Dialects -Skip:$NoTmux {
    BeforeAll {
        $pane = $null
        $server = Start-TestExecServer -Version $Version
        $pane = Start-Pane -Uri $server.Uri
        $tag = "$Dialect".ToLowerInvariant()
    }
    AfterAll {
        # Each step on its own: a pane that never started must not leave the server running.
        try { Stop-Pane $(if ($pane) { $pane } else { $script:LastPane }) } catch { }
        $server | Stop-TestExecServer
    }

    It 'starts the shell at the local window size; echo $((6*7)) shows 42' {
        Enter-Shell $pane
        $m = Get-Mark $pane
        Send-Line $pane 'echo $((6*7)); stty size'
        $text = Wait-Pane $pane '(?m)^42\s*\n40 120' -Mark $m
        $text | Should -Match '(?m)^40 120'
    }

    It 'keeps state between commands: cd /tmp; pwd' {
        $m = Get-Mark $pane
        Send-Line $pane 'cd /tmp; pwd'
        Wait-Pane $pane '(?m)^/tmp\s*$' -Mark $m | Should -Not -BeNullOrEmpty
    }

    It 'passes colour escape codes through: ls --color=always' {
        $dir = New-TestFolder
        $null = New-Item -ItemType Directory -Path (Join-Path $dir "ebcolor$tag")
        $m = Get-Mark $pane
        Send-Line $pane "ls --color=always $dir"
        # capture-pane -e shows the attributes the terminal applied: colour set right before the name.
        Wait-Pane $pane "\x1b\[[0-9;]*m(\x1b\[[0-9;]*m)*ebcolor$tag" -Mark $m -Escapes | Should -Not -BeNullOrEmpty
        Remove-Item $dir -Recurse -Force
    }

    It 'sends keys as the terminal does: Up recalls history, Tab completes, Ctrl+Z stops a job, ~~ is one ~, Ctrl+D ends cat' {
        $m = Get-Mark $pane
        Send-Line $pane "echo hist-$tag"
        Wait-Pane $pane "(?m)^hist-$tag" -Mark $m | Out-Null
        $m = Get-Mark $pane
        Send-Key $pane Up
        Send-Key $pane Enter
        Wait-Pane $pane "(?m)^hist-$tag" -Mark $m | Out-Null
        $m = Get-Mark $pane
        Send-Text $pane 'ech'
        Send-Key $pane Tab
        Send-Text $pane " tab-$tag"
        Send-Key $pane Enter
        Wait-Pane $pane "(?m)^tab-$tag" -Mark $m | Out-Null
        $m = Get-Mark $pane
        Send-Line $pane 'sleep 77'
        Start-Sleep -Milliseconds 500
        Send-Key $pane C-z
        Wait-Pane $pane '(?mi)stopped\s+sleep 77' -Mark $m | Out-Null
        Send-Line $pane 'kill -9 %1; echo killed-job'
        Wait-Pane $pane '(?m)^killed-job' -Mark $m | Out-Null
        # Ctrl+D is a byte like any other: the remote pty makes it end of input for cat.
        $m = Get-Mark $pane
        Send-Line $pane 'cat; echo "cat-ended-$?"'
        Start-Sleep -Milliseconds 300
        # '~' first on a line: '~~' sends one '~', '~' and another key send both.
        Send-Text $pane "~~x$tag"
        Send-Key $pane Enter
        Send-Text $pane "~q$tag"
        Send-Key $pane Enter
        Send-Key $pane C-d
        $text = Wait-Pane $pane '(?m)^cat-ended-0' -Mark $m
        # cat prints each line (the pty echoes it too, unless the keys came before cat had the terminal).
        ([regex]::Matches($text, "(?m)^~x$tag\s*$")).Count | Should -BeGreaterOrEqual 1
        ([regex]::Matches($text, "(?m)^~q$tag\s*$")).Count | Should -BeGreaterOrEqual 1
        $text | Should -Not -Match '~~x'
    }

    It 'interrupts a remote sleep 100 with Ctrl+C and the shell stays' {
        $m = Get-Mark $pane
        Send-Line $pane 'sleep 100'
        Start-Sleep -Milliseconds 500
        $sw = [Diagnostics.Stopwatch]::StartNew()
        Send-Key $pane C-c
        Wait-Pane $pane '\^C' -Mark $m | Out-Null
        Send-Line $pane 'echo "still-$((1+1))"'
        Wait-Pane $pane '(?m)^still-2' -Mark $m | Out-Null
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 30
    }

    It 'delivers a 4 KiB paste whole and in order' {
        $file = Join-Path ([IO.Path]::GetTempPath()) "eb-paste-$([guid]::NewGuid().ToString('N'))"
        $rng = [Random]::new(17)
        $alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-*/=_,;:!@#%^&()[]{}<>?|'
        $payload = -join (1..4096 | ForEach-Object { $alphabet[$rng.Next($alphabet.Length)] })
        $bufferFile = "$file.src"
        [IO.File]::WriteAllText($bufferFile, $payload)
        $m = Get-Mark $pane
        Send-Line $pane "stty raw -echo; echo ready-to-paste; head -c 4096 > $file; stty sane; echo; echo paste-done"
        # The output line, not the echoed command line: only then is the remote pty raw (a cooked pty keeps 4095 bytes a line).
        Wait-Pane $pane '(?m)^ready-to-paste' -Mark $m | Out-Null
        & tmux -L $pane.Socket load-buffer -b eb $bufferFile
        & tmux -L $pane.Socket paste-buffer -d -b eb -t eb
        Wait-Pane $pane '(?m)^paste-done' -Mark $m | Out-Null
        [IO.File]::ReadAllText($file) | Should -BeExactly $payload
        Remove-Item $file, $bufferFile -ErrorAction Ignore
    }

    It 'applies a local resize to the remote pty' {
        & tmux -L $pane.Socket resize-window -t eb -x 100 -y 30
        $deadline = [datetime]::UtcNow.AddSeconds(15)
        do {
            $m = Get-Mark $pane
            Send-Line $pane 'stty size'
            $text = Wait-Pane $pane '(?m)^\d+ \d+\s*$' -Mark $m
        } until ($text -match '(?m)^30 100' -or [datetime]::UtcNow -gt $deadline)
        $text | Should -Match '(?m)^30 100'
        & tmux -L $pane.Socket resize-window -t eb -x 120 -y 40
    }

    It 'runs top full screen and q leaves it' {
        $m = Get-Mark $pane
        Send-Line $pane 'top -d 1'
        Wait-Pane $pane '(?s)load average.*PID' | Out-Null
        Send-Key $pane q
        # top flushes type-ahead when it quits: type only once its screen is gone.
        $deadline = [datetime]::UtcNow.AddSeconds(20)
        while ((Get-PaneText $pane) -match 'load average' -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        $m = Get-Mark $pane
        Send-Line $pane 'echo "top-$((2+3))"'
        Wait-Pane $pane '(?m)^top-5' -Mark $m | Should -Not -BeNullOrEmpty
    }

    It 'exit 3 returns to the pwsh prompt with $LASTEXITCODE 3 and a sane console' {
        $m = Get-Mark $pane
        Send-Line $pane 'exit 3'
        Wait-PwshPrompt $pane -Mark $m | Out-Null
        $m = Get-Mark $pane
        # PSReadLine draws the typed line (it echoes) before Enter; then the line runs.
        Send-Text $pane '"sane-" + $LASTEXITCODE'
        Wait-Pane $pane '"sane-" \+ \$LASTEXITCODE' -Mark $m | Out-Null
        Send-Key $pane Enter
        Wait-Pane $pane '(?m)^sane-3' -Mark $m | Out-Null
        # PSReadLine reads keys again: Up recalls the line, Enter runs it once more.
        $m = Get-Mark $pane
        Send-Key $pane Up
        Send-Key $pane Enter
        Wait-Pane $pane '(?m)^sane-3' -Mark $m | Should -Not -BeNullOrEmpty
    }

    It 'runs -Command on the pty and reports a missing working directory as RemotePathNotFound' {
        $m = Get-Mark $pane
        Send-Line $pane "Enter-RemoteShell -Command 'tty; exit 4'; 'code-' + `$LASTEXITCODE"
        Wait-Pane $pane '(?ms)^/dev/pts/\d+.*^code-4' -Mark $m | Out-Null
        $m = Get-Mark $pane
        Send-Line $pane "Enter-RemoteShell -WorkingDirectory /nonexistent-eb-$tag; 'fq-' + `$Error[0].FullyQualifiedErrorId"
        Wait-Pane $pane '(?m)^fq-RemotePathNotFound,ExecBridge.Cmdlets.EnterRemoteShell' -Mark $m | Should -Not -BeNullOrEmpty
    }

    It 'ends a hung remote program with the escape sequence Enter ~.' {
        $sleeper = if ($tag -eq 'legacy') { 'sleep 313' } else { 'sleep 314' }
        Enter-Shell $pane
        $m = Get-Mark $pane
        Send-Line $pane "bash -c `"trap '' INT TERM HUP; $sleeper`""
        $deadline = [datetime]::UtcNow.AddSeconds(15)
        while (-not (Test-ProcessRunning $sleeper) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        Test-ProcessRunning $sleeper | Should -BeTrue
        Send-Key $pane C-c          # ignored by the program
        Send-Key $pane Enter
        Send-Text $pane '~.'
        Wait-Pane $pane 'Session ended by ~\.' -Mark $m | Out-Null
        Wait-PwshPrompt $pane -Mark $m | Out-Null
        # The shell was killed; its foreground job got the pty's hang-up or the group kill.
        $deadline = [datetime]::UtcNow.AddSeconds(15)
        while ((Test-ProcessRunning $sleeper) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
        $running = Test-ProcessRunning $sleeper
        if ($running) {
            # Report, then clean up what the escape could not reach.
            Get-ChildProcessId -ParentId $server.Process.Id | ForEach-Object { Stop-Process -Id $_ -Force -ErrorAction Ignore }
        }
        $running | Should -BeFalse -Because 'a program that ignores INT, TERM and HUP is still killed with its process group'
        $m = Get-Mark $pane
        Send-Line $pane '"after-" + "escape"'
        Wait-Pane $pane '(?m)^after-escape' -Mark $m | Should -Not -BeNullOrEmpty
    }

    It 'ends the session with ~. while the executor does not answer (SIGSTOP)' {
        Enter-Shell $pane
        $m = Get-Mark $pane
        & kill -STOP $server.Process.Id
        try {
            Send-Text $pane 'echo unanswered'   # written to a server that reads nothing
            Send-Key $pane Enter
            Send-Text $pane '~.'
            $sw = [Diagnostics.Stopwatch]::StartNew()
            Wait-Pane $pane 'Session ended by ~\.' -Mark $m -TimeoutSec 30 | Out-Null
            Wait-PwshPrompt $pane -Mark $m | Out-Null
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 20
        }
        finally { & kill -CONT $server.Process.Id }
        $m = Get-Mark $pane
        Send-Line $pane '"after-" + "stop"'
        Wait-Pane $pane '(?m)^after-stop' -Mark $m | Should -Not -BeNullOrEmpty
    }

    It 'reports the server killed mid-session as ConnectionLost and leaves a sane console' {
        Enter-Shell $pane
        $m = Get-Mark $pane
        Send-Line $pane 'sleep 200'
        Start-Sleep -Milliseconds 500
        $server.Process.Kill($true)
        Wait-Pane $pane "Connection to executor 'shell' lost" -Mark $m -TimeoutSec 30 | Out-Null
        Wait-PwshPrompt $pane -Mark $m | Out-Null
        $m = Get-Mark $pane
        Send-Text $pane '"fq-" + $Error[0].FullyQualifiedErrorId'
        Wait-Pane $pane '"fq-" \+ \$Error' -Mark $m | Out-Null
        Send-Key $pane Enter
        Wait-Pane $pane '(?m)^fq-ConnectionLost,ExecBridge.Cmdlets.EnterRemoteShell' -Mark $m | Should -Not -BeNullOrEmpty
    }
}

Describe 'Enter-RemoteShell without an interactive console' {
    It 'refuses redirected input with NoInteractiveConsole' {
        $pwsh = Get-PwshCommand
        $script = "Import-Module '$script:Manifest'; try { Enter-RemoteShell -ErrorAction Stop } catch { 'fq=' + `$_.FullyQualifiedErrorId; 'cat=' + `$_.CategoryInfo.Category; 'target=' + `$_.TargetObject }"
        $out = 'x' | & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoLogo -NoProfile -NonInteractive -Command $script
        $out | Should -Contain 'fq=NoInteractiveConsole,ExecBridge.Cmdlets.EnterRemoteShell'
        $out | Should -Contain 'cat=ResourceUnavailable'
        $out | Should -Contain 'target=stdin'
    }
}
