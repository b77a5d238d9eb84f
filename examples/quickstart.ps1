# ExecBridge quickstart: a local codex exec-server, a command, a process with live output,
# an interactive process, and a clean disconnect.
#
#   bash tools/run-example.sh examples/quickstart.ps1      # no pwsh needed (hosted engine)
#   pwsh ./examples/quickstart.ps1                         # after ./build.ps1, with codex on PATH
#
# Written for the bare PowerShell engine too: only core cmdlets (no Write-Host, Start-Sleep,
# Select-Object, Join-Path), so it also runs under tools/ExecBridge.Host.

$ErrorActionPreference = 'Stop'

if (-not (Get-Module ExecBridge)) {
    $manifest = if ($env:EXECBRIDGE_MODULE) { $env:EXECBRIDGE_MODULE } else { "$PSScriptRoot/../out/ExecBridge/ExecBridge.psd1" }
    Import-Module $manifest
}

# 1. Start a private exec-server on 127.0.0.1 (codex from PATH, -ExecServerPath or $env:EXECBRIDGE_CODEX)
#    and connect to it with a fresh capability token.
$conn = Connect-ExecBridge -Local
"[1] Connected to executor '$($conn.ExecutorId)' at $($conn.Uri) (dialect $($conn.Dialect))"

try {
    # 2. Run a command: stdout comes back as strings, the exit code lands in $LASTEXITCODE.
    $said = Invoke-RemoteCommand 'echo "hello from $(uname -s)"'
    "[2] Invoke-RemoteCommand said: $said (exit code $LASTEXITCODE)"

    # 3. Start a process and stream its output live until it ends.
    $proc = Start-RemoteProcess -Command 'for i in 1 2 3; do echo "tick $i"; sleep 0.2; done; echo "done" >&2; exit 3'
    "[3] Started process $($proc.ProcessId): $($proc.CommandLine)"
    Receive-RemoteOutput -Process $proc -Wait | ForEach-Object { "    $($_.Stream): $($_.Line)" }
    "[3] Process ended: state $($proc.State), exit code $($proc.ExitCode)"

    # 4. An interactive process: stdin stays open for Send-RemoteInput. The protocol cannot send EOF,
    #    so the process is ended in-band (here: the shell's own 'exit'; Stop-RemoteProcess also works).
    $shell = Start-RemoteProcess -FilePath sh -Interactive
    Send-RemoteInput -Process $shell -InputObject 'name=ExecBridge'
    'echo "nice to meet you, $name"', 'exit 0' | Send-RemoteInput -Process $shell
    $reply = Receive-RemoteOutput -Process $shell -Wait
    "[4] The interactive shell answered: $reply (exit code $($shell.ExitCode))"

    # 5. The session's connection pool.
    Get-ExecBridgeConnection | ForEach-Object { "[5] Pool: $($_.ExecutorId) is $($_.State), $($_.Reconnects) reconnects" }
}
finally {
    # 6. Disconnect: a server started by -Local is stopped with it.
    $conn | Disconnect-ExecBridge
    "[6] Disconnected; $(@(Get-ExecBridgeConnection).Count) connections left"
}
