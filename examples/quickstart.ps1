# ExecBridge quickstart: a local codex exec-server, a command, a process with live output, an interactive
# process, files, and a clean disconnect.
#
#   dotnet tool restore; dotnet pwsh ./build.ps1 -Task Quickstart   # builds, fetches codex, runs this in pwsh
#   pwsh ./examples/quickstart.ps1                                   # after ./build.ps1, with codex on PATH
#                                                                    # or in $env:EXECBRIDGE_CODEX

$ErrorActionPreference = 'Stop'

if (-not (Get-Module ExecBridge)) {
    $manifest = if ($env:EXECBRIDGE_MODULE) { $env:EXECBRIDGE_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'ExecBridge' 'ExecBridge.psd1' }
    Import-Module $manifest
}

# 1. Start a private exec-server on 127.0.0.1 (codex from PATH, -ExecServerPath or $env:EXECBRIDGE_CODEX)
#    and connect to it with a fresh capability token.
$conn = Connect-ExecBridge -Local
Write-Host "[1] Connected to executor '$($conn.ExecutorId)' at $($conn.Uri) (dialect $($conn.Dialect))"

try {
    # 2. Run a command: stdout comes back as strings, the exit code lands in $LASTEXITCODE.
    $said = Invoke-RemoteCommand 'echo "hello from $(uname -s)"'
    Write-Host "[2] Invoke-RemoteCommand said: $said (exit code $LASTEXITCODE)"

    # 3. Start a process and stream its output live until it ends.
    $proc = Start-RemoteProcess -Command 'for i in 1 2 3; do echo "tick $i"; sleep 0.2; done; echo "done" >&2; exit 3'
    Write-Host "[3] Started process $($proc.ProcessId): $($proc.CommandLine)"
    Receive-RemoteOutput -Process $proc -Wait | ForEach-Object { Write-Host "    $($_.Stream): $($_.Line)" }
    Write-Host "[3] Process ended: state $($proc.State), exit code $($proc.ExitCode)"

    # 4. An interactive process: stdin stays open for Send-RemoteInput. The protocol cannot send EOF,
    #    so the process is ended in-band (here: the shell's own 'exit'; Stop-RemoteProcess also works).
    $shell = Start-RemoteProcess -FilePath sh -Interactive
    Send-RemoteInput -Process $shell -InputObject 'name=ExecBridge'
    'echo "nice to meet you, $name"', 'exit 0' | Send-RemoteInput -Process $shell
    $reply = Receive-RemoteOutput -Process $shell -Wait
    Write-Host "[4] The interactive shell answered: $reply (exit code $($shell.ExitCode))"

    # 5. Files: write one atomically, list the folder, read it back, remove it.
    $folder = "/tmp/execbridge-quickstart-$PID"
    $null = New-RemoteItem -Path $folder -ItemType Directory -Force
    Set-RemoteFile -Path "$folder/hello.txt" -Value 'first line', 'second line'
    Get-RemoteChildItem -Path $folder | Select-Object Name, Length | Format-Table | Out-String | Write-Host
    Write-Host "[5] hello.txt says: $((Get-RemoteFile -Path "$folder/hello.txt") -join ' / ')"
    Write-Host "[5] Exists: $(Test-RemotePath -Path "$folder/hello.txt")"
    Remove-RemoteItem -Path $folder -Recurse -Confirm:$false

    # 6. The session's connection pool.
    Get-ExecBridgeConnection | ForEach-Object { Write-Host "[6] Pool: $($_.ExecutorId) is $($_.State), $($_.Reconnects) reconnects" }
}
finally {
    # 7. Disconnect: a server started by -Local is stopped with it.
    $conn | Disconnect-ExecBridge
    Write-Host "[7] Disconnected; $(@(Get-ExecBridgeConnection).Count) connections left"
}
