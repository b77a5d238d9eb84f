<#
.SYNOPSIS
    W8 of the benchmark, run by it in a real pwsh child (`dotnet pwsh`): one pwsh driving many executors through one
    gateway. Prints one line `RESULT <json>` with every figure; the bench turns it into table rows.
.DESCRIPTION
    The gateway token comes in the environment (EB_SCALE_TOKEN), never on the command line. Every executor's
    exec-server was started with its own HOME, a folder named by its id, so `echo ${HOME##*/}` prints which executor really
    ran it: a line tagged with another id (or missing) is counted as lost or misattributed.
    The fan-out cmdlets (-ExecutorId a,b,c, -ThrottleLimit, -Summary) are used where the module has them; the
    sequential loop, ForEach-Object -Parallel and the per-connection costs are measured either way.
#>
param(
    [Parameter(Mandatory)] [string] $Module,
    [Parameter(Mandatory)] [uri] $GatewayUri,
    [Parameter(Mandatory)] [string] $IdPrefix,
    [Parameter(Mandatory)] [int] $Count,
    [int] $Commands = 1000,
    [int] $ThrottleLimit = 32,
    [switch] $Quick
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

function Get-ProcessFigures {
    # After a full GC: managed heap, resident set, open descriptors of this pwsh.
    [GC]::Collect(); [GC]::WaitForPendingFinalizers(); [GC]::Collect()
    $statm = (Get-Content /proc/self/statm -Raw).Split(' ')
    [pscustomobject]@{
        Managed = [GC]::GetTotalMemory($true)
        Rss     = [long]$statm[1] * [Environment]::SystemPageSize
        Fds     = @(Get-ChildItem /proc/self/fd -ErrorAction SilentlyContinue).Count
    }
}

function Get-Percentile([double[]] $Values, [double] $P) {
    if (-not $Values.Count) { return $null }
    $sorted = [double[]]($Values | Sort-Object)
    $sorted[[math]::Min($sorted.Count - 1, [math]::Ceiling($P * $sorted.Count) - 1)]
}

function Test-Attribution {
    # Output lines carrying ExecutorId: each executor exactly once (per wave), its line = its own id.
    param([object[]] $Lines, [string[]] $Expected)
    $bad = 0
    $seen = @{}
    foreach ($l in $Lines) {
        # Fan-out output: strings with an ExecutorId note; the loops below record (ExecutorId, Line) pairs themselves.
        $tag = $l.PSObject.Properties['ExecutorId']
        $text = if ($l.PSObject.Properties['Line']) { $l.Line } else { "$l" }
        if (-not $tag -or $text -ne $tag.Value) { $bad++; continue }
        $seen[$tag.Value] = 1 + [int]$seen[$tag.Value]
    }
    $missing = @($Expected | Where-Object { -not $seen.ContainsKey($_) }).Count
    $bad + $missing + @($seen.Values | Where-Object { $_ -ne 1 }).Count
}

Import-Module $Module -ErrorAction Stop
$token = [System.Net.NetworkCredential]::new('', $env:EB_SCALE_TOKEN).SecurePassword
$ids = [string[]](1..$Count | ForEach-Object { '{0}{1:000}' -f $IdPrefix, $_ })
$echo = 'echo ${HOME##*/}'
$r = [ordered]@{ Count = $Count; Fanout = $false }
$fanout = (Get-Command Invoke-RemoteCommand).Parameters.ContainsKey('ThrottleLimit') -and
          (Get-Command Connect-ExecBridge).Parameters['ExecutorId'].ParameterType -eq [string[]]
$r.Fanout = $fanout

# A warm-up executor outside the counts: the first connect and command of a process pay the JIT once.
$null = Connect-ExecBridge -GatewayUri $GatewayUri -ExecutorId "$($IdPrefix)warm" -Token $token
$null = Invoke-RemoteCommand 'true' -ExecutorId "$($IdPrefix)warm"
Disconnect-ExecBridge -ExecutorId "$($IdPrefix)warm"

$before = Get-ProcessFigures
$sw = [Diagnostics.Stopwatch]::StartNew()
if ($fanout) {
    $conns = @(Connect-ExecBridge -GatewayUri $GatewayUri -ExecutorId $ids -Token $token -ThrottleLimit $ThrottleLimit)
    $r.ConnectAllMs = $sw.Elapsed.TotalMilliseconds
    $r.ConnectMode = 'Connect-ExecBridge -ExecutorId (fan-out)'
}
else {
    $conns = foreach ($id in $ids) { Connect-ExecBridge -GatewayUri $GatewayUri -ExecutorId $id -Token $token }
    $r.ConnectAllMs = $sw.Elapsed.TotalMilliseconds
    $r.ConnectMode = 'Connect-ExecBridge one at a time'
}
if ($conns.Count -ne $Count) { throw "connected $($conns.Count) of $Count executors" }
$after = Get-ProcessFigures
$r.ManagedPerConn = ($after.Managed - $before.Managed) / $Count
$r.RssPerConn = ($after.Rss - $before.Rss) / $Count
$r.FdsPerConn = ($after.Fds - $before.Fds) / $Count

# ---- the same calls one after another (the baseline fan-out must beat by >= 2x) ------------------------------
$lat = [Collections.Generic.List[double]]::new()
$lines = [Collections.Generic.List[object]]::new()
$sw.Restart()
foreach ($id in $ids) {
    $t = $sw.Elapsed.TotalMilliseconds
    foreach ($line in Invoke-RemoteCommand $echo -ExecutorId $id) {
        $lines.Add([pscustomobject]@{ ExecutorId = $id; Line = $line })
    }
    $lat.Add($sw.Elapsed.TotalMilliseconds - $t)
}
$r.SequentialMs = $sw.Elapsed.TotalMilliseconds
$r.SequentialP50 = Get-Percentile $lat 0.5
$r.SequentialP99 = Get-Percentile $lat 0.99
$r.SequentialBad = Test-Attribution $lines $ids

# ---- ForEach-Object -Parallel (what a user writes by hand today), the connections passed with $using: -------------
$lines = [Collections.Concurrent.ConcurrentBag[object]]::new()
$done = [Collections.Concurrent.ConcurrentDictionary[string, double]]::new()
$sw.Restart()
$conns | ForEach-Object -ThrottleLimit $ThrottleLimit -Parallel {
    $m = $using:Module
    if (-not (Get-Module ExecBridge)) { Import-Module $m }
    $c = $_
    foreach ($line in Invoke-RemoteCommand $using:echo -Connection $c) {
        ($using:lines).Add([pscustomobject]@{ ExecutorId = $c.ExecutorId; Line = $line })
    }
    $null = ($using:done).TryAdd($c.ExecutorId, ($using:sw).Elapsed.TotalMilliseconds)
}
$r.ParallelMs = $sw.Elapsed.TotalMilliseconds
$r.ParallelP50 = Get-Percentile ([double[]]$done.Values) 0.5
$r.ParallelP99 = Get-Percentile ([double[]]$done.Values) 0.99
$r.ParallelBad = Test-Attribution @($lines) $ids

# ---- the fan-out cmdlets ---------------------------------------------------------------------------------------
if ($fanout) {
    foreach ($limit in @($ThrottleLimit, $Count) | Select-Object -Unique) {
        $arrival = @{}
        $sw.Restart()
        $out = @(Invoke-RemoteCommand $echo -ExecutorId $ids -ThrottleLimit $limit | ForEach-Object {
                $arrival[$_.ExecutorId] = $sw.Elapsed.TotalMilliseconds; $_ })
        $key = if ($limit -eq $ThrottleLimit) { 'Fanout' } else { 'FanoutAll' }
        $r["$($key)Ms"] = $sw.Elapsed.TotalMilliseconds
        $r["$($key)P50"] = Get-Percentile ([double[]]$arrival.Values) 0.5
        $r["$($key)P99"] = Get-Percentile ([double[]]$arrival.Values) 0.99
        $r["$($key)Bad"] = Test-Attribution $out $ids
    }
    # Every exit code collected: one summary per executor.
    $sum = @(Invoke-RemoteCommand 'exit 0' -ExecutorId $ids -ThrottleLimit $ThrottleLimit -Summary)
    $r.SummaryBad = @($ids | Where-Object { $id = $_; -not @($sum | Where-Object { $_.ExecutorId -eq $id -and $_.ExitCode -eq 0 }).Count }).Count

    # 1,000 commands spread across the executors: waves of one fan-out each, the last one partial.
    $sw.Restart()
    $bad = 0
    for ($left = $Commands; $left -gt 0; $left -= $Count) {
        $wave = $ids[0..([math]::Min($left, $Count) - 1)]
        $bad += Test-Attribution @(Invoke-RemoteCommand $echo -ExecutorId $wave -ThrottleLimit $ThrottleLimit) $wave
    }
    $r.ThousandMs = $sw.Elapsed.TotalMilliseconds
    $r.ThousandBad = $bad
}
else {
    # 1,000 commands through ForEach-Object -Parallel (the connections cycled).
    $items = 0..($Commands - 1) | ForEach-Object { $conns[$_ % $Count] }
    $bag = [Collections.Concurrent.ConcurrentBag[object]]::new()
    $sw.Restart()
    $items | ForEach-Object -ThrottleLimit $ThrottleLimit -Parallel {
        if (-not (Get-Module ExecBridge)) { Import-Module $using:Module }
        $c = $_
        foreach ($line in Invoke-RemoteCommand $using:echo -Connection $c) { if ("$line" -eq $c.ExecutorId) { ($using:bag).Add(1) } }
    }
    $r.ThousandMs = $sw.Elapsed.TotalMilliseconds
    $r.ThousandBad = $Commands - $bag.Count
    $r.ThousandMode = 'ForEach-Object -Parallel'
}

$peak = (Get-Content /proc/self/status | Where-Object { $_ -like 'VmHWM:*' }) -replace '\D', ''
$r.PeakRssKiB = [long]$peak
$r.RssAfterKiB = [long]((Get-ProcessFigures).Rss / 1KB)
$r.RssBeforeKiB = [long]($before.Rss / 1KB)
Disconnect-ExecBridge -All
'RESULT ' + ($r | ConvertTo-Json -Compress)
