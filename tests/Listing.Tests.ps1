#Requires -Modules Pester
# Listing trees as Get-ChildItem does on Linux: odd names, symlinks, mode bits and owners, unreadable folders — both
# dialects. The executors run on this machine, so every listing is checked against the local Get-ChildItem.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    $script:Dialects = Get-TestDialect
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support' 'TestSupport.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Get-RemoteChildItem lists like Get-ChildItem (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        $server = Start-TestExecServer -Version $Version
        $null = Connect-ExecBridge -Uri $server.Uri -ExecutorId "list-$Dialect"
        $dir = New-TestFolder
        $null = New-Item -ItemType Directory "$dir/sub dir/deep", "$dir/target/inside" -Force
        Set-Content "$dir/with space.txt" 'x'
        Set-Content "$dir/sub dir/ünï 名.txt" 'yy'
        Set-Content "$dir/sub dir/deep/z.txt" 'zzz'
        Set-Content "$dir/target/inside/t.txt" 't'
        [IO.File]::WriteAllText("$dir/new`nline.txt", 'nl')
        $null = New-Item -ItemType SymbolicLink -Path "$dir/linkdir" -Target "$dir/target"
        $null = New-Item -ItemType SymbolicLink -Path "$dir/linkfile" -Target 'with space.txt'
        $null = New-Item -ItemType SymbolicLink -Path "$dir/dangling" -Target 'nowhere'
        chmod 0755 "$dir/with space.txt"
        chmod 0640 "$dir/sub dir/deep/z.txt"
        chown 65534:65534 "$dir/sub dir/deep/z.txt"
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $server | Stop-TestExecServer
        Remove-Item $dir -Recurse -Force -ErrorAction Ignore
    }

    It 'lists every item of the tree with names as they are (spaces, newline, non-ASCII), not following symlinked folders' {
        $remote = @(Get-RemoteChildItem -Path $dir -Recurse)
        $local = @(Get-ChildItem -LiteralPath $dir -Recurse -Force)
        $remote.FullName | Sort-Object | Should -Be ($local.FullName | Sort-Object)
        $remote.FullName | Should -Contain "$dir/new`nline.txt"
        $remote.FullName | Should -Contain "$dir/sub dir/ünï 名.txt"
        $remote.FullName | Should -Not -Contain "$dir/linkdir/inside"
    }

    It 'gives each folder''s entries sorted by name, then each subfolder''s (Get-ChildItem -Recurse order)' {
        $names = @(Get-RemoteChildItem -Path $dir -Recurse | ForEach-Object { $_.FullName.Substring($dir.Length + 1) })
        $top = @('dangling', 'linkdir', 'linkfile', "new`nline.txt", 'sub dir', 'target', 'with space.txt')
        $names[0..6] | Should -Be $top
        $names[7..($names.Count - 1)] | Should -Be @('sub dir/deep', 'sub dir/ünï 名.txt', 'sub dir/deep/z.txt', 'target/inside', 'target/inside/t.txt')
    }

    It 'shows UnixMode, User and Group as the local Get-ChildItem does' {
        $local = @{}
        Get-ChildItem -LiteralPath $dir -Recurse -Force | ForEach-Object { $local[$_.FullName] = $_ }
        foreach ($item in Get-RemoteChildItem -Path $dir -Recurse) {
            $l = $local[$item.FullName]
            "$($item.FullName): $($item.UnixMode) $($item.User) $($item.Group)" | Should -Be "$($item.FullName): $($l.UnixMode) $($l.User) $($l.Group)"
        }
        $z = Get-RemoteChildItem -Path "$dir/sub dir/deep"
        $z.UnixMode | Should -Be '-rw-r-----'
        $z.User | Should -Be 'nobody'
        $z.Group | Should -Be 'nogroup'
        (Get-RemoteChildItem -Path $dir -Filter 'with space.txt').UnixMode | Should -Be '-rwxr-xr-x'
    }

    It 'shows symlinks with their target, dangling ones included' {
        $items = @{}
        Get-RemoteChildItem -Path $dir | ForEach-Object { $items[$_.Name] = $_ }
        $items.linkdir.LinkTarget | Should -Be "$dir/target"
        $items.linkdir.IsSymlink | Should -BeTrue
        $items.linkdir.IsDirectory | Should -BeTrue
        $items.linkfile.LinkTarget | Should -Be 'with space.txt'
        $items.linkfile.Length | Should -Be 2
        $items.dangling.LinkTarget | Should -Be 'nowhere'
        $items.dangling.IsDirectory | Should -BeFalse
        $items['with space.txt'].LinkTarget | Should -BeNullOrEmpty
    }

    It 'lists the folder a symlink given as the path points at' {
        (Get-RemoteChildItem -Path "$dir/linkdir" -Recurse).FullName | Should -Be @("$dir/linkdir/inside", "$dir/linkdir/inside/t.txt")
    }

    It 'stops at -Depth' {
        (Get-RemoteChildItem -Path $dir -Recurse -Depth 0).Count | Should -Be 7
        (Get-RemoteChildItem -Path "$dir/sub dir" -Recurse -Depth 1).Name | Should -Be @('deep', 'ünï 名.txt', 'z.txt')
    }

    It 'shows the Linux Get-ChildItem columns with -> for links in the default view' {
        $text = Get-RemoteChildItem -Path $dir | Out-String -Width 200
        $header = ($text -split "`n" | Where-Object { $_ -match 'UnixMode' }) -replace '\s+', ' '
        $header.Trim() | Should -Be 'UnixMode User Group LastWriteTime Size Name'
        $text | Should -Match ([regex]::Escape('linkfile -> with space.txt'))
        $text | Should -Match '-rwxr-xr-x\s+root root'
    }
}

Describe 'Get-RemoteChildItem on unreadable folders (<Dialect>)' -ForEach $Dialects {
    BeforeAll {
        # As user nobody: root reads every folder whatever its mode.
        $server = Start-TestExecServer -Version $Version -AsNobody
        $null = Connect-ExecBridge -Uri $server.Uri -ExecutorId "deny-$Dialect"
        $dir = New-TestFolder
        $null = New-Item -ItemType Directory "$dir/open/inner", "$dir/closed/hidden" -Force
        Set-Content "$dir/open/inner/a.txt" 'a'
        Set-Content "$dir/closed/hidden/secret.txt" 's'
        chmod 0700 "$dir/closed"
    }
    AfterAll {
        Disconnect-ExecBridge -All -Confirm:$false
        $server | Stop-TestExecServer
        Remove-Item $dir -Recurse -Force -ErrorAction Ignore
    }

    It 'reports an unreadable subfolder as one RemotePermissionDenied error and lists the rest' {
        $items = @(Get-RemoteChildItem -Path $dir -Recurse -ErrorAction SilentlyContinue -ErrorVariable failed)
        $items.FullName | Should -Be @("$dir/closed", "$dir/open", "$dir/open/inner", "$dir/open/inner/a.txt")
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'RemotePermissionDenied,*'
        "$($failed[0].CategoryInfo.Category)" | Should -Be 'PermissionDenied'
        "$($failed[0].TargetObject)" | Should -Be "$dir/closed"
    }

    It 'reports an unreadable folder given as the path as RemotePermissionDenied' {
        { Get-RemoteChildItem -Path "$dir/closed" -ErrorAction Stop } | Should -Throw -ErrorId 'RemotePermissionDenied,*'
    }
}
