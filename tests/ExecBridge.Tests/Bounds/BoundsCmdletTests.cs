using System;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Tests.Files;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Bounds
{
    /// <summary>Issue #16: bounds and error mapping against the real 0.130.0 and 0.169.0 exec-servers.</summary>
    public sealed class BoundsCmdletTests : IClassFixture<FileCmdletFixture>
    {
        private readonly FileCmdletFixture _f;
        private PsHost Ps => _f.Ps;

        public BoundsCmdletTests(FileCmdletFixture f) { _f = f; }

        private string NewDir(string hint) => _f.Servers.NewDir(hint);

        private static string Id(PsResult r) => r.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0];

        // ---- item 1: received messages are bounded ------------------------------------------------------------------

        [Fact]
        public void MaxMessageSize_bounds_what_the_executor_may_send()
        {
            var dir = NewDir("maxmsg");
            var file = Path.Combine(dir, "two-mib.bin");
            TestFiles.WriteRandom(file, 2 * 1024 * 1024, 1);
            // Legacy reads a file this small with one fs/readFile: one ~2.7 MB answer.
            var r = Ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId small-msg -MaxMessageSize 1048576 | Out-Null; " +
                           "try { Get-RemoteFile -ExecutorId small-msg -Path $args[1] -AsByteStream | Out-Null } finally { Disconnect-ExecBridge -ExecutorId small-msg }",
                _f.Servers.Legacy.Uri, file);
            Assert.Equal("ProtocolViolation", Id(r));
            Assert.Contains("1048576", r.AllErrors.Single().Exception.Message);
        }

        // ---- item 2: output nobody reads is bounded -----------------------------------------------------------------

        [Fact]
        public async Task Unread_output_past_the_default_buffer_drops_the_oldest_and_says_how_much()
        {
            using var client = new ExecutorClient(new ExecutorEndpoint("unread", _f.Servers.Current.Uri, null));
            await client.EnsureConnectedAsync(CancellationToken.None);
            var handle = await client.StartProcessAsync(new ProcessStartSpec { Command = "head -c 83886080 /dev/zero" }, CancellationToken.None);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!handle.IsFinished && DateTime.UtcNow < deadline) await Task.Delay(100);
            Assert.True(handle.IsFinished);
            Assert.InRange(handle.UnreadBytes, 1, RemoteProcessHandle.DefaultMaxUnreadBytes);
            var lost = handle.TakeGaps().Single();
            Assert.Equal(ExecBridgeErrorKind.OutputLost, lost.Kind);
            long dropped = 83886080 - handle.UnreadBytes;
            Assert.Contains($"{dropped} bytes", lost.Message);
            Assert.Equal(83886080, handle.TakeUnread().Sum(c => (long)c.Data.Length) + dropped);
        }

        [Fact]
        public void MaxOutputBuffer_on_Connect_bounds_unread_output_and_Receive_reports_RemoteOutputLost()
        {
            var r = Ps.Run(@"
                Connect-ExecBridge -Uri $args[0] -ExecutorId small-out -MaxOutputBuffer 1048576 | Out-Null
                try {
                    $p = Start-RemoteProcess -ExecutorId small-out -Command 'head -c 8388608 /dev/zero | tr ""\0"" a | fold -w 1023'
                    while ($p.State -eq 'Running') { [System.Threading.Thread]::Sleep(50) }
                    [System.Threading.Thread]::Sleep(200)
                    @(Receive-RemoteOutput -Process $p -Wait).Count
                } finally { Disconnect-ExecBridge -ExecutorId small-out }", _f.Servers.Current.Uri);
            Assert.Equal("RemoteOutputLost", Id(r));
            Assert.Contains("dropped because nobody read them", r.AllErrors.Single().Exception.Message);
            int lines = (int)r.Output.Single().BaseObject;
            Assert.InRange(lines, 900, 1100); // ~1 MiB of 1024-byte lines kept, of 8192
        }

        // ---- item 3: long lines ----------------------------------------------------------------------------------

        [Fact]
        public void An_over_long_output_line_is_emitted_in_parts_of_MaxLineLength()
        {
            var r = Ps.Run(@"
                Connect-ExecBridge -Uri $args[0] -ExecutorId long-lines -MaxLineLength 1048576 | Out-Null
                try { Invoke-RemoteCommand -ExecutorId long-lines ""head -c 3000000 /dev/zero | tr '\0' a; printf '\r\nend\n'"" | ForEach-Object { if ($_ -eq 'end') { $_ } else { $_.Length } } }
                finally { Disconnect-ExecBridge -ExecutorId long-lines }", _f.Servers.Current.Uri).AssertOk();
            Assert.Equal(new object[] { 1048576, 1048576, 902848, "end" }, r.Output.Select(o => o.BaseObject).ToArray());
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void A_one_line_file_longer_than_the_default_bound_is_emitted_in_parts(string x)
        {
            var dir = NewDir("oneline");
            var file = Path.Combine(dir, "one-line.txt");
            File.WriteAllText(file, new string('z', 20 * 1024 * 1024) + "\r\nlast");
            var r = Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1] | ForEach-Object Length", x, file).AssertOk();
            Assert.Equal(new object[] { 16 * 1024 * 1024, 4 * 1024 * 1024, 4 }, r.Output.Select(o => o.BaseObject).ToArray());
        }

        // ---- item 7: the process table ------------------------------------------------------------------------

        /// <summary>
        /// Start + receive in a loop: ended, delivered processes nobody holds are forgotten, the one still held stays
        /// listed. 150 calls in CI; EXECBRIDGE_SOAK_CALLS=20000 runs the long soak (and prints the managed heap).
        /// </summary>
        [Fact]
        public void Ended_delivered_processes_nobody_holds_are_forgotten()
        {
            int calls = int.TryParse(Environment.GetEnvironmentVariable("EXECBRIDGE_SOAK_CALLS"), out var n) && n > 0 ? n : 150;
            var r = Ps.Run(@"
                Connect-ExecBridge -Uri $args[0] -ExecutorId soak | Out-Null
                try {
                    $heap = @()
                    for ($i = 1; $i -le $args[1]; $i++) {
                        $p = Start-RemoteProcess -ExecutorId soak -Command 'echo x'
                        if ((Receive-RemoteOutput -Process $p -Wait).Line -ne 'x') { throw ""call $i lost its output"" }
                        if ($i % [Math]::Max(1, [int]($args[1] / 4)) -eq 0) { [GC]::Collect(); [GC]::WaitForPendingFinalizers(); $heap += [GC]::GetTotalMemory($true) }
                    }
                    $kept = $p
                    [GC]::Collect(); [GC]::WaitForPendingFinalizers(); [GC]::Collect()
                    $q = Start-RemoteProcess -ExecutorId soak -Command 'true'; Receive-RemoteOutput -Process $q -Wait | Out-Null
                    @(Get-RemoteProcess -ExecutorId soak).Count
                    @(Get-RemoteProcess -ExecutorId soak | Where-Object ProcessId -eq $kept.ProcessId).Count
                    $heap -join ','
                } finally { Disconnect-ExecBridge -ExecutorId soak }", _f.Servers.Current.Uri, calls).AssertOk();
            int listed = (int)r.Output[0].BaseObject;
            Assert.InRange(listed, 1, 3);              // $kept, $q (and at most one not yet collected)
            Assert.Equal(1, (int)r.Output[1].BaseObject); // still held: still listed
            Console.WriteLine($"process table soak: {calls} calls, {listed} listed at the end, managed heap after each quarter: {r.Output[2]}");
        }

        // ---- item 6: names up to NAME_MAX ------------------------------------------------------------------------

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void Files_with_255_byte_names_can_be_written_downloaded_and_copied(string x)
        {
            var dir = NewDir("longname");
            var remote = Path.Combine(dir, new string('r', 255));
            var local = Path.Combine(dir, new string('l', 253) + "é"); // 255 bytes (é is two)
            var copy = Path.Combine(dir, new string('c', 255));
            Ps.Run("Set-RemoteFile -ExecutorId $args[0] -Path $args[1] -Value 'long name'", x, remote).AssertOk();
            Assert.Equal("long name\n", File.ReadAllText(remote));
            Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1] -Destination $args[2]", x, remote, local).AssertOk();
            Assert.Equal("long name\n", File.ReadAllText(local));
            Ps.Run("Copy-RemoteItem -ExecutorId $args[0] -Path $args[1] -Destination $args[2]", x, remote, copy).AssertOk();
            Assert.Equal("long name\n", File.ReadAllText(copy));
            Assert.Empty(TestFiles.Partials(dir));
            Assert.Equal(3, Directory.GetFiles(dir).Length);
        }
    }
}
