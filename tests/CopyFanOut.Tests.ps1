#Requires -Modules Pester
# Copy-RemoteItem with many executors: one local source to every -ToExecutor, items from several -FromExecutor into
# <Destination>/<ExecutorId>/, per-executor errors, -ThrottleLimit, -ErrorAction Stop, -WhatIf, one progress bar,
# Ctrl+C, and -AsJob through the job cmdlets. Both dialects.
# The executors run on this machine and share its file system: each server has a home of its own, and
# the copies use ~/ paths (the 0.130 executors report no working directory for relative ones), so every executor writes to (and reads from) its own folder.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $script:Dialects = Get-TestDialect
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Get-Hash([string] $Path) { (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash }
    # Partial files are hidden '.eb-<8 hex>' names beside their target.
    function Get-Partial([string[]] $Root) { @(Get-ChildItem -LiteralPath $Root -Recurse -Force -Filter '.eb-*' -ErrorAction Ignore) }
    # Four executors behind one gateway, each its own server with its own home; the fourth has no 'incoming' folder,
    # so copies into it fail there. Connected; the caller stops them in AfterAll.
    function Start-CopyFleet([string] $Prefix, [string] $Dir) {
        $ids = 'a', 'b', 'c', 'd' | ForEach-Object { "$Prefix-$_" }
        $wd = @{}
        foreach ($id in $ids) {
            $wd[$id] = (New-Item -ItemType Directory "$Dir/wd-$id").FullName
            if ($id -ne $ids[3]) { $null = New-Item -ItemType Directory "$($wd[$id])/incoming" }
        }
        $servers = foreach ($id in $ids) { Start-TestExecServer -Version $Version -UserHome $wd[$id] -WorkingDirectory $wd[$id] }
        $map = @{}
        for ($i = 0; $i -lt $ids.Count; $i++) { $map[$ids[$i]] = $servers[$i] }
        $gateway = Start-TestGateway -Executor $map
        $null = Connect-ExecBridge -GatewayUri $gateway.BridgeUri -ExecutorId $ids -Token $gateway.SecureWorkspaceToken
        @{ Ids = $ids; Three = $ids[0..2]; Wd = $wd; Servers = $servers; Gateway = $gateway }
    }

    function New-RandomFile([string] $Path, [int] $MiB, [int] $Seed) {
        $stream = [IO.File]::Create($Path)
        try { $chunk = [byte[]]::new(1MB); $rng = [Random]::new($Seed); for ($i = 0; $i -lt $MiB; $i++) { $rng.NextBytes($chunk); $stream.Write($chunk, 0, $chunk.Length) } }
        finally { $stream.Dispose() }
    }

    function Wait-Partial([string[]] $Root, [int] $Seconds = 30) {
        $deadline = [datetime]::UtcNow.AddSeconds($Seconds)
        while (-not (Get-Partial $Root) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
        @(Get-Partial $Root).Count | Should -BeGreaterThan 0 -Because 'the copy must be under way'
    }
}

Describe 'Copy-RemoteItem to and from many executors (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $dir = New-TestFolder
        $fleet = Start-CopyFleet 'cf' $dir
        $ids, $three, $wd, $servers, $gateway = $fleet.Ids, $fleet.Three, $fleet.Wd, $fleet.Servers, $fleet.Gateway

        $local = (New-Item -ItemType Directory "$dir/local").FullName
        $payload = "$local/payload.bin"
        [IO.File]::WriteAllBytes($payload, [Security.Cryptography.RandomNumberGenerator]::GetBytes(3MB))
        $payloadHash = Get-Hash $payload
        # 64 MiB: long enough to be stopped mid-copy.
        $large = "$local/large.bin"
        New-RandomFile $large -MiB 64 -Seed 7
        $medium = "$local/medium.bin"
        [IO.File]::WriteAllBytes($medium, [Security.Cryptography.RandomNumberGenerator]::GetBytes(16MB))
        # Each executor's own file, different on each, and a small tree.
        foreach ($id in $three) {
            [IO.File]::WriteAllBytes("$($wd[$id])/own.bin", [Security.Cryptography.RandomNumberGenerator]::GetBytes(256KB + $id.Length))
            $null = New-Item -ItemType Directory "$($wd[$id])/tree/inner" -Force
            Set-Content "$($wd[$id])/tree/inner/name.txt" $id
        }
    }
    AfterAll {
        Get-Job | Remove-Job -Force
        Disconnect-ExecBridge -All -Confirm:$false
        $gateway | Stop-TestGateway
        $servers | Stop-TestExecServer
        Remove-Item $dir -Recurse -Force -ErrorAction Ignore
    }

    It 'uploads one local file to three executors at once, each copy verified byte for byte; the view names each executor' {
        $r = Copy-RemoteItem -Path $payload -ToExecutor $three -Destination '~/incoming/' -PassThru
        $r.Count | Should -Be 3
        $r.DestinationStore | Sort-Object | Should -Be $three
        $r.SourceStore | Sort-Object -Unique | Should -Be 'local'
        $r.Sha256 | Sort-Object -Unique | Should -Be $payloadHash
        foreach ($id in $three) { Get-Hash "$($wd[$id])/incoming/payload.bin" | Should -Be $payloadHash }
        $view = $r | Out-String -Width 300
        foreach ($id in $three) { $view | Should -Match "(?m)\s$id`:$([regex]::Escape($wd[$id]))/incoming/payload\.bin\s*$" }
    }

    It 'matches wildcards against the connected executors' {
        $r = Copy-RemoteItem -Path $payload -ToExecutor 'cf-[ab]' -Destination '~/incoming/wild.bin' -PassThru
        $r.DestinationStore | Sort-Object | Should -Be 'cf-a', 'cf-b'
        Test-Path "$($wd['cf-c'])/incoming/wild.bin" | Should -BeFalse
        foreach ($id in 'cf-a', 'cf-b') { Get-Hash "$($wd[$id])/incoming/wild.bin" | Should -Be $payloadHash }
    }

    It 'goes on when one executor fails or is not connected; each error names its executor' {
        $r = Copy-RemoteItem -Path $payload -ToExecutor 'cf-a', 'cf-d', 'cf-b', 'cf-gone' -Destination '~/incoming/partly.bin' -PassThru -ErrorVariable failed -ErrorAction SilentlyContinue
        $r.DestinationStore | Sort-Object | Should -Be 'cf-a', 'cf-b'
        foreach ($id in 'cf-a', 'cf-b') { Get-Hash "$($wd[$id])/incoming/partly.bin" | Should -Be $payloadHash }
        $failed.Count | Should -Be 2
        $gone = $failed | Where-Object TargetObject -EQ 'cf-gone'
        $gone.FullyQualifiedErrorId | Should -BeLike 'ExecutorNotConnected,*'
        $d = $failed | Where-Object TargetObject -EQ 'cf-d'
        $d.FullyQualifiedErrorId | Should -BeLike 'RemotePathNotFound,*'
        "$d" | Should -Match "cf-d"
        Get-Partial $wd['cf-d'] | Should -BeNullOrEmpty
    }

    It 'collects from many executors into one folder per executor below -Destination, creating the folders' {
        $fetched = "$dir/fetched-$Dialect"
        $r = Copy-RemoteItem -FromExecutor 'cf-[abc]' -Path '~/own.bin', '~/tree' -Destination $fetched -Recurse -PassThru
        @(Get-ChildItem $fetched -Name | Sort-Object) | Should -Be $three
        foreach ($id in $three) {
            Get-Hash "$fetched/$id/own.bin" | Should -Be (Get-Hash "$($wd[$id])/own.bin")
            Get-Content "$fetched/$id/tree/inner/name.txt" | Should -Be $id
            @(Get-ChildItem "$fetched/$id" -Name | Sort-Object) | Should -Be 'own.bin', 'tree'
        }
        ($r | Where-Object { -not $_.IsDirectory -and $_.Source -like '*own.bin' }).SourceStore | Sort-Object | Should -Be $three
        ($r | Out-String -Width 300) | Should -Match "(?m)cf-b:$([regex]::Escape($wd['cf-b']))/own\.bin\s+local:"
    }

    It 'copies one executor at a time with -ThrottleLimit 1, all at once by default' {
        # Each executor's copy interval, from when its result arrived back by the time it took.
        $intervals = {
            param($name, $limit)
            $arrivals = Copy-RemoteItem -Path $medium -ToExecutor $three -Destination "~/incoming/$name.bin" -ThrottleLimit $limit -PassThru |
                ForEach-Object { [pscustomobject]@{ Id = $_.DestinationStore; End = [datetime]::UtcNow; Elapsed = $_.Elapsed } }
            $arrivals | ForEach-Object { [pscustomobject]@{ Id = $_.Id; Start = $_.End - $_.Elapsed; End = $_.End } } | Sort-Object Start
        }
        $serial = & $intervals 'serial' 1
        $serial.Count | Should -Be 3
        for ($i = 1; $i -lt 3; $i++) { $serial[$i].Start | Should -BeGreaterOrEqual $serial[$i - 1].End.AddMilliseconds(-20) }
        $parallel = & $intervals 'parallel' 32
        $parallel.Count | Should -Be 3
        ($parallel.Start | Measure-Object -Maximum).Maximum | Should -BeLessThan ($parallel.End | Measure-Object -Minimum).Minimum
    }

    It 'stops every executor at the first failure with -ErrorAction Stop, leaving no .partial file' {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        { Copy-RemoteItem -Path $large -ToExecutor 'cf-a', 'cf-b', 'cf-d' -Destination '~/incoming/stopped.bin' -ErrorAction Stop } |
            Should -Throw -ErrorId 'RemotePathNotFound,*'
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 15
        Get-Partial $wd.Values | Should -BeNullOrEmpty
        foreach ($id in 'cf-a', 'cf-b') { Test-Path "$($wd[$id])/incoming/stopped.bin" | Should -BeFalse -Because 'the other copies were cancelled' }
    }

    It 'asks once per executor and item with -WhatIf, and writes nothing' {
        $transcript = "$dir/whatif-$Dialect.txt"
        $null = Start-Transcript -LiteralPath $transcript
        try { Copy-RemoteItem -Path $payload, "$local/large.bin" -ToExecutor $three -Destination '~/incoming/whatif.bin' -WhatIf }
        finally { $null = Stop-Transcript }
        $asked = @(Get-Content $transcript | Where-Object { $_ -like 'What if:*' })
        $asked.Count | Should -Be 6
        foreach ($id in $three) { @($asked | Where-Object { $_ -like "*on executor '$id'*" }).Count | Should -Be 2 }
        foreach ($id in $three) { Test-Path "$($wd[$id])/incoming/whatif.bin" | Should -BeFalse }
    }

    It 'copies from one executor to several others, by pump and by relay, each copy verified' {
        $sourceHash = Get-Hash "$($wd['cf-a'])/own.bin"
        $r = Copy-RemoteItem -FromExecutor cf-a -Path '~/own.bin' -ToExecutor 'cf-b', 'cf-c' -Destination '~/incoming/pumped.bin' -Transport Pump -PassThru
        $r.DestinationStore | Sort-Object | Should -Be 'cf-b', 'cf-c'
        $r.SourceStore | Sort-Object -Unique | Should -Be 'cf-a'
        foreach ($id in 'cf-b', 'cf-c') { Get-Hash "$($wd[$id])/incoming/pumped.bin" | Should -Be $sourceHash }
        Set-ExecBridgeRelay -InternalUri $gateway.BaseUri -WorkspaceId $gateway.WorkspaceId -Secret $gateway.SecureInternalSecret
        $r = Copy-RemoteItem -FromExecutor cf-a -Path '~/own.bin' -ToExecutor 'cf-[bcd]' -Destination '~/incoming/relayed.bin' -Transport Relay -PassThru -ErrorVariable failed -ErrorAction SilentlyContinue
        $r.DestinationStore | Sort-Object | Should -Be 'cf-b', 'cf-c'
        foreach ($id in 'cf-b', 'cf-c') { Get-Hash "$($wd[$id])/incoming/relayed.bin" | Should -Be $sourceHash }
        $failed.Count | Should -Be 1
        $failed[0].TargetObject | Should -Be 'cf-d'
        Get-Partial $wd.Values | Should -BeNullOrEmpty
    }

    It 'refuses a copy from several executors into another executor' {
        { Copy-RemoteItem -Path '~/own.bin' -FromExecutor 'cf-a', 'cf-b' -ToExecutor 'cf-c' -Destination '~/incoming/' } |
            Should -Throw -ErrorId 'ManyToManyCopy,*'
        $err = { Copy-RemoteItem -Path '~/own.bin' -FromExecutor 'cf-*' -ToExecutor 'cf-b', 'cf-c' -Destination '~/incoming/' } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -BeLike 'ManyToManyCopy,*'
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.TargetObject | Should -Be 'cf-*'
    }

    It 'shows one progress bar for the whole fan-out, at most twice a second' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript('param($m, $p, $ids) Import-Module $m; Copy-RemoteItem -Path $p -ToExecutor $ids -Destination "~/incoming/progress.bin"').
                AddArgument((Get-ModuleManifestPath)).AddArgument($large).AddArgument($three)
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $null = $ps.Invoke()
            $took = $clock.Elapsed.TotalSeconds
            $ps.Streams.Error | Should -BeNullOrEmpty
            $records = @($ps.Streams.Progress)
            $records.Count | Should -BeGreaterThan 0
            @($records.ActivityId | Sort-Object -Unique).Count | Should -Be 1
            $records[-1].RecordType | Should -Be 'Completed'
            $running = @($records | Where-Object RecordType -NE 'Completed')
            $running.Count | Should -BeLessOrEqual ([math]::Floor($took * 2) + 1)
            $running[0].Activity | Should -Be 'Copying to 3 executors'
            $running | ForEach-Object { $_.StatusDescription | Should -Match ', [0-3] of 3 executors done$' }
            foreach ($id in $three) { Get-Hash "$($wd[$id])/incoming/progress.bin" | Should -Be (Get-Hash $large) }
        }
        finally { $ps.Dispose() }
    }

    It 'cancels every transfer on Ctrl+C, promptly, leaving no .partial file' {
        $ps = [powershell]::Create()
        $null = $ps.AddScript('param($m, $p, $ids) Import-Module $m; Copy-RemoteItem -Path $p -ToExecutor $ids -Destination "~/incoming/ctrlc.bin"').
            AddArgument((Get-ModuleManifestPath)).AddArgument($large).AddArgument($three)
        $async = $ps.BeginInvoke()
        try {
            Wait-Partial $wd.Values
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()   # what Ctrl+C does: StopProcessing on the running cmdlet
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 5
            "$($ps.InvocationStateInfo.State)" | Should -Be 'Stopped'
            Get-Partial $wd.Values | Should -BeNullOrEmpty
            foreach ($id in $three) { Test-Path "$($wd[$id])/incoming/ctrlc.bin" | Should -BeFalse }
        }
        finally { $ps.Dispose() }
    }
}

Describe 'Copy-RemoteItem -AsJob (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $dir = New-TestFolder
        $fleet = Start-CopyFleet 'cj' $dir
        $ids, $three, $wd, $servers, $gateway = $fleet.Ids, $fleet.Three, $fleet.Wd, $fleet.Servers, $fleet.Gateway

        $payload = "$dir/payload.bin"
        [IO.File]::WriteAllBytes($payload, [Security.Cryptography.RandomNumberGenerator]::GetBytes(1MB))
        $payloadHash = Get-Hash $payload
        $large = "$dir/large.bin"
        New-RandomFile $large -MiB 64 -Seed 9
    }
    AfterAll {
        Get-Job | Remove-Job -Force
        Disconnect-ExecBridge -All -Confirm:$false
        $gateway | Stop-TestGateway
        $servers | Stop-TestExecServer
        Remove-Item $dir -Recurse -Force -ErrorAction Ignore
    }

    It 'returns a job of the job repository with one child per executor; Receive-Job -Keep returns the results again' {
        $job = Copy-RemoteItem -Path $payload -ToExecutor 'cj-[abc]' -Destination '~/incoming/job.bin' -PassThru -AsJob
        $job | Should -BeOfType [System.Management.Automation.Job]
        $job.PSJobTypeName | Should -Be 'ExecBridgeJob'
        (Get-Job -Id $job.Id) | Should -Be $job
        $job.ChildJobs.Location | Should -Be $three
        $null = $job | Wait-Job -Timeout 60
        "$($job.State)" | Should -Be 'Completed'
        $job.ChildJobs.State | Sort-Object -Unique | Should -Be 'Completed'
        $job.HasMoreData | Should -BeTrue
        $first = $job | Receive-Job -Keep
        $first.Count | Should -Be 3
        $first[0].PSObject.TypeNames | Should -Contain 'ExecBridge.RemoteCopyResult'
        $first.DestinationStore | Sort-Object | Should -Be $three
        $first.Sha256 | Sort-Object -Unique | Should -Be $payloadHash
        foreach ($id in $three) { Get-Hash "$($wd[$id])/incoming/job.bin" | Should -Be $payloadHash }
        $again = $job | Receive-Job
        $again.DestinationStore | Sort-Object | Should -Be $three
        $job.HasMoreData | Should -BeFalse
        $job | Remove-Job
        Get-Job -Id $job.Id -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'is Failed when an executor fails; that child and its error name the executor, the others complete' {
        $job = Copy-RemoteItem -Path $payload -ToExecutor 'cj-a', 'cj-d' -Destination '~/incoming/failed.bin' -PassThru -AsJob
        $null = $job | Wait-Job -Timeout 60
        "$($job.State)" | Should -Be 'Failed'
        ($job.ChildJobs | Where-Object Location -EQ 'cj-a').State | Should -Be 'Completed'
        ($job.ChildJobs | Where-Object Location -EQ 'cj-d').State | Should -Be 'Failed'
        $out = $job | Receive-Job -ErrorVariable failed -ErrorAction SilentlyContinue
        $out.DestinationStore | Should -Be 'cj-a'
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'RemotePathNotFound*'
        $failed[0].TargetObject | Should -Be 'cj-d'
        "$($failed[0])" | Should -Match 'cj-d'
        $job | Remove-Job
    }

    It 'lets Wait-Job -Any return the first job to end, and Stop-Job cancel a large copy mid-way, leaving no .partial file' {
        $slow = Copy-RemoteItem -Path $large -ToExecutor $three -Destination '~/incoming/slow.bin' -ThrottleLimit 1 -AsJob
        $fast = Copy-RemoteItem -Path $payload -ToExecutor 'cj-c' -Destination '~/incoming/fast.bin' -AsJob
        $first = Wait-Job -Job $slow, $fast -Any -Timeout 60
        $first.Id | Should -Be $fast.Id
        Wait-Partial $wd.Values
        "$($slow.State)" | Should -Be 'Running'
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $slow | Stop-Job
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 5
        "$($slow.State)" | Should -Be 'Stopped'
        $slow.ChildJobs.State | Sort-Object -Unique | Should -Be 'Stopped'
        Get-Partial $wd.Values | Should -BeNullOrEmpty
        foreach ($id in $three) { Test-Path "$($wd[$id])/incoming/slow.bin" | Should -BeFalse }
        Get-Hash "$($wd['cj-c'])/incoming/fast.bin" | Should -Be $payloadHash
        $slow, $fast | Remove-Job
    }

    It 'runs a single-executor copy as a job too, with the destination as given' {
        Copy-Item $payload "$($wd['cj-a'])/incoming/job-src.bin"
        $job = Copy-RemoteItem -Path '~/incoming/job-src.bin' -FromExecutor 'cj-a' -Destination "$dir/single.bin" -PassThru -AsJob
        $job.ChildJobs.Location | Should -Be 'cj-a'
        $r = $job | Wait-Job -Timeout 60 | Receive-Job
        $r.SourceStore | Should -Be 'cj-a'
        Get-Hash "$dir/single.bin" | Should -Be $payloadHash
        $job | Remove-Job
    }
}
