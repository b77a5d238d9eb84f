# For tests/Help.Tests.ps1: the world an example of the help runs in, and what each example must do.

function New-ExampleWorld {
    <#
    .SYNOPSIS
        Fresh folders, connections and variables for one example, read off its code:
        - $app: a folder on the executors (they run on this machine) with a small application's files;
          the current location is a second, local folder with app.tar.gz, logo.png and blob.bin.
        - $uri/$token: a direct exec-server with a capability token; $gatewayUri/$workspaceToken, $internalUri,
          $workspaceId, $internalSecret and $env:GATEWAY_INTERNAL_SECRET: the gateway fixture.
        - An example that connects itself (Connect-ExecBridge) starts with no connection; one that names executors
          (-ExecutorId build01, -FromExecutor web01, build* ...) gets them through the gateway; any other gets one
          local executor (Connect-ExecBridge -Local). New-RelayTicket and -Transport Relay get relay settings.
    #>
    param([string] $Code, [hashtable] $Fixture)
    $g = $Fixture.Gateway
    $app = New-TestFolder
    foreach ($dir in 'logs/archive', 'backups', 'out', 'releases/41', 'incoming') { $null = New-Item -ItemType Directory (Join-Path $app $dir) }
    Set-Content (Join-Path $app 'app.conf') "[server]`nport = 8080" -NoNewline
    Set-Content (Join-Path $app 'logs/app.log') "started`nready`n" -NoNewline
    Set-Content (Join-Path $app 'logs/old.log') "old`n" -NoNewline
    Set-Content (Join-Path $app 'logs/archive/2024.log') "archived`n" -NoNewline
    Set-Content (Join-Path $app 'out/manifest.json') '{}' -NoNewline
    Set-Content (Join-Path $app 'releases/41/VERSION') '1.4.1' -NoNewline
    $local = New-TestFolder
    $random = { param($path, $size) [IO.File]::WriteAllBytes($path, [Security.Cryptography.RandomNumberGenerator]::GetBytes($size)) }
    & $random (Join-Path $app 'backups/db.dump') 65536
    & $random (Join-Path $app 'out/app.tar.gz') 32768
    & $random (Join-Path $local 'app.tar.gz') 16384
    & $random (Join-Path $local 'logo.png') 2048
    & $random (Join-Path $local 'blob.bin') 3000

    Disconnect-ExecBridge -All -Confirm:$false
    if ($Code -notmatch '\bConnect-ExecBridge\b') {
        # A list (-ToExecutor build01, web01) names each of its executors.
        $named = [regex]::Matches($Code, '-(?:ExecutorId|FromExecutor|ToExecutor|SourceExecutorId|DestinationExecutorId)\s+([''"]?[\w.*?-]+[''"]?(?:\s*,\s*[''"]?[\w.*?-]+[''"]?)*)') |
            ForEach-Object { $_.Groups[1].Value -split '\s*,\s*' } | ForEach-Object { $_.Trim('''', '"') } | Sort-Object -Unique
        $ids = foreach ($n in $named) {
            $match = @($Fixture.GatewayIds | Where-Object { $_ -like $n })
            if (-not $match) { throw "The example names executor '$n'; the help tests serve $($Fixture.GatewayIds -join ', ') (tests/Support/HelpExamples.ps1)." }
            $match
        }
        if (-not $ids) { $null = Connect-ExecBridge -Local }
        foreach ($id in $ids | Sort-Object -Unique) { $null = Connect-ExecBridge -GatewayUri $g.BridgeUri -ExecutorId $id -Token $g.SecureWorkspaceToken }
    }
    if ($Code -match 'New-RelayTicket|-Transport\s+Relay' -and $Code -notmatch 'Set-ExecBridgeRelay') {
        Set-ExecBridgeRelay -InternalUri $g.BaseUri -WorkspaceId $g.WorkspaceId -Secret $g.SecureInternalSecret
    }
    $env:GATEWAY_INTERNAL_SECRET = $g.InternalSecret
    @{
        LocalDir  = $local
        Variables = @{
            app            = $app
            uri            = $Fixture.TokenServer.Uri
            token          = ConvertTo-SecureString $Fixture.TokenServer.Token -AsPlainText -Force
            gatewayUri     = $g.BridgeUri
            workspaceToken = $g.SecureWorkspaceToken
            internalUri    = $g.BaseUri
            workspaceId    = $g.WorkspaceId
            internalSecret = $g.SecureInternalSecret
        }
    }
}

function Clear-ExampleWorld($World) {
    Disconnect-ExecBridge -All -Confirm:$false
    Remove-Item $World.Variables.app, $World.LocalDir -Recurse -Force -ErrorAction Ignore
}

function Get-Sha256([string] $Path) { (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash }

# What each example's text promises, by '<cmdlet>/<example title>'. The checks run in the example's scope: they see
# its output ($objects: everything but errors), its variables and the world's ($app; the location is the local folder).
$ExampleChecks = @{
    'Connect-ExecBridge/Start and connect to a local exec-server' = {
        $objects.ExecutorId | Should -Be 'local'
        "$($objects.Kind)" | Should -Be 'Local'
    }
    'Connect-ExecBridge/Connect to an exec-server that requires a token' = {
        $objects.ExecutorId | Should -Be 'build01'
        "$($objects.Kind)" | Should -Be 'Direct'
        "$($objects.State)" | Should -Be 'Connected'
    }
    'Connect-ExecBridge/Connect through a gateway' = {
        "$($objects.Kind)" | Should -Be 'Gateway'
        "$($objects.Uri)" | Should -BeLike '*/bridge/exe-42'
    }
    'Connect-ExecBridge/Replace a connection' = {
        $objects.ExecutorId | Should -Be 'dev'
        @(Get-ExecBridgeConnection -ExecutorId dev).Count | Should -Be 1
    }
    'Disconnect-ExecBridge/Disconnect one executor' = {
        $objects | Should -BeNullOrEmpty
        Get-ExecBridgeConnection -ExecutorId build01 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
    'Disconnect-ExecBridge/Disconnect everything' = { @(Get-ExecBridgeConnection).Count | Should -Be 0 }
    'Get-ExecBridgeConnection/List all connections' = {
        $objects.ExecutorId | Should -Be 'local'
        $objects[0].PSObject.TypeNames | Should -Contain 'ExecBridge.ExecBridgeConnection'
    }
    'Get-ExecBridgeConnection/Find connections by name' = { $objects.ExecutorId | Should -Be 'build01' }
    'Start-RemoteProcess/Start a command and stream its output' = {
        @($objects | Select-Object -SkipLast 1 | ForEach-Object { "$_" }) | Should -Be 'compiling', 'done'
        $objects[-1] | Should -Be 0
    }
    'Start-RemoteProcess/Run a program with arguments and environment' = { "$objects" | Should -Be '3' }
    'Start-RemoteProcess/Start the same process on several executors' = {
        $watchers.ExecutorId | Should -Be 'build01', 'web01'
        $objects.ExecutorId | Should -Be 'build01', 'web01'
    }
    'Start-RemoteProcess/Start an interactive process' = { @($objects | ForEach-Object { "$_" }) | Should -Be 'hello' }
    'Get-RemoteProcess/List the processes of the session' = {
        $objects[0].PSObject.TypeNames | Should -Contain 'ExecBridge.RemoteProcess'
        "$($objects.State)" | Should -Be 'Running'
        $objects.CommandLine | Should -BeLike '*sleep 30*'
    }
    'Get-RemoteProcess/Stop every running process of one executor' = {
        # Stop-RemoteProcess does not wait for the end: give the kill a moment to be reported.
        $deadline = [datetime]::UtcNow.AddSeconds(10)
        while ((Get-RemoteProcess -ExecutorId build01 | Where-Object State -eq Running) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        Get-RemoteProcess -ExecutorId build01 | Where-Object State -eq Running | Should -BeNullOrEmpty
    }
    'Receive-RemoteOutput/Stream output live' = { @($objects | ForEach-Object { "$_" }) | Should -Be '1', '2', '3' }
    'Receive-RemoteOutput/Poll for new output' = {
        $lines = @($objects | ForEach-Object { "$_" })
        $lines.Count | Should -BeGreaterOrEqual 2
        @($lines | Select-Object -Unique).Count | Should -Be $lines.Count -Because 'no line is returned twice'
    }
    'Receive-RemoteOutput/Keep only stderr' = {
        "$objects" | Should -Be 'broken'
        "$($objects.Stream)" | Should -Be 'Stderr'
    }
    'Receive-RemoteOutput/Save the exact bytes' = { (Get-Item ./out.bin).Length | Should -Be 4096 }
    'Send-RemoteInput/Drive a shell' = { @($objects | ForEach-Object { "$_" }) | Should -Be 'Linux' }
    'Send-RemoteInput/Send bytes to a program that knows the length' = {
        Get-Sha256 "$app/blob.bin" | Should -Be (Get-Sha256 ./blob.bin)
    }
    'Wait-RemoteProcess/Wait for background builds' = {
        @($objects | ForEach-Object { "$_" }) | Should -Be '0', '0', 'a', 'b'
    }
    'Wait-RemoteProcess/Wait for the first of several, at most a few seconds' = {
        $first.CommandLine | Should -Be 'exit 3'
        "$objects" | Should -Be '3'
    }
    'Remove-RemoteProcess/Tidy up the processes that have ended' = { "$objects" | Should -Be '0' }
    'Remove-RemoteProcess/Stop and remove a process that is still running' = {
        $objects | Should -BeNullOrEmpty
        Get-RemoteProcess | Should -BeNullOrEmpty
    }
    'Invoke-RemoteCommand/Give up on a command that hangs' = {
        @($objects | ForEach-Object { "$_" }) | Should -Be 'waiting', 'OperationTimeout'
        $late[0].FullyQualifiedErrorId | Should -BeLike 'OperationTimeout,*'
    }
    'Get-RemoteFile/Show the first and last lines of a file' = { @($objects | ForEach-Object { "$_" }) | Should -Be 'ready', '[server]' }
    'Stop-RemoteProcess/Kill a process' = { "$($objects[-1])" | Should -Be 'Exited' }
    'Stop-RemoteProcess/Interrupt a process and collect what it printed' = {
        @($objects | ForEach-Object { "$_" }) | Should -Be 'started', 'interrupted'
        $p.ExitCode | Should -Be 130
    }
    'Invoke-RemoteCommand/Run a command' = { "$objects" | Should -Match '^Linux ' }
    'Invoke-RemoteCommand/Fail fast in a runbook' = {
        $objects[-1] | Should -Be 'backed up'
        Get-Sha256 "$app/app.conf.bak" | Should -Be (Get-Sha256 "$app/app.conf")
    }
    'Invoke-RemoteCommand/Check the exit code yourself' = { $objects | Should -Be 'no data folder' }
    'Invoke-RemoteCommand/Run on many executors at once' = {
        $objects.ExecutorId | Sort-Object | Should -Be 'build01', 'web01'
        @($objects | ForEach-Object { "$_" }) | Should -Be 'ready', 'ready'
        ($objects | Out-String) | Should -Match '(?m)^web01\s+ready'
    }
    'Invoke-RemoteCommand/Decide from one summary per executor' = {
        $objects | Should -BeNullOrEmpty
        $summary.ExecutorId | Should -Be 'build01', 'web01'
        $summary.ExitCode | Should -Be 0, 0
    }
    'Invoke-RemoteCommand/Run in the background as a job' = {
        @($objects | ForEach-Object { "$_" }) | Should -Be 'done', 'done'
        $objects.ExecutorId | Sort-Object | Should -Be 'build01', 'web01'
        $job.PSJobTypeName | Should -Be 'ExecBridgeJob'
        "$($job.State)" | Should -Be 'Completed'
        $job | Remove-Job
    }
    'Invoke-RemoteCommand/Pipe input to the command''s stdin' = { "$objects".Trim() | Should -Be '3' }
    'Connect-ExecBridge/Connect many executors through a gateway at once' = {
        $fleet.ExecutorId | Should -Be 'build01', 'web01', 'exe-42'
        $objects | Should -BeNullOrEmpty
    }
    'Invoke-RemoteCommand/Keep stderr apart' = { @($objects | ForEach-Object { "$_" }) | Should -Be 'result', 'stderr: warning' }
    'Get-RemoteFile/Read a text file' = { $objects | Should -Be (Get-Content /etc/os-release) }
    'Get-RemoteFile/Download a file' = {
        Get-Sha256 ./db.dump | Should -Be (Get-Sha256 "$app/backups/db.dump")
        $objects.Sha256 | Should -Be (Get-Sha256 ./db.dump)
    }
    'Get-RemoteFile/Read part of a file' = { $objects | Should -Be 'start' }
    'Get-RemoteFile/Read and collect a file from many executors at once' = {
        $lines = @($objects | Where-Object { $_ -is [string] })
        $lines.ExecutorId | Sort-Object | Should -Be 'build01', 'web01'
        @($lines | ForEach-Object { "$_" }) | Should -Be '[server]', '[server]'
        ($lines | Out-String) | Should -Match '(?m)^web01\s+\[server\]'
        $copies = @($objects | Where-Object { $_ -isnot [string] })
        $copies.Destination | Sort-Object | Should -Be @('build01', 'web01' | ForEach-Object { Join-Path (Resolve-Path ./collected) $_ 'app.log' })
        foreach ($id in 'build01', 'web01') { Get-Sha256 "./collected/$id/app.log" | Should -Be (Get-Sha256 "$app/logs/app.log") }
    }
    'Set-RemoteFile/Write the same file on many executors' = {
        $objects.ExecutorId | Sort-Object | Should -Be 'build01', 'web01'
        $objects.FullName | Sort-Object -Unique | Should -Be "$app/MOTD"
        Get-Content "$app/MOTD" | Should -Be 'maintenance until 18:00'
        ($objects | Out-String) | Should -Match 'web01:'
    }
    'Set-RemoteFile/Write a config file' = { Get-Content "$app/etc/app.conf" | Should -Be '[server]', 'port = 8080' }
    'Set-RemoteFile/Upload bytes' = {
        Get-Sha256 "$app/logo.png" | Should -Be (Get-Sha256 ./logo.png)
        $objects.Name | Should -Be 'logo.png'
    }
    'Get-RemoteItem/Get a file''s metadata' = {
        $objects.FullName | Should -Be '/etc/hostname'
        $objects[0].Length | Should -Be (Get-Item /etc/hostname).Length
    }
    'Get-RemoteItem/Get several items' = {
        $objects.Name | Should -Be 'app.conf', 'logs'
        $objects.IsDirectory | Should -Be $false, $true
    }
    'Get-RemoteItem/Test whether a path exists' = { $objects | Should -Be 'not deployed' }
    'Test-RemotePath/Decide on a file''s presence' = { $objects | Should -Be 'not deployed' }
    'Test-RemotePath/Tell folders from files' = { $objects | Should -Be $true, $false }
    'Test-RemotePath/List the tools a build box lacks' = { $objects | Should -Be '/opt/no-such-tool/bin/tool' }
    'Get-RemoteChildItem/List a folder' = {
        $objects.Name | Sort-Object | Should -Be 'app.conf', 'backups', 'incoming', 'logs', 'out', 'releases'
    }
    'Get-RemoteChildItem/Find log files in a tree' = { $objects.Name | Sort-Object | Should -Be '2024.log', 'app.log', 'old.log' }
    'Get-RemoteChildItem/Show mode bits, owner and group' = {
        $local = Get-Item "$app/app.conf"
        $objects.Name | Should -Be 'app.conf'
        "$($objects.UnixMode) $($objects.User) $($objects.Group)" | Should -Be "$($local.UnixMode) $($local.User) $($local.Group)"
    }
    'Get-RemoteChildItem/List the folders one level down' = {
        $objects.Name | Sort-Object | Should -Be 'backups', 'incoming', 'logs', 'out', 'releases'
    }
    'New-RemoteItem/Create a folder tree' = {
        Test-Path "$app/releases/42" -PathType Container | Should -BeTrue
        $objects.IsDirectory | Should -BeTrue
    }
    'New-RemoteItem/Create a file with content' = { Get-Content "$app/VERSION" -Raw | Should -Be '1.4.2' }
    'Remove-RemoteItem/Remove a file' = { Test-Path "$app/logs/old.log" | Should -BeFalse }
    'Remove-RemoteItem/Remove a folder tree' = { Test-Path "$app/releases/41" | Should -BeFalse }
    'Copy-RemoteItem/Download a folder' = {
        Get-Sha256 ./out/app.tar.gz | Should -Be (Get-Sha256 "$app/out/app.tar.gz")
        Test-Path ./out/manifest.json | Should -BeTrue
    }
    'Copy-RemoteItem/Upload a file' = {
        Get-Sha256 "$app/incoming/app.tar.gz" | Should -Be (Get-Sha256 ./app.tar.gz)
        $objects.Sha256 | Should -Be (Get-Sha256 ./app.tar.gz)
    }
    'Copy-RemoteItem/Copy between executors' = {
        Get-Sha256 "$app/incoming/app.tar.gz" | Should -Be (Get-Sha256 "$app/out/app.tar.gz")
    }
    'Copy-RemoteItem/Copy within one executor' = { Get-Sha256 "$app/app.conf.bak" | Should -Be (Get-Sha256 "$app/app.conf") }
    'Copy-RemoteItem/Collect a file from many executors' = {
        foreach ($id in 'build01', 'web01') { Get-Sha256 "./configs/$id/app.conf" | Should -Be (Get-Sha256 "$app/app.conf") }
        @(Get-ChildItem ./configs -Name) | Should -Be 'build01', 'web01'
        $objects.SourceStore | Sort-Object | Should -Be 'build01', 'web01'
        ($objects | Out-String) | Should -Match '(?m)\sweb01:/' -Because 'the view starts the source with its executor'
    }
    'Copy-RemoteItem/Upload to many executors in the background' = {
        $job.PSJobTypeName | Should -Be 'ExecBridgeJob'
        "$($job.State)" | Should -Be 'Completed'
        $job.ChildJobs.Location | Should -Be 'build01', 'web01'
        $objects.DestinationStore | Sort-Object | Should -Be 'build01', 'web01'
        Get-Sha256 "$app/releases/41/app.tar.gz" | Should -Be (Get-Sha256 ./app.tar.gz)
        $job | Remove-Job
    }
    'Set-ExecBridgeRelay/Configure the relay from an environment variable' = {
        $objects | Should -BeNullOrEmpty
        (New-RelayTicket -SourceExecutorId build01 -DestinationExecutorId web01).UploadUri | Should -Not -BeNullOrEmpty
    }
    'Set-ExecBridgeRelay/Configure the relay and copy through it' = {
        Get-Sha256 "$app/incoming/app.tar.gz" | Should -Be (Get-Sha256 "$app/out/app.tar.gz")
    }
    'New-RelayTicket/Mint a ticket' = {
        $expires = [datetimeoffset]$objects[0]
        $expires | Should -BeGreaterThan ([datetimeoffset]::Now.AddMinutes(1))
        $expires | Should -BeLessThan ([datetimeoffset]::Now.AddMinutes(3))
    }
    'New-RelayTicket/Limit what a ticket may carry' = {
        $objects.MaxBytes | Should -Be 10MB
        $objects.MaskedTicket | Should -Not -BeNullOrEmpty
        $objects[0].PSObject.Properties.Name | Should -Not -Contain 'Ticket'
    }
}
