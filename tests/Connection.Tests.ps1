#Requires -Modules Pester
# Connecting: -Uri with and without a token, -Local, through the gateway; the pool as a user sees it.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $script:Dialects = Get-TestDialect
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

AfterAll {
    Disconnect-ExecBridge -All -Confirm:$false
}

Describe 'Connect-ExecBridge -Uri (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $server = Start-TestExecServer -Version $Version
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $server | Stop-TestExecServer
    }

    It 'returns a connection object that names the executor, its dialect and state' {
        $c = Connect-ExecBridge -Uri $server.Uri -ExecutorId "plain-$Dialect"
        $c.ExecutorId | Should -Be "plain-$Dialect"
        "$($c.State)" | Should -Be 'Connected'
        "$($c.Dialect)" | Should -Be $Dialect
        $c.SessionId | Should -Not -BeNullOrEmpty
    }

    It 'lists the connection in the pool' {
        $c = Get-ExecBridgeConnection -ExecutorId "plain-$Dialect"
        $c.ExecutorId | Should -Be "plain-$Dialect"
        $c.Uri.TrimEnd("/") | Should -Be $server.Uri
    }

    It 'refuses a second connection with the same id unless -Force' {
        { Connect-ExecBridge -Uri $server.Uri -ExecutorId "plain-$Dialect" -ErrorAction Stop } |
            Should -Throw -ErrorId 'ExecutorAlreadyConnected,ExecBridge.Cmdlets.ConnectExecBridge'
        (Connect-ExecBridge -Uri $server.Uri -ExecutorId "plain-$Dialect" -Force).ExecutorId | Should -Be "plain-$Dialect"
    }

    It 'disconnects by id and forgets the connection' {
        Disconnect-ExecBridge -ExecutorId "plain-$Dialect" -Confirm:$false
        Get-ExecBridgeConnection -ExecutorId "plain-$Dialect" -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}

Describe 'Connect-ExecBridge errors' {
    It 'reports nothing listening as ConnectionRefused with the address as target' {
        $port = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
        $port.Start(); $free = $port.LocalEndpoint.Port; $port.Stop()
        $err = { Connect-ExecBridge -Uri "ws://127.0.0.1:$free" -ExecutorId refused -TimeoutSec 5 -ErrorAction Stop } |
            Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -BeLike 'ConnectionRefused,*'
        "$($err.CategoryInfo.Category)" | Should -Be 'ConnectionError'
        "$($err.TargetObject)" | Should -BeLike "*127.0.0.1:$free*"
    }

    It 'rejects an address that is not ws:// or wss:// as InvalidExecutorUri' {
        { Connect-ExecBridge -Uri 'http://127.0.0.1:1' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidExecutorUri,*'
    }
}

Describe 'Connect-ExecBridge with a capability token' {
    BeforeAll {
        $server = Start-TestExecServer -Version (Get-CodexVersion -Dialect Current) -WithToken
        $secure = ConvertTo-SecureString $server.Token -AsPlainText -Force
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $server | Stop-TestExecServer
    }

    It 'connects with the right token' {
        (Connect-ExecBridge -Uri $server.Uri -ExecutorId tokened -Token $secure).State | Should -Be 'Connected'
        Invoke-RemoteCommand 'echo authed' -ExecutorId tokened | Should -Be 'authed'
    }

    It 'reports a wrong token as AuthenticationFailed' {
        $wrong = ConvertTo-SecureString 'not-the-token' -AsPlainText -Force
        $err = { Connect-ExecBridge -Uri $server.Uri -ExecutorId wrong -Token $wrong -ErrorAction Stop } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -BeLike 'AuthenticationFailed,*'
        "$($err.CategoryInfo.Category)" | Should -Be 'AuthenticationError'
        $err.Exception.Message | Should -Not -Match 'not-the-token'
    }
}

Describe 'Connect-ExecBridge -Local' {
    BeforeAll {
        $env:EXECBRIDGE_CODEX = Get-CodexPath (Get-CodexVersion -Dialect Current)
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
    }

    It 'starts a private exec-server on 127.0.0.1 and connects to it' {
        $c = Connect-ExecBridge -Local -ExecutorId mine
        ([uri]$c.Uri).Host | Should -Be '127.0.0.1'
        Invoke-RemoteCommand 'echo local' -ExecutorId mine | Should -Be 'local'
    }

    It 'reports a missing codex binary as LocalExecServerFailed' {
        { Connect-ExecBridge -Local -ExecutorId nocodex -ExecServerPath '/nonexistent/codex' -ErrorAction Stop } |
            Should -Throw -ErrorId 'LocalExecServerFailed,*'
    }

    It 'stops the server on Disconnect' {
        $c = Connect-ExecBridge -Local -ExecutorId shortlived
        $port = ([uri]$c.Uri).Port
        Disconnect-ExecBridge -ExecutorId shortlived -Confirm:$false
        $probe = [Net.Sockets.TcpClient]::new()
        { $probe.Connect('127.0.0.1', $port) } | Should -Throw
        $probe.Dispose()
    }
}

Describe 'Connect-ExecBridge -GatewayUri' {
    BeforeAll {
        $servers = @{
            'gw-legacy'  = Start-TestExecServer -Version (Get-CodexVersion -Dialect Legacy)
            'gw-current' = Start-TestExecServer -Version (Get-CodexVersion -Dialect Current)
        }
        $gateway = Start-TestGateway -Executor $servers
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $gateway | Stop-TestGateway
        $servers.Values | Stop-TestExecServer
    }

    It 'connects to <_> through the gateway and runs a command' -ForEach 'gw-legacy', 'gw-current' {
        $c = Connect-ExecBridge -GatewayUri $gateway.BridgeUri -ExecutorId $_ -Token $gateway.SecureWorkspaceToken
        $c.ExecutorId | Should -Be $_
        Invoke-RemoteCommand 'echo through' -ExecutorId $_ | Should -Be 'through'
    }

    It 'reports a wrong workspace token as AuthenticationFailed' {
        $wrong = ConvertTo-SecureString 'wst_wrong' -AsPlainText -Force
        { Connect-ExecBridge -GatewayUri $gateway.BridgeUri -ExecutorId 'gw-current' -Token $wrong -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'AuthenticationFailed,*'
    }
}
