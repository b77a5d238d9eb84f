#Requires -Modules Pester
# One connection shared by parallel runspaces, as runbooks use it: ForEach-Object -Parallel and Start-ThreadJob.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
    # New runspaces find the module as an installed one, on PSModulePath (imported by path, it would not autoload there).
    $env:PSModulePath = (Split-Path (Split-Path (Get-ModuleManifestPath))) + [IO.Path]::PathSeparator + $env:PSModulePath
    $server = Start-TestExecServer -Version (Get-CodexVersion -Dialect Current)
    $conn = Connect-ExecBridge -Uri $server.Uri -ExecutorId par
}

AfterAll {
    Disconnect-ExecBridge -All -Confirm:$false
    $server | Stop-TestExecServer
}

Describe 'ForEach-Object -Parallel with $using:conn' {
    It 'runs 16 commands over one connection, each answer to its own caller' {
        $results = 1..16 | ForEach-Object -ThrottleLimit 8 -Parallel {
            $n = $_
            [pscustomobject]@{ N = $n; Said = Invoke-RemoteCommand "echo $n" -Connection $using:conn; Exit = $LASTEXITCODE }
        }
        $results.Count | Should -Be 16
        foreach ($r in $results) { $r.Said | Should -Be "$($r.N)" ; $r.Exit | Should -Be 0 }
        (Get-ExecBridgeConnection -ExecutorId par).Reconnects | Should -Be 0
    }

    It 'reads files in parallel with the same connection' {
        $dir = New-TestFolder
        1..8 | ForEach-Object { Set-Content "$dir/f$_.txt" "content $_" }
        $read = 1..8 | ForEach-Object -Parallel { Get-RemoteFile -Path "$using:dir/f$_.txt" -Connection $using:conn }
        $read | Sort-Object | Should -Be (1..8 | ForEach-Object { "content $_" } | Sort-Object)
    }
}

Describe 'Start-ThreadJob with the connection' {
    It 'runs a command in a thread job and returns its output through Receive-Job' {
        $job = Start-ThreadJob -ScriptBlock { param($c) Invoke-RemoteCommand 'echo from-job; exit 4' -Connection $c -ErrorAction SilentlyContinue; $LASTEXITCODE } -ArgumentList $conn
        $out = $job | Wait-Job -Timeout 60 | Receive-Job
        $job.State | Should -Be 'Completed'
        $out | Should -Be @('from-job', 4)
        $job | Remove-Job
    }

    It 'surfaces a remote failure as the job error' {
        $job = Start-ThreadJob -ScriptBlock { param($c) Invoke-RemoteCommand 'exit 2' -Connection $c } -ArgumentList $conn
        $null = $job | Wait-Job -Timeout 60
        $null = $job | Receive-Job -ErrorVariable jobErrors -ErrorAction SilentlyContinue
        $jobErrors[0].FullyQualifiedErrorId | Should -BeLike 'RemoteProcessFailed,*'
        $job | Remove-Job
    }
}
