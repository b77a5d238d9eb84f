#Requires -Modules Pester
# Get-RemoteFile and Set-RemoteFile on several executors at once, through the gateway fixture, both dialects. Each
# executor is its own exec-server with its own HOME, so '~/x' names a different file on each: content read from the
# wrong executor, or written to the wrong one, shows.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $script:Dialects = Get-TestDialect
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    # The most .eb-* partial files seen at once below 'folders' while 'action' runs (sampled every few ms on another thread).
    function Measure-PartialOverlap([string[]] $Folders, [scriptblock] $Action) {
        $state = [hashtable]::Synchronized(@{ Stop = $false; Max = 0 })
        $ps = [powershell]::Create()
        $null = $ps.AddScript({
                param($folders, $state)
                while (-not $state.Stop) {
                    $n = 0
                    foreach ($f in $folders) { if ([IO.Directory]::Exists($f)) { $n += [IO.Directory]::GetFiles($f, '.eb-*', 'AllDirectories').Count } }
                    if ($n -gt $state.Max) { $state.Max = $n }
                    [Threading.Thread]::Sleep(2)
                }
            }).AddArgument($Folders).AddArgument($state)
        $async = $ps.BeginInvoke()
        try { $null = & $Action }
        finally { $state.Stop = $true; $null = $ps.EndInvoke($async); $ps.Dispose() }
        $state.Max
    }

    function New-RandomFile([string] $Path, [int] $Size) {
        [IO.File]::WriteAllBytes($Path, [Security.Cryptography.RandomNumberGenerator]::GetBytes($Size))
    }

    function Get-Sha256([string] $Path) { (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash }
}

Describe 'Get-RemoteFile and Set-RemoteFile on several executors (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $three = 'ff-a', 'ff-b', 'ff-c'
        $homes = @{}
        $servers = @{}
        foreach ($id in $three) {
            $homes[$id] = New-TestFolder
            $servers[$id] = Start-TestExecServer -Version $Version -UserHome $homes[$id]
            Set-Content (Join-Path $homes[$id] 'id.txt') "first of $id", "second of $id", "third of $id"
        }
        # An executor that cannot read root's 0000 files (root ignores file modes).
        $homes['ff-nobody'] = New-TestFolder
        chmod 777 $homes['ff-nobody']
        $servers['ff-nobody'] = Start-TestExecServer -Version $Version -AsNobody -UserHome $homes['ff-nobody']
        $servers['ff-dead'] = Start-TestExecServer -Version $Version
        $gateway = Start-TestGateway -Executor $servers
        $conns = Connect-ExecBridge -GatewayUri $gateway.BridgeUri -ExecutorId ($three + 'ff-nobody', 'ff-dead') -Token $gateway.SecureWorkspaceToken
        $local = New-TestFolder
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $gateway | Stop-TestGateway
        $servers.Values | Stop-TestExecServer
        Remove-Item (@($homes.Values) + $local) -Recurse -Force -ErrorAction Ignore
    }

    Context 'Get-RemoteFile' {
        It 'reads a file on three executors at once, each line tagged with the executor whose file it is' {
            $out = Get-RemoteFile '~/id.txt' -ExecutorId $three
            $out.Count | Should -Be 9
            foreach ($line in $out) {
                $line | Should -BeOfType [string]
                $line.PSObject.TypeNames[0] | Should -Be 'ExecBridge.ExecutorOutput'
                "$line" | Should -BeLike "* of $($line.ExecutorId)"
            }
            foreach ($id in $three) {
                @($out | Where-Object ExecutorId -eq $id | ForEach-Object { "$_" }) | Should -Be "first of $id", "second of $id", "third of $id"
            }
            ($out | Out-String) | Should -Match '(?m)^ff-b\s+second of ff-b\s*$'
        }

        It 'tags -Raw strings and -AsByteStream byte arrays with their executor' {
            $raw = Get-RemoteFile '~/id.txt' -ExecutorId $three -Raw
            $raw.Count | Should -Be 3
            foreach ($r in $raw) { "$r" | Should -Be "first of $($r.ExecutorId)`nsecond of $($r.ExecutorId)`nthird of $($r.ExecutorId)`n" }
            foreach ($id in $three) { New-RandomFile (Join-Path $homes[$id] 'bytes.bin') 1000 }
            $bytes = Get-RemoteFile '~/bytes.bin' -ExecutorId $three -AsByteStream
            $bytes.Count | Should -Be 3
            foreach ($b in $bytes) {
                $b -is [byte[]] | Should -BeTrue
                [Convert]::ToHexString($b) | Should -Be ([Convert]::ToHexString([IO.File]::ReadAllBytes((Join-Path $homes[$b.ExecutorId] 'bytes.bin'))))
            }
        }

        It 'applies -TotalCount, -Tail and -Offset/-Length to each executor''s file' {
            $first = Get-RemoteFile '~/id.txt' -ExecutorId $three -TotalCount 1
            $first | ForEach-Object { "$_" } | Sort-Object | Should -Be 'first of ff-a', 'first of ff-b', 'first of ff-c'
            $last = Get-RemoteFile '~/id.txt' -ExecutorId $three -Tail 2
            foreach ($id in $three) { @($last | Where-Object ExecutorId -eq $id | ForEach-Object { "$_" }) | Should -Be "second of $id", "third of $id" }
            $slice = Get-RemoteFile '~/id.txt' -ExecutorId $three -Offset 9 -Length 4 -Raw
            $slice | ForEach-Object { "$($_.ExecutorId)=$_" } | Sort-Object | Should -Be 'ff-a=ff-a', 'ff-b=ff-b', 'ff-c=ff-c'
        }

        It 'takes wildcards on connected ids, a -Connection list, and connections piped in with -Path' {
            (Get-RemoteFile '~/id.txt' -ExecutorId 'ff-[ab]' -TotalCount 1).ExecutorId | Sort-Object | Should -Be 'ff-a', 'ff-b'
            (Get-RemoteFile '~/id.txt' -Connection $conns[1], $conns[2] -TotalCount 1).ExecutorId | Sort-Object | Should -Be 'ff-b', 'ff-c'
            $piped = Get-ExecBridgeConnection -ExecutorId 'ff-a', 'ff-c' | Get-RemoteFile -Path '~/id.txt' -TotalCount 1
            $piped | ForEach-Object { "$($_.ExecutorId)=$_" } | Sort-Object | Should -Be 'ff-a=first of ff-a', 'ff-c=first of ff-c'
            # Items still take their own executor, record by record.
            $items = $three | ForEach-Object { Get-RemoteItem '~/id.txt' -ExecutorId $_ }
            ($items | Get-RemoteFile -TotalCount 1) | Should -Be 'first of ff-a', 'first of ff-b', 'first of ff-c'
        }

        It 'goes on when one executor fails: missing file, permission denied, not connected, server gone; each error names its executor' {
            Remove-Item (Join-Path $homes['ff-b'] 'only-ac.txt') -ErrorAction Ignore
            Set-Content (Join-Path $homes['ff-a'] 'only-ac.txt') 'a here'
            Set-Content (Join-Path $homes['ff-c'] 'only-ac.txt') 'c here'
            Set-Content (Join-Path $homes['ff-nobody'] 'only-ac.txt') 'locked'
            chmod 000 (Join-Path $homes['ff-nobody'] 'only-ac.txt')
            $servers['ff-dead'] | Stop-TestExecServer
            $out = Get-RemoteFile '~/only-ac.txt' -ExecutorId 'ff-a', 'ff-b', 'ff-nobody', 'no-such', 'ff-dead', 'ff-c' -ErrorVariable failed -ErrorAction SilentlyContinue
            $out | ForEach-Object { "$($_.ExecutorId)=$_" } | Sort-Object | Should -Be 'ff-a=a here', 'ff-c=c here'
            $byTarget = @{}
            foreach ($e in $failed) { $byTarget["$($e.TargetObject)"] = $e }
            $byTarget.Keys | Sort-Object | Should -Be 'ff-b', 'ff-dead', 'ff-nobody', 'no-such'
            $byTarget['ff-b'].FullyQualifiedErrorId | Should -BeLike 'RemotePathNotFound,*'
            "$($byTarget['ff-b'])" | Should -BeLike '`[ff-b`] *only-ac.txt*'
            $byTarget['ff-nobody'].FullyQualifiedErrorId | Should -BeLike 'RemotePermissionDenied,*'
            "$($byTarget['ff-nobody'])" | Should -BeLike '`[ff-nobody`] *'
            $byTarget['no-such'].FullyQualifiedErrorId | Should -BeLike 'ExecutorNotConnected,*'
            "$($byTarget['ff-dead'])" | Should -BeLike '`[ff-dead`] *'
        }

        It 'downloads each executor''s file to Destination/ExecutorId/name, verified with SHA-256' {
            foreach ($id in $three) { New-RandomFile (Join-Path $homes[$id] 'data.bin') (200000 + $id.Length) }
            $dest = Join-Path $local 'collected' 'deep'
            $results = Get-RemoteFile '~/data.bin' -ExecutorId $three -Destination $dest -PassThru
            $results.Count | Should -Be 3
            $results.SourceStore | Sort-Object | Should -Be $three
            foreach ($r in $results) {
                $r.Destination | Should -Be (Join-Path $dest $r.SourceStore 'data.bin')
                $r.Sha256 | Should -Be (Get-Sha256 (Join-Path $homes[$r.SourceStore] 'data.bin'))
                Get-Sha256 $r.Destination | Should -Be $r.Sha256
            }
            (Get-ChildItem $dest -Recurse -File -Force).Name | Sort-Object -Unique | Should -Be 'data.bin'
            { Get-RemoteFile '~/data.bin' -ExecutorId $three -Destination $dest -ErrorAction Stop } | Should -Throw -ErrorId 'DestinationExists,*'
            $file = Join-Path $local 'a-file'
            Set-Content $file 'x'
            { Get-RemoteFile '~/data.bin' -ExecutorId $three -Destination $file } | Should -Throw -ErrorId 'InvalidArgument,*'
        }

        It 'downloads one executor at a time with -ThrottleLimit 1, all at once by default' {
            foreach ($id in $three) { New-RandomFile (Join-Path $homes[$id] 'big.bin') (24MB) }
            $serial = Join-Path $local 'serial'
            $max = Measure-PartialOverlap @($serial) { Get-RemoteFile '~/big.bin' -ExecutorId $three -Destination $serial -ThrottleLimit 1 }
            $max | Should -Be 1 -Because 'one .partial at a time (and the sampler saw it)'
            (Get-ChildItem $serial -Recurse -File).Count | Should -Be 3
            $parallel = Join-Path $local 'parallel'
            $max = Measure-PartialOverlap @($parallel) { Get-RemoteFile '~/big.bin' -ExecutorId $three -Destination $parallel }
            $max | Should -BeGreaterThan 1 -Because 'by default the executors download at the same time'
        }

        It 'stops every executor at the first failure with -ErrorAction Stop and leaves no .partial file' {
            $dest = Join-Path $local 'stopped'
            Remove-Item (Join-Path $homes['ff-b'] 'big.bin')
            { Get-RemoteFile '~/big.bin' -ExecutorId $three -Destination $dest -ErrorAction Stop } | Should -Throw -ErrorId 'RemotePathNotFound,*'
            Start-Sleep -Milliseconds 300
            Get-ChildItem $dest -Recurse -File -Force -Filter '.eb-*' | Should -BeNullOrEmpty
            foreach ($f in Get-ChildItem $dest -Recurse -File) { Get-Sha256 $f.FullName | Should -Be (Get-Sha256 (Join-Path $homes[$f.Directory.Name] 'big.bin')) }
            New-RandomFile (Join-Path $homes['ff-b'] 'big.bin') (24MB)
        }

        It 'cancels every executor''s download on Ctrl+C, promptly, and leaves no .partial file' {
            $dest = Join-Path $local 'ctrl-c'
            $ps = [powershell]::Create()
            $null = $ps.AddScript('param($m, $c, $d) Import-Module $m; Get-RemoteFile "~/big.bin" -Connection $c -Destination $d -ThrottleLimit 1').
                AddArgument((Get-ModuleManifestPath)).AddArgument(@($conns[0..2])).AddArgument($dest)
            $async = $ps.BeginInvoke()
            try {
                $deadline = [datetime]::UtcNow.AddSeconds(20)
                while (-not ([IO.Directory]::Exists($dest) -and [IO.Directory]::GetFiles($dest, '.eb-*', 'AllDirectories')) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 5 }
                $clock = [Diagnostics.Stopwatch]::StartNew()
                $ps.Stop()
                $clock.Elapsed.TotalSeconds | Should -BeLessThan 3
                "$($ps.InvocationStateInfo.State)" | Should -Be 'Stopped'
                Get-ChildItem $dest -Recurse -File -Force -Filter '.eb-*' | Should -BeNullOrEmpty
                @(Get-ChildItem $dest -Recurse -File).Count | Should -BeLessThan 3 -Because 'the executors not yet started never start'
            }
            finally { $ps.Dispose() }
        }
    }

    Context 'Set-RemoteFile' {
        It 'writes the same piped lines to every executor, one RemoteItem each, shown with its executor' {
            $items = 'one', 'two' | Set-RemoteFile '~/written.txt' -ExecutorId $three -PassThru
            $items.Count | Should -Be 3
            $items.ExecutorId | Sort-Object | Should -Be $three
            foreach ($i in $items) { $i.FullName | Should -Be (Join-Path $homes[$i.ExecutorId] 'written.txt') }
            foreach ($id in $three) { Get-Content (Join-Path $homes[$id] 'written.txt') | Should -Be 'one', 'two' }
            $back = Get-RemoteFile '~/written.txt' -ExecutorId $three
            $back | ForEach-Object { "$($_.ExecutorId)=$_" } | Sort-Object | Should -Be 'ff-a=one', 'ff-a=two', 'ff-b=one', 'ff-b=two', 'ff-c=one', 'ff-c=two'
            $view = $items | Out-String
            foreach ($id in $three) { $view | Should -Match ([regex]::Escape("${id}:$($homes[$id])")) }
        }

        It 'writes input beyond the 8 MiB spool and -InputFile to every executor, each verified' {
            $chunks = 1..10 | ForEach-Object { , [Security.Cryptography.RandomNumberGenerator]::GetBytes(1MB) }
            $chunks | Set-RemoteFile '~/spooled.bin' -ExecutorId $three
            $hash = [Security.Cryptography.IncrementalHash]::CreateHash('SHA256')
            foreach ($c in $chunks) { $hash.AppendData($c) }
            $expected = [Convert]::ToHexString($hash.GetHashAndReset())
            foreach ($id in $three) { Get-Sha256 (Join-Path $homes[$id] 'spooled.bin') | Should -Be $expected }
            $source = Join-Path $local 'upload.bin'
            New-RandomFile $source 3MB
            $servers['ff-dead'] | Stop-TestExecServer
            Set-RemoteFile '~/uploaded.bin' -InputFile $source -ExecutorId 'ff-*' -ErrorAction SilentlyContinue -ErrorVariable failed
            foreach ($id in $three + 'ff-nobody') { Get-Sha256 (Join-Path $homes[$id] 'uploaded.bin') | Should -Be (Get-Sha256 $source) }
            $failed.TargetObject | Should -Be 'ff-dead'
        }

        It 'writes one executor at a time with -ThrottleLimit 1, all at once by default' {
            $source = Join-Path $local 'throttle.bin'
            New-RandomFile $source (24MB)
            $folders = $three | ForEach-Object { $homes[$_] }
            $max = Measure-PartialOverlap $folders { Set-RemoteFile '~/throttle.bin' -InputFile $source -ExecutorId $three -ThrottleLimit 1 }
            $max | Should -Be 1
            $max = Measure-PartialOverlap $folders { Set-RemoteFile '~/throttle.bin' -InputFile $source -ExecutorId $three }
            $max | Should -BeGreaterThan 1
            foreach ($id in $three) { Get-Sha256 (Join-Path $homes[$id] 'throttle.bin') | Should -Be (Get-Sha256 $source) }
        }

        It 'goes on when one executor fails, its error naming it; -ErrorAction Stop throws and leaves no .partial' {
            Remove-Item (Join-Path $homes['ff-b'] 'sub') -Recurse -ErrorAction Ignore
            foreach ($id in 'ff-a', 'ff-c') { $null = New-Item -ItemType Directory (Join-Path $homes[$id] 'sub') -Force }
            'x' | Set-RemoteFile '~/sub/f.txt' -ExecutorId $three -ErrorVariable failed -ErrorAction SilentlyContinue
            $failed.Count | Should -Be 1
            $failed[0].TargetObject | Should -Be 'ff-b'
            $failed[0].FullyQualifiedErrorId | Should -BeLike 'RemotePathNotFound,*'
            "$($failed[0])" | Should -BeLike '`[ff-b`] *'
            foreach ($id in 'ff-a', 'ff-c') { Get-Content (Join-Path $homes[$id] 'sub/f.txt') | Should -Be 'x' }
            { 'y' | Set-RemoteFile '~/sub/f.txt' -ExecutorId $three -ErrorAction Stop } | Should -Throw -ErrorId 'RemotePathNotFound,*'
            Start-Sleep -Milliseconds 300
            foreach ($id in 'ff-a', 'ff-c') { Get-ChildItem (Join-Path $homes[$id] 'sub') -Force -Filter '.eb-*' | Should -BeNullOrEmpty }
        }

        It 'changes nothing with -WhatIf, and asks once per executor' {
            'never' | Set-RemoteFile '~/whatif.txt' -ExecutorId $three -WhatIf
            foreach ($id in $three) { Test-Path (Join-Path $homes[$id] 'whatif.txt') | Should -BeFalse }
            $env:EB_TEST_WORKSPACE_TOKEN = $gateway.WorkspaceToken
            try {
                $child = Invoke-ChildPwsh -Script @'
param($uri)
Import-Module $env:EXECBRIDGE_MODULE
$null = Connect-ExecBridge -GatewayUri $uri -ExecutorId ff-a, ff-b, ff-c -Token (ConvertTo-SecureString $env:EB_TEST_WORKSPACE_TOKEN -AsPlainText -Force)
'never' | Set-RemoteFile '~/whatif.txt' -ExecutorId ff-* -WhatIf
'@ -ArgumentList $gateway.BridgeUri
            }
            finally { Remove-Item Env:EB_TEST_WORKSPACE_TOKEN }
            $whatIf = @($child.Output | Where-Object { $_ -like 'What if:*' })
            $whatIf.Count | Should -Be 3 -Because $child.Error
            foreach ($id in $three) { $whatIf -join "`n" | Should -Match "on executor '$id'" }
            foreach ($id in $three) { Test-Path (Join-Path $homes[$id] 'whatif.txt') | Should -BeFalse }
        }
    }
}
