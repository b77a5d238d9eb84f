#Requires -Modules Pester
# What a user sees of every output type: the default views, Format-List *, ConvertTo-Json, Export-Clixml and a
# transcript with -Verbose -Debug — readable, and free of the token, the relay secret and the ticket in use.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    $direct = Start-TestExecServer -Version (Get-CodexVersion -Dialect Current) -WithToken
    $other = Start-TestExecServer -Version (Get-CodexVersion -Dialect Legacy)
    $gateway = Start-TestGateway -Executor @{ 'view-gw' = $other }
    $dir = New-TestFolder
    Set-Content "$dir/file.txt" 'some text'

    $transcript = Join-Path $dir 'transcript.txt'
    $null = Start-Transcript -LiteralPath $transcript
    try {
        $VerbosePreference = 'Continue'; $DebugPreference = 'Continue'
        $objects = [ordered]@{}
        $objects.Connection = Connect-ExecBridge -Uri $direct.Uri -ExecutorId view -Token (ConvertTo-SecureString $direct.Token -AsPlainText -Force)
        $null = Connect-ExecBridge -GatewayUri $gateway.BridgeUri -ExecutorId 'view-gw' -Token $gateway.SecureWorkspaceToken
        Set-ExecBridgeRelay -InternalUri $gateway.BaseUri -WorkspaceId $gateway.WorkspaceId -Secret $gateway.SecureInternalSecret
        $objects.Process = Start-RemoteProcess -Command 'echo out; echo err >&2' -ExecutorId view
        $objects.OutputLine = @(Receive-RemoteOutput -Process $objects.Process -Wait)[0]
        $p2 = Start-RemoteProcess -Command 'printf abc' -ExecutorId view
        $objects.OutputChunk = @(Receive-RemoteOutput -Process $p2 -Wait -Raw)[0]
        $objects.Item = Get-RemoteItem -Path "$dir/file.txt" -ExecutorId view
        $objects.CopyResult = Copy-RemoteItem -Path "$dir/file.txt" -Destination "$dir/copy.txt" -FromExecutor view -PassThru
        $objects.Ticket = New-RelayTicket -SourceExecutorId 'view-gw' -DestinationExecutorId 'view-gw'
        $ticketSecret = $objects.Ticket.GetTicket()
        $objects.Connection | Format-List * | Out-String | Out-Null
    }
    finally {
        $VerbosePreference = 'SilentlyContinue'; $DebugPreference = 'SilentlyContinue'
        $null = Stop-Transcript
    }

    $secrets = @{
        'exec-server token'        = $direct.Token
        'workspace token'          = $gateway.WorkspaceToken
        'relay secret'             = $gateway.InternalSecret
        'relay ticket'             = $ticketSecret
    }
    function Assert-NoSecret([string] $Text, [string] $What) {
        foreach ($name in $secrets.Keys) {
            if ($Text.Contains($secrets[$name])) { throw "$What shows the $name." }
        }
    }
}

AfterAll {
    Disconnect-ExecBridge -All -Confirm:$false
    $gateway | Stop-TestGateway
    $direct, $other | Stop-TestExecServer
    Remove-Item $dir -Recurse -Force -ErrorAction Ignore
}

Describe 'The view of <Name>' -ForEach @(
    @{ Name = 'Connection'; Shows = 'ExecutorId' }, @{ Name = 'Process'; Shows = 'ProcessId' }
    @{ Name = 'OutputLine'; Shows = 'Line' }, @{ Name = 'OutputChunk'; Shows = 'Length' }
    @{ Name = 'Item'; Shows = 'Name' }, @{ Name = 'CopyResult'; Shows = 'Length' }
    @{ Name = 'Ticket'; Shows = 'SourceExecutorId' }
) {
    BeforeAll { $o = $objects[$Name] }

    It 'is an ExecBridge type declared as some cmdlet''s OutputType' {
        $o.GetType().Namespace | Should -Be 'ExecBridge'
        $declared = Get-Command -Module ExecBridge | ForEach-Object { $_.OutputType.Type } | Where-Object { $_ }
        $declared | Should -Contain $o.GetType()
    }

    It 'has a default view that shows its <Shows>, not a type name' {
        $text = $o | Out-String
        $text | Should -Not -Match ([regex]::Escape($o.GetType().FullName))
        $text | Should -Match ([regex]::Escape("$($o.$Shows)"))
    }

    It 'shows no secret in Format-Table, Format-List, Format-List * or ToString()' {
        Assert-NoSecret ($o | Format-Table | Out-String) 'Format-Table'
        Assert-NoSecret ($o | Format-List | Out-String) 'Format-List'
        Assert-NoSecret ($o | Format-List * | Out-String) 'Format-List *'
        Assert-NoSecret "$o" 'ToString()'
    }

    It 'converts to JSON without a secret' {
        $json = $o | ConvertTo-Json -Depth 5 -WarningAction SilentlyContinue
        $json | Should -Not -BeNullOrEmpty
        Assert-NoSecret $json 'ConvertTo-Json'
    }

    It 'exports to CliXml without a secret' {
        $file = Join-Path $dir "$Name.clixml"
        $o | Export-Clixml -LiteralPath $file -Depth 3
        Assert-NoSecret (Get-Content -Raw $file) 'Export-Clixml'
    }
}

Describe 'A transcript with -Verbose and -Debug on' {
    It 'recorded the verbose lines of the session' {
        $text = Get-Content -Raw $transcript
        $text | Should -Match 'VERBOSE:'
    }

    It 'holds no token, relay secret or ticket' {
        Assert-NoSecret (Get-Content -Raw $transcript) 'The transcript'
    }
}
