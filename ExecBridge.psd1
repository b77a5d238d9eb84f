@{
    # The one version number of the project: the csproj files read it from here at build time.
    ModuleVersion        = '0.1.0'
    RootModule           = 'ExecBridge.dll'
    GUID                 = '5b0f8a2e-6c1d-4f43-9a57-2e8d3c9b1f70'
    Author               = 'ExecBridge contributors'
    CompanyName          = 'ExecBridge'
    Copyright            = '(c) ExecBridge contributors. MIT License.'
    Description          = 'Drive codex exec-servers from PowerShell: processes with live output, remote files, gateway relays.'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Core', 'Desktop')
    FormatsToProcess     = @('ExecBridge.format.ps1xml', 'ExecBridge.Files.format.ps1xml', 'ExecBridge.Relay.format.ps1xml')
    FunctionsToExport    = @()
    CmdletsToExport      = @(
        'Connect-ExecBridge'
        'Disconnect-ExecBridge'
        'Get-ExecBridgeConnection'
        'Start-RemoteProcess'
        'Get-RemoteProcess'
        'Receive-RemoteOutput'
        'Send-RemoteInput'
        'Stop-RemoteProcess'
        'Wait-RemoteProcess'
        'Remove-RemoteProcess'
        'Invoke-RemoteCommand'
        'Enter-RemoteShell'
        'Get-RemoteFile'
        'Set-RemoteFile'
        'Get-RemoteItem'
        'Test-RemotePath'
        'Get-RemoteChildItem'
        'New-RemoteItem'
        'Remove-RemoteItem'
        'Copy-RemoteItem'
        'Set-ExecBridgeRelay'
        'New-RelayTicket'
    )
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('codex', 'exec-server', 'remoting', 'JSON-RPC', 'WebSocket')
            ProjectUri = 'https://example.invalid/execbridge'
        }
    }
}
