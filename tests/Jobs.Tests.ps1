#Requires -Modules Pester
# Invoke-RemoteCommand -AsJob: a real job (one child per executor) that Get-Job, Receive-Job -Keep, Wait-Job -Any,
# Stop-Job and Remove-Job handle as they handle Invoke-Command -AsJob. Both dialects.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $script:Dialects = Get-TestDialect
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Invoke-RemoteCommand -AsJob (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $servers = 1..2 | ForEach-Object { Start-TestExecServer -Version $Version }
        $gateway = Start-TestGateway -Executor @{ 'job-a' = $servers[0]; 'job-b' = $servers[1]; 'job-c' = $servers[0] }
        $null = Connect-ExecBridge -GatewayUri $gateway.BridgeUri -ExecutorId 'job-a', 'job-b', 'job-c' -Token $gateway.SecureWorkspaceToken
        $serverPid = $servers.Process.Id
    }
    AfterAll {
        Get-Job | Remove-Job -Force
        Disconnect-ExecBridge -All -Confirm:$false
        $gateway | Stop-TestGateway
        $servers | Stop-TestExecServer
    }

    It 'returns a job of the job repository with one child job per executor; Receive-Job -Keep reads it again' {
        $job = Invoke-RemoteCommand 'sleep 0.5; echo "done $PPID"' -ExecutorId 'job-*' -AsJob
        $job | Should -BeOfType [System.Management.Automation.Job]
        $job.PSJobTypeName | Should -Be 'ExecBridgeJob'
        "$($job.State)" | Should -Be 'Running'
        (Get-Job -Id $job.Id) | Should -Be $job
        $job.ChildJobs.Location | Sort-Object | Should -Be @('job-a', 'job-b', 'job-c')

        $null = $job | Wait-Job -Timeout 30
        "$($job.State)" | Should -Be 'Completed'
        $job.HasMoreData | Should -BeTrue
        $first = $job | Receive-Job -Keep
        $first.Count | Should -Be 3
        $first.ExecutorId | Sort-Object | Should -Be @('job-a', 'job-b', 'job-c')
        foreach ($line in $first) {
            $expected = if ($line.ExecutorId -eq 'job-b') { $servers[1].Process.Id } else { $servers[0].Process.Id }
            "$line" | Should -Be "done $expected"
        }
        $again = $job | Receive-Job
        @($again | ForEach-Object { "$($_.ExecutorId) $_" } | Sort-Object) | Should -Be @($first | ForEach-Object { "$($_.ExecutorId) $_" } | Sort-Object)
        $job.HasMoreData | Should -BeFalse
        $job | Remove-Job
        Get-Job -Id $job.Id -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'is Failed when any executor fails; the failing child and its error name the executor' {
        $bad = $servers[1].Process.Id
        $job = Invoke-RemoteCommand "[ `$PPID != $bad ] || exit 3; echo ok" -ExecutorId 'job-a', 'job-b' -AsJob
        $null = $job | Wait-Job -Timeout 30
        "$($job.State)" | Should -Be 'Failed'
        ($job.ChildJobs | Where-Object Location -EQ 'job-a').State | Should -Be 'Completed'
        ($job.ChildJobs | Where-Object Location -EQ 'job-b').State | Should -Be 'Failed'
        $out = $job | Receive-Job -ErrorVariable failed -ErrorAction SilentlyContinue
        "$out" | Should -Be 'ok'
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'RemoteProcessFailed*'
        $failed[0].TargetObject | Should -Be 'job-b'
        $job | Remove-Job
    }

    It 'lets Wait-Job -Any return the first job to end, and Stop-Job kill the remote processes of another' {
        $slow = Invoke-RemoteCommand 'sleep 43' -ExecutorId 'job-a', 'job-b' -AsJob
        $fast = Invoke-RemoteCommand 'echo quick' -ExecutorId 'job-c' -AsJob
        $first = Wait-Job -Job $slow, $fast -Any -Timeout 30
        $first.Id | Should -Be $fast.Id
        "$($slow.State)" | Should -Be 'Running'

        $deadline = [datetime]::UtcNow.AddSeconds(15)
        while (@(Get-RemoteSleep $serverPid 43).Count -lt 2 -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        @(Get-RemoteSleep $serverPid 43).Count | Should -Be 2
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $slow | Stop-Job
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 5
        "$($slow.State)" | Should -Be 'Stopped'
        $slow.ChildJobs.State | Sort-Object -Unique | Should -Be 'Stopped'
        $deadline = [datetime]::UtcNow.AddSeconds(5)
        while ((Get-RemoteSleep $serverPid 43) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        Get-RemoteSleep $serverPid 43 | Should -BeNullOrEmpty -Because 'Stop-Job must stop the remote processes'
        $slow, $fast | Remove-Job
    }

    It 'goes on after the command that started it has returned' {
        & { $null = Invoke-RemoteCommand 'sleep 1; echo later' -ExecutorId job-a -AsJob }
        $job = Get-Job | Where-Object PSJobTypeName -EQ 'ExecBridgeJob' | Select-Object -Last 1
        "$($job.State)" | Should -Be 'Running'
        $out = $job | Wait-Job -Timeout 30 | Receive-Job
        "$out" | Should -Be 'later'
        $out.ExecutorId | Should -Be 'job-a'
        "$($job.State)" | Should -Be 'Completed'
        $job | Remove-Job
    }
}
