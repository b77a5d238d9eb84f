# A real terminal for console tests: tmux runs the pinned pwsh; keys go in with send-keys and the screen comes
# back with capture-pane. Test infrastructure only.

Set-StrictMode -Version Latest

function Test-Tmux {
    # tmux is a Debian package; a console test installs it or says why it cannot.
    if (Get-Command tmux -ErrorAction Ignore) { return $true }
    if ((Get-Command apt-get -ErrorAction Ignore) -and [Environment]::UserName -eq 'root') {
        & apt-get install -y -qq tmux *> $null
        if (-not (Get-Command tmux -ErrorAction Ignore)) { & apt-get update -qq *> $null; & apt-get install -y -qq tmux *> $null }
    }
    [bool](Get-Command tmux -ErrorAction Ignore)
}

function Start-TerminalPwsh {
    <#
    .SYNOPSIS
        A detached tmux session (its own server socket) running the pinned pwsh, at the prompt.
    #>
    [CmdletBinding()]
    param([int] $Width = 200, [int] $Height = 50, [hashtable] $Environment = @{})
    $name = "eb$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    $socket = Join-Path ([IO.Path]::GetTempPath()) "$name.tmux"
    # Unquoted: tmux hands a command with quotes in it to the shell differently (the session died at once).
    $pwsh = (Get-PwshCommand | ForEach-Object { if ($_ -match '\s') { throw "A path with spaces cannot start pwsh in tmux here: $_" } $_ }) -join ' '
    $envArgs = foreach ($k in $Environment.Keys) { '-e'; "$k=$($Environment[$k])" }
    & tmux -S $socket new-session -d -s $name -x $Width -y $Height @envArgs "$pwsh -NoLogo -NoProfile"
    if ($LASTEXITCODE -ne 0) { throw 'tmux could not start a session.' }
    $t = [pscustomobject]@{ Name = $name; Socket = $socket }
    $null = Wait-Screen $t -Pattern 'PS .*> ?$' -TimeoutSec 30
    $t
}

function Stop-TerminalPwsh {
    param([Parameter(ValueFromPipeline)] $Terminal)
    process {
        if (-not $Terminal) { return }
        & tmux -S $Terminal.Socket kill-server 2> $null
        Remove-Item $Terminal.Socket -ErrorAction Ignore
    }
}

function Send-Keys {
    # -Literal text is typed as is; otherwise the arguments are tmux key names (Enter, C-c, Tab).
    param([Parameter(Mandatory)] $Terminal, [string] $Literal, [string[]] $Key)
    if ($Literal) { & tmux -S $Terminal.Socket send-keys -t $Terminal.Name -l -- $Literal }
    if ($Key) { & tmux -S $Terminal.Socket send-keys -t $Terminal.Name @Key }
}

function Get-Screen {
    param([Parameter(Mandatory)] $Terminal)
    (& tmux -S $Terminal.Socket capture-pane -p -t $Terminal.Name) -join "`n"
}

function Wait-Screen {
    <#
    .SYNOPSIS
        Polls the screen until the pattern matches (multiline); returns the screen, or throws with it at the deadline.
    #>
    param([Parameter(Mandatory)] $Terminal, [Parameter(Mandatory)] [string] $Pattern, [double] $TimeoutSec = 20, [int] $PollMs = 50)
    $deadline = [datetime]::UtcNow.AddSeconds($TimeoutSec)
    $regex = [regex]::new($Pattern, 'Multiline')
    while ($true) {
        $screen = Get-Screen $Terminal
        if ($regex.IsMatch($screen)) { return $screen }
        if ([datetime]::UtcNow -gt $deadline) { throw "The screen did not show /$Pattern/ within $TimeoutSec s:`n$screen" }
        Start-Sleep -Milliseconds $PollMs
    }
}

function Invoke-TerminalLine {
    # Types a line, presses Enter and waits for the next prompt after a marker echoed by the same line.
    param([Parameter(Mandatory)] $Terminal, [Parameter(Mandatory)] [string] $Line, [double] $TimeoutSec = 30)
    $marker = "done-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
    Send-Keys $Terminal -Literal "$Line; '$marker'" -Key Enter
    Wait-Screen $Terminal -Pattern "^$marker\s*$" -TimeoutSec $TimeoutSec
}

Export-ModuleMember -Function Test-Tmux, Start-TerminalPwsh, Stop-TerminalPwsh, Send-Keys, Get-Screen, Wait-Screen, Invoke-TerminalLine
