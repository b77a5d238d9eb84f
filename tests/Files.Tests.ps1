#Requires -Modules Pester
# Remote files as a user handles them: read, write, list, create, remove, pipelines between the cmdlets — both dialects.
# The executors run on this machine, so the test checks each remote effect with local file cmdlets.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $script:Dialects = Get-TestDialect
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Remote files (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $server = Start-TestExecServer -Version $Version
        $null = Connect-ExecBridge -Uri $server.Uri -ExecutorId "files-$Dialect"
        $dir = New-TestFolder
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $server | Stop-TestExecServer
        Remove-Item $dir -Recurse -Force -ErrorAction Ignore
    }

    Context 'Set-RemoteFile and Get-RemoteFile' {
        It 'writes lines and reads them back as lines' {
            $item = Set-RemoteFile -Path "$dir/notes.txt" -Value 'alpha', 'beta' -PassThru
            $item | Should -BeOfType ([ExecBridge.RemoteItem])
            $item.Length | Should -Be 11
            Get-Content "$dir/notes.txt" | Should -Be @('alpha', 'beta')
            Get-RemoteFile -Path "$dir/notes.txt" | Should -Be @('alpha', 'beta')
        }

        It 'reads the whole text with -Raw and bytes with -AsByteStream' {
            [IO.File]::WriteAllBytes("$dir/bin.dat", [byte[]](0, 1, 2, 255))
            Get-RemoteFile -Path "$dir/notes.txt" -Raw | Should -Be "alpha`nbeta`n"
            $bytes = Get-RemoteFile -Path "$dir/bin.dat" -AsByteStream
            , $bytes | Should -BeOfType ([byte[]])
            $bytes | Should -Be @(0, 1, 2, 255)
        }

        It 'reads a range with -Offset and -Length' {
            Get-RemoteFile -Path "$dir/notes.txt" -Offset 6 -Length 4 -Raw | Should -Be 'beta'
        }

        It 'overwrites like Set-Content; creates missing parent folders only with -Force' {
            Set-RemoteFile -Path "$dir/notes.txt" -Value 'gamma'
            Get-Content "$dir/notes.txt" | Should -Be 'gamma'
            { Set-RemoteFile -Path "$dir/new/deep/file.txt" -Value 'x' -ErrorAction Stop } | Should -Throw -ErrorId 'RemotePathNotFound,*'
            Test-Path "$dir/new" | Should -BeFalse
            Set-RemoteFile -Path "$dir/new/deep/file.txt" -Value 'x' -Force
            Get-Content "$dir/new/deep/file.txt" | Should -Be 'x'
        }

        It 'changes nothing with -WhatIf' {
            Set-RemoteFile -Path "$dir/whatif.txt" -Value 'never' -WhatIf
            Test-Path "$dir/whatif.txt" | Should -BeFalse
        }

        It 'downloads to a local file with -Destination and returns a verified copy result' {
            $local = Join-Path (New-TestFolder) 'copy.txt'
            $r = Get-RemoteFile -Path "$dir/notes.txt" -Destination $local -PassThru
            $r | Should -BeOfType ([ExecBridge.RemoteCopyResult])
            $r.Sha256 | Should -Be (Get-FileHash $local -Algorithm SHA256).Hash
            Get-Content $local | Should -Be 'gamma'
        }

        It 'reports a missing file as RemotePathNotFound with the path as target' {
            $err = { Get-RemoteFile -Path "$dir/missing.txt" -ErrorAction Stop } | Should -Throw -ErrorId 'RemotePathNotFound,*' -PassThru
            "$($err.CategoryInfo.Category)" | Should -Be 'ObjectNotFound'
            "$($err.TargetObject)" | Should -Be "$dir/missing.txt"
        }

        It 'reports a folder given as a file as RemotePathIsDirectory' {
            { Get-RemoteFile -Path $dir -ErrorAction Stop } | Should -Throw -ErrorId 'RemotePathIsDirectory,*'
        }

        It 'rejects another user''s ~name as InvalidArgument' {
            { Get-RemoteFile -Path '~nobody/x' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,*'
        }

        It 'goes on with the next path after a missing one' {
            $out = Get-RemoteFile -Path "$dir/missing.txt", "$dir/notes.txt" -ErrorAction SilentlyContinue -ErrorVariable failed
            $out | Should -Be 'gamma'
            $failed.Count | Should -Be 1
        }
    }

    Context 'Items: Get-RemoteItem, Get-RemoteChildItem, New-RemoteItem, Remove-RemoteItem' {
        BeforeAll {
            $tree = Join-Path $dir 'tree'
            $null = New-Item -ItemType Directory "$tree/sub" -Force
            Set-Content "$tree/a.log" 'a'
            Set-Content "$tree/b.txt" 'bb'
            Set-Content "$tree/sub/c.log" 'ccc'
        }

        It 'gets an item with its kind and length' {
            $i = Get-RemoteItem -Path "$tree/b.txt"
            $i.Name | Should -Be 'b.txt'
            $i.FullName | Should -Be "$tree/b.txt"
            $i.IsDirectory | Should -BeFalse
            $i.Length | Should -Be 3
            $i.ExecutorId | Should -Be "files-$Dialect"
            (Get-RemoteItem -Path $tree).IsDirectory | Should -BeTrue
        }

        It 'lists a folder, files only, folders only, and recursively' {
            (Get-RemoteChildItem -Path $tree).Name | Sort-Object | Should -Be @('a.log', 'b.txt', 'sub')
            (Get-RemoteChildItem -Path $tree -File).Name | Sort-Object | Should -Be @('a.log', 'b.txt')
            (Get-RemoteChildItem -Path $tree -Directory).Name | Should -Be 'sub'
            (Get-RemoteChildItem -Path $tree -Recurse -Filter '*.log').FullName | Sort-Object | Should -Be @("$tree/a.log", "$tree/sub/c.log")
        }

        It 'pipes listed files into Get-RemoteFile' {
            Get-RemoteChildItem -Path $tree -Recurse -Filter '*.log' | Sort-Object FullName | Get-RemoteFile | Should -Be @('a', 'ccc')
        }

        It 'creates a folder and a file with New-RemoteItem' {
            $d = New-RemoteItem -Path "$dir/made" -ItemType Directory
            $d.IsDirectory | Should -BeTrue
            $f = New-RemoteItem -Path "$dir/made/hello.txt" -ItemType File -Value 'hello'
            $f.Length | Should -Be 5
            Get-Content -Raw "$dir/made/hello.txt" | Should -Be 'hello'
        }

        It 'refuses a non-empty folder without -Recurse as RemoteDirectoryNotEmpty' {
            { Remove-RemoteItem -Path "$dir/made" -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'RemoteDirectoryNotEmpty,*'
            Test-Path "$dir/made/hello.txt" | Should -BeTrue
        }

        It 'changes nothing with Remove-RemoteItem -WhatIf' {
            Remove-RemoteItem -Path "$dir/made" -Recurse -WhatIf
            Test-Path "$dir/made" | Should -BeTrue
        }

        It 'removes a folder with -Recurse -Confirm:$false' {
            Remove-RemoteItem -Path "$dir/made" -Recurse -Confirm:$false
            Test-Path "$dir/made" | Should -BeFalse
        }

        It 'removes what Get-RemoteChildItem pipes to it' {
            Get-RemoteChildItem -Path $tree -Filter '*.txt' | Remove-RemoteItem -Confirm:$false
            Test-Path "$tree/b.txt" | Should -BeFalse
            Test-Path "$tree/a.log" | Should -BeTrue
        }
    }
}
