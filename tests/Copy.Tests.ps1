#Requires -Modules Pester
# Copy-RemoteItem in every direction: to and from this machine, within an executor, executor to executor by
# pump and by gateway relay (with New-RelayTicket), each checked byte for byte.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    $servers = @{
        'cp-legacy'  = Start-TestExecServer -Version (Get-CodexVersion -Dialect Legacy)
        'cp-current' = Start-TestExecServer -Version (Get-CodexVersion -Dialect Current)
    }
    $gateway = Start-TestGateway -Executor $servers
    foreach ($id in $servers.Keys) { $null = Connect-ExecBridge -GatewayUri $gateway.BridgeUri -ExecutorId $id -Token $gateway.SecureWorkspaceToken }

    $dir = New-TestFolder
    # 3 MiB of random bytes: several blocks and frames, so order and completeness are tested.
    $payload = [byte[]]::new(3MB)
    [Random]::new(42).NextBytes($payload)
    [IO.File]::WriteAllBytes("$dir/payload.bin", $payload)
    $payloadHash = (Get-FileHash "$dir/payload.bin" -Algorithm SHA256).Hash
    $null = New-Item -ItemType Directory "$dir/folder/inner" -Force
    Set-Content "$dir/folder/one.txt" 'one'
    Set-Content "$dir/folder/inner/two.txt" 'two'

    function Get-Hash([string] $Path) { (Get-FileHash $Path -Algorithm SHA256).Hash }
}

AfterAll {
    Disconnect-ExecBridge -All -Confirm:$false
    $gateway | Stop-TestGateway
    $servers.Values | Stop-TestExecServer
    Remove-Item $dir -Recurse -Force -ErrorAction Ignore
}

Describe 'Copy-RemoteItem between this machine and an executor (<_>)' -ForEach 'cp-legacy', 'cp-current' {
    It 'uploads a file with -ToExecutor and reports a verified result' {
        $r = Copy-RemoteItem -Path "$dir/payload.bin" -Destination "$dir/up-$_.bin" -ToExecutor $_ -PassThru
        $r.Length | Should -Be 3MB
        $r.Sha256 | Should -Be $payloadHash
        $r.DestinationStore | Should -Be $_
        Get-Hash "$dir/up-$_.bin" | Should -Be $payloadHash
    }

    It 'downloads a file with -FromExecutor' {
        $r = Copy-RemoteItem -Path "$dir/up-$_.bin" -Destination "$dir/down-$_.bin" -FromExecutor $_ -PassThru
        $r.SourceStore | Should -Be $_
        Get-Hash "$dir/down-$_.bin" | Should -Be $payloadHash
    }

    It 'refuses to replace an existing file without -Force, and leaves it as it was' {
        Set-Content "$dir/keep-$_.txt" 'keep me'
        { Copy-RemoteItem -Path "$dir/payload.bin" -Destination "$dir/keep-$_.txt" -ToExecutor $_ -ErrorAction Stop } |
            Should -Throw -ErrorId 'DestinationExists,*'
        Get-Content "$dir/keep-$_.txt" | Should -Be 'keep me'
        Copy-RemoteItem -Path "$dir/payload.bin" -Destination "$dir/keep-$_.txt" -ToExecutor $_ -Force
        Get-Hash "$dir/keep-$_.txt" | Should -Be $payloadHash
    }

    It 'copies a folder with -Recurse' {
        Copy-RemoteItem -Path "$dir/folder" -Destination "$dir/folder-up-$_" -ToExecutor $_ -Recurse
        Get-Content "$dir/folder-up-$_/inner/two.txt" | Should -Be 'two'
        Get-Content "$dir/folder-up-$_/one.txt" | Should -Be 'one'
    }

    It 'copies within the executor' {
        Copy-RemoteItem -Path "$dir/up-$_.bin" -Destination "$dir/within-$_.bin" -ExecutorId $_
        Get-Hash "$dir/within-$_.bin" | Should -Be $payloadHash
    }

    It 'reports a missing local source as LocalPathNotFound' {
        { Copy-RemoteItem -Path "$dir/nope.bin" -Destination "$dir/x.bin" -ToExecutor $_ -ErrorAction Stop } |
            Should -Throw -ErrorId 'LocalPathNotFound,*'
    }

    It 'gives a new file the source''s mode bits both ways, as cp does (0755, 0750, inside a -Recurse folder)' {
        $src = "$dir/modes-$_/src"
        $null = New-Item -ItemType Directory "$src/tree" -Force
        Set-Content "$src/run.sh" 'echo hi'
        chmod 0755 "$src/run.sh"
        Set-Content "$src/tree/group.sh" 'echo group'
        chmod 0750 "$src/tree/group.sh"
        Copy-RemoteItem -Path "$src/run.sh" -Destination "$dir/modes-$_/down.sh" -FromExecutor $_
        (Get-Item "$dir/modes-$_/down.sh").UnixMode | Should -Be '-rwxr-xr-x'
        Copy-RemoteItem -Path "$src/run.sh" -Destination "$dir/modes-$_/up.sh" -ToExecutor $_
        (Get-Item "$dir/modes-$_/up.sh").UnixMode | Should -Be '-rwxr-xr-x'
        Get-RemoteFile -Path "$src/tree/group.sh" -Destination "$dir/modes-$_/got.sh" -ExecutorId $_
        (Get-Item "$dir/modes-$_/got.sh").UnixMode | Should -Be '-rwxr-x---'
        Copy-RemoteItem -Path "$src/tree" -Destination "$dir/modes-$_/down-tree" -FromExecutor $_ -Recurse
        (Get-Item "$dir/modes-$_/down-tree/group.sh").UnixMode | Should -Be '-rwxr-x---'
        Copy-RemoteItem -Path "$src/tree" -Destination "$dir/modes-$_/up-tree" -ToExecutor $_ -Recurse
        (Get-Item "$dir/modes-$_/up-tree/group.sh").UnixMode | Should -Be '-rwxr-x---'
        # A plain file stays a plain file.
        (Get-Item "$dir/up-$_.bin").UnixMode | Should -Be '-rw-r--r--'
    }

    It 'changes nothing with -WhatIf' {
        Copy-RemoteItem -Path "$dir/payload.bin" -Destination "$dir/whatif-$_.bin" -ToExecutor $_ -WhatIf
        Test-Path "$dir/whatif-$_.bin" | Should -BeFalse
    }
}

Describe 'Copy-RemoteItem masks kept mode bits with the umask, as cp does' {
    It 'gives a 0777 source 0750 under umask 027, downloaded and uploaded (<_>)' -ForEach 'Legacy', 'Current' {
        $work = New-TestFolder
        Set-Content "$work/open.sh" 'echo open'
        chmod 0777 "$work/open.sh"
        $r = Invoke-ChildPwsh -Umask '027' -ArgumentList $work, (Get-CodexVersion -Dialect $_), (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Script @'
param($work, $version, $support)
$ErrorActionPreference = 'Stop'
Import-Module $support
Import-Module $env:EXECBRIDGE_MODULE
$server = Start-TestExecServer -Version $version
try {
    $null = Connect-ExecBridge -Uri $server.Uri -ExecutorId umask
    Copy-RemoteItem -Path "$work/open.sh" -Destination "$work/down.sh" -FromExecutor umask
    Copy-RemoteItem -Path "$work/open.sh" -Destination "$work/up.sh" -ToExecutor umask
}
finally { $server | Stop-TestExecServer }
'@
        $r.Error | Should -BeNullOrEmpty
        (Get-Item "$work/down.sh").UnixMode | Should -Be '-rwxr-x---'
        (Get-Item "$work/up.sh").UnixMode | Should -Be '-rwxr-x---'
        Remove-Item $work -Recurse -Force
    }
}

Describe 'Copy-RemoteItem between two executors' {
    It 'pumps the bytes through this machine with -Transport Pump (<_.From> to <_.To>)' -ForEach @(
        @{ From = 'cp-current'; To = 'cp-legacy' }, @{ From = 'cp-legacy'; To = 'cp-current' }
    ) {
        $r = Copy-RemoteItem -Path "$dir/payload.bin" -Destination "$dir/pump-$($_.To).bin" -FromExecutor $_.From -ToExecutor $_.To -Transport Pump -PassThru
        $r.Sha256 | Should -Be $payloadHash
        Get-Hash "$dir/pump-$($_.To).bin" | Should -Be $payloadHash
    }

    It 'keeps the execute bits of a new file pumped between executors (<_.From> to <_.To>)' -ForEach @(
        @{ From = 'cp-current'; To = 'cp-legacy' }, @{ From = 'cp-legacy'; To = 'cp-current' }
    ) {
        Set-Content "$dir/pumped.sh" 'echo pumped'
        chmod 0750 "$dir/pumped.sh"
        Copy-RemoteItem -Path "$dir/pumped.sh" -Destination "$dir/pumped-$($_.To).sh" -FromExecutor $_.From -ToExecutor $_.To -Transport Pump
        (Get-Item "$dir/pumped-$($_.To).sh").UnixMode | Should -Be '-rwxr-x---'
    }

    It 'says RelayNotConfigured for -Transport Relay before Set-ExecBridgeRelay' {
        { Copy-RemoteItem -Path "$dir/payload.bin" -Destination "$dir/norelay.bin" -FromExecutor cp-current -ToExecutor cp-legacy -Transport Relay -ErrorAction Stop } |
            Should -Throw -ErrorId 'RelayNotConfigured,*'
        Test-Path "$dir/norelay.bin" | Should -BeFalse
    }

    Context 'through the gateway relay' {
        BeforeAll {
            if (-not (Get-Command curl -ErrorAction Ignore)) { throw 'curl is needed on the executors for the relay (apt-get install curl).' }
            Set-ExecBridgeRelay -InternalUri $gateway.BaseUri -WorkspaceId $gateway.WorkspaceId -Secret $gateway.SecureInternalSecret
        }

        It 'relays the bytes between the executors with -Transport Relay (<_.From> to <_.To>)' -ForEach @(
            @{ From = 'cp-current'; To = 'cp-legacy' }, @{ From = 'cp-legacy'; To = 'cp-current' }
        ) {
            $r = Copy-RemoteItem -Path "$dir/payload.bin" -Destination "$dir/relay-$($_.To).bin" -FromExecutor $_.From -ToExecutor $_.To -Transport Relay -PassThru
            $r.Sha256 | Should -Be $payloadHash
            Get-Hash "$dir/relay-$($_.To).bin" | Should -Be $payloadHash
        }

        It 'keeps the execute bits of a new file relayed between executors (<_.From> to <_.To>)' -ForEach @(
            @{ From = 'cp-current'; To = 'cp-legacy' }, @{ From = 'cp-legacy'; To = 'cp-current' }
        ) {
            Set-Content "$dir/relayed.sh" 'echo relayed'
            chmod 0750 "$dir/relayed.sh"
            Copy-RemoteItem -Path "$dir/relayed.sh" -Destination "$dir/relayed-$($_.To).sh" -FromExecutor $_.From -ToExecutor $_.To -Transport Relay
            (Get-Item "$dir/relayed-$($_.To).sh").UnixMode | Should -Be '-rwxr-x---'
            (Get-Item "$dir/relay-$($_.To).bin").UnixMode | Should -Be '-rw-r--r--'
        }

        It 'mints a relay ticket whose view masks it' {
            $t = New-RelayTicket -SourceExecutorId cp-current -DestinationExecutorId cp-legacy -MaxBytes 1000
            $t | Should -BeOfType ([ExecBridge.RelayTicket])
            $t.SourceExecutorId | Should -Be 'cp-current'
            $t.ExpiresAt | Should -BeGreaterThan ([DateTimeOffset]::UtcNow)
            $t.MaskedTicket | Should -Not -BeNullOrEmpty
            ($t | Format-Table | Out-String) | Should -Not -Match ([regex]::Escape($t.GetTicket()))
            "$t" | Should -Not -Match ([regex]::Escape($t.GetTicket()))
        }
    }
}
