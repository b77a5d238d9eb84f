#Requires -Modules Pester
# Remote paths as users write them: '~', '~/x' and relative paths, resolved against the executor's home and the
# folder its commands run in, for every cmdlet that takes a remote path — both dialects.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $script:Dialects = Get-TestDialect
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Remote paths with ~ and relative paths (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $userHome = New-TestFolder
        $work = New-TestFolder
        $server = Start-TestExecServer -Version $Version -UserHome $userHome -WorkingDirectory $work
        $null = Connect-ExecBridge -Uri $server.Uri -ExecutorId "paths-$Dialect"
        $local = New-TestFolder
        # Where commands run when no -WorkingDirectory is given: relative paths must name the same files.
        $wd = (Invoke-RemoteCommand 'pwd').Trim()
        $null = New-Item -ItemType Directory "$work/logs" -Force
        Set-Content "$work/logs/a.txt" 'from work'
        function Rel([string] $path) { [IO.Path]::GetRelativePath($wd, $path) }
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $server | Stop-TestExecServer
        Remove-Item $userHome, $work, $local -Recurse -Force -ErrorAction Ignore
    }

    It 'writes and reads ~/x in the executor''s home, and objects show the absolute path' {
        $item = Set-RemoteFile -Path '~/notes.txt' -Value 'home note' -PassThru
        $item.FullName | Should -Be "$userHome/notes.txt"
        Get-Content "$userHome/notes.txt" | Should -Be 'home note'
        Get-RemoteFile -Path '~/notes.txt' | Should -Be 'home note'
        (Get-RemoteItem -Path '~').FullName | Should -Be $userHome
        (Get-RemoteChildItem -Path '~').FullName | Should -Contain "$userHome/notes.txt"
        Test-RemotePath -Path '~/notes.txt' | Should -BeTrue
        (Get-RemoteItem -Path '~/*.txt').FullName | Should -Be "$userHome/notes.txt"
    }

    It 'resolves relative paths against the folder commands run in' {
        $rel = Rel "$work/logs/a.txt"
        (Get-RemoteItem -Path $rel).FullName | Should -Be "$work/logs/a.txt"
        (Get-RemoteItem -Path "./$rel").FullName | Should -Be "$work/logs/a.txt"
        Get-RemoteFile -Path $rel | Should -Be 'from work'
        Invoke-RemoteCommand "cat '$rel'" | Should -Be 'from work'
        Set-RemoteFile -Path (Rel "$work/logs/b.txt") -Value 'b'
        Get-Content "$work/logs/b.txt" | Should -Be 'b'
        (Get-RemoteChildItem -Path (Rel "$work/logs")).FullName | Should -Be @("$work/logs/a.txt", "$work/logs/b.txt")
        Remove-RemoteItem -Path (Rel "$work/logs/b.txt")
        Test-Path "$work/logs/b.txt" | Should -BeFalse
        $made = New-RemoteItem -Path (Rel "$work/made") -ItemType Directory
        $made.FullName | Should -Be "$work/made"
    }

    It 'copies with ~ and relative paths in every direction' {
        Set-Content "$userHome/src.txt" 'copied'
        $r = Copy-RemoteItem -Path '~/src.txt' -Destination $local -FromExecutor "paths-$Dialect" -PassThru
        $r.Source | Should -Be "$userHome/src.txt"
        Get-Content "$local/src.txt" | Should -Be 'copied'
        Copy-RemoteItem -Path "$local/src.txt" -Destination '~/up.txt' -ToExecutor "paths-$Dialect"
        Get-Content "$userHome/up.txt" | Should -Be 'copied'
        Copy-RemoteItem -Path '~/up.txt' -Destination (Rel "$work/logs/within.txt")
        Get-Content "$work/logs/within.txt" | Should -Be 'copied'
    }

    It 'starts a process in -WorkingDirectory ~ or a relative folder' {
        (Invoke-RemoteCommand 'pwd' -WorkingDirectory '~').Trim() | Should -Be $userHome
        (Invoke-RemoteCommand 'pwd' -WorkingDirectory (Rel "$work/logs")).Trim() | Should -Be "$work/logs"
    }

    It 'refuses another user''s ~name with a clear InvalidArgument error naming the path' {
        $err = { Get-RemoteItem -Path '~root/x' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,*' -PassThru
        "$($err.TargetObject)" | Should -Be '~root/x'
        $err.Exception.Message | Should -Match "only '~'"
        { Set-RemoteFile -Path '~nobody' -Value 'x' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,*'
    }
}
