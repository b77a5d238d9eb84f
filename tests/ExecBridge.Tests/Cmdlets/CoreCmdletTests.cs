using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Management.Automation;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Cmdlets
{
    public sealed class CoreCmdletTestsLegacy : CoreCmdletTests, IClassFixture<LegacyServer>
    {
        public CoreCmdletTestsLegacy(LegacyServer f) : base(f) { }
    }

    public sealed class CoreCmdletTestsCurrent : CoreCmdletTests, IClassFixture<CurrentServer>
    {
        public CoreCmdletTestsCurrent(CurrentServer f) : base(f) { }
    }

    /// <summary>The core cmdlets in the real PowerShell engine against a real exec-server of each dialect.</summary>
    public abstract class CoreCmdletTests : IDisposable
    {
        private readonly ServerFixture _fixture;
        private readonly PsHost _ps;

        protected CoreCmdletTests(ServerFixture fixture)
        {
            _fixture = fixture;
            _ps = new PsHost();
            _ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId t", fixture.Server.Uri).AssertOk();
        }

        private bool Legacy => _fixture.Server.IsLegacy;

        public void Dispose() => _ps.Dispose();

        [Fact]
        public void ConnectReturnsTypedConnectionWithDialect()
        {
            var r = _ps.Run("Get-ExecBridgeConnection").AssertOk();
            var c = r.Output.Single();
            Assert.Equal("ExecBridge.ExecBridgeConnection", c.BaseObject.GetType().FullName);
            Assert.Equal("t", c.P("ExecutorId"));
            Assert.Equal(Legacy ? "Legacy" : "Current", c.P("Dialect"));
            Assert.Equal("Connected", c.P("State"));
            Assert.False(string.IsNullOrEmpty(c.P("SessionId")));
            if (!Legacy) Assert.Equal("0.169.0", c.P("ServerVersion"));
        }

        [Fact]
        public void InvokeStreamsStdoutAndSetsExitCode()
        {
            // -StderrToInformation: the earlier behaviour, kept behind a switch (stderr as RemoteStderr errors is Pester's).
            var r = _ps.Run("Invoke-RemoteCommand 'echo one; echo two >&2; echo three' -StderrToInformation; $LASTEXITCODE").AssertOk();
            Assert.Equal(new object[] { "one", "three", 0 }, r.Output.Select(o => o.BaseObject).ToArray());
            var stderr = r.Information.Where(i => i.Tags.Contains("stderr")).Select(i => i.MessageData.ToString()).ToList();
            Assert.Equal(new[] { "two" }, stderr);
        }

        [Fact]
        public void NonZeroExitWritesRemoteProcessFailedAndStopsWithErrorActionStop()
        {
            var r = _ps.Run("Invoke-RemoteCommand 'exit 7'; $LASTEXITCODE");
            var err = Assert.Single(r.Errors);
            Assert.Equal("RemoteProcessFailed,ExecBridge.Cmdlets.InvokeRemoteCommand", err.FullyQualifiedErrorId);
            Assert.Contains("7", err.Exception.Message);
            Assert.Equal(7, r.Output.Last().BaseObject);

            var stop = _ps.Run("try { Invoke-RemoteCommand 'exit 3' -ErrorAction Stop; 'not reached' } catch { 'caught ' + $_.FullyQualifiedErrorId }");
            Assert.Equal("caught RemoteProcessFailed,ExecBridge.Cmdlets.InvokeRemoteCommand", stop.Output.Single().ToString());
        }

        [Fact]
        public void ReceiveWithoutWaitReturnsOnlyWhatIsNew()
        {
            var r = _ps.Run(@"
                $p = Start-RemoteProcess -Command 'echo a; sleep 1; echo b'
                [Threading.Thread]::Sleep(600)
                $first = @(Receive-RemoteOutput $p | ForEach-Object Line)
                $rest = @(Receive-RemoteOutput $p -Wait | ForEach-Object Line)
                $again = @(Receive-RemoteOutput $p)
                [pscustomobject]@{ First = $first -join ','; Rest = $rest -join ','; Again = $again.Count; Code = $p.ExitCode; State = [string]$p.State }").AssertOk();
            var o = r.Output.Single();
            Assert.Equal("a", o.Properties["First"].Value);
            Assert.Equal("b", o.Properties["Rest"].Value);
            Assert.Equal(0, o.Properties["Again"].Value);
            Assert.Equal(0, o.Properties["Code"].Value);
            Assert.Equal("Exited", o.Properties["State"].Value);
        }

        [Fact]
        public void StdoutAndStderrAreDistinguishable()
        {
            var r = _ps.Run("Start-RemoteProcess -Command 'echo out; echo err >&2' | Receive-RemoteOutput -Wait").AssertOk();
            var lines = r.Output;
            Assert.Contains(lines, l => l.P("Stream") == "Stdout" && l.P("Line") == "out");
            Assert.Contains(lines, l => l.P("Stream") == "Stderr" && l.P("Line") == "err");
        }

        [Fact]
        public void RawStdoutAndStderrOfOver8MiBMixedDataAreByteExact()
        {
            // Multi-byte characters (2, 3 and 4 bytes) cut at arbitrary lengths so chunk boundaries split them.
            var r = _ps.Run(@"
                $p = Start-RemoteProcess -Command 'for i in $(seq 1 60000); do printf ""é€%05d\n"" $i; done; yes ""ü漢字🙂"" | head -c 7340033; yes ""错误ß"" | head -c 2097155 >&2; head -c 100000 /dev/zero'
                $out = [System.IO.MemoryStream]::new(); $err = [System.IO.MemoryStream]::new()
                foreach ($c in Receive-RemoteOutput $p -Wait -Raw) {
                    if ($c.Stream -eq 'Stderr') { $err.Write($c.Data, 0, $c.Data.Length) } else { $out.Write($c.Data, 0, $c.Data.Length) }
                }
                ,$out.ToArray()
                ,$err.ToArray()
                $p.ExitCode").AssertOk();
            var stdout = (byte[])r.Output[0].BaseObject;
            var stderr = (byte[])r.Output[1].BaseObject;
            var expectedOut = new System.IO.MemoryStream();
            for (int i = 1; i <= 60000; i++) expectedOut.Write(System.Text.Encoding.UTF8.GetBytes($"é€{i:00000}\n"));
            expectedOut.Write(Repeat("ü漢字🙂\n", 7340033));
            expectedOut.Write(new byte[100000]);
            var expectedErr = Repeat("错误ß\n", 2097155);
            Assert.True(stdout.Length + stderr.Length >= 8 * 1024 * 1024);
            Assert.Equal(expectedOut.Length, stdout.Length);
            Assert.Equal(Convert.ToHexString(SHA256.HashData(expectedOut.ToArray())), Convert.ToHexString(SHA256.HashData(stdout)));
            Assert.Equal(expectedErr.Length, stderr.Length);
            Assert.Equal(Convert.ToHexString(SHA256.HashData(expectedErr)), Convert.ToHexString(SHA256.HashData(stderr)));
            Assert.Equal(0, r.Output[2].BaseObject);
        }

        private static byte[] Repeat(string text, int length)
        {
            var unit = System.Text.Encoding.UTF8.GetBytes(text);
            var result = new byte[length];
            for (int i = 0; i < length; i++) result[i] = unit[i % unit.Length];
            return result;
        }

        [Fact]
        public void VerboseShowsLifecycleAndDebugShowsFrames()
        {
            var r = _ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId v -Verbose -Debug; Invoke-RemoteCommand 'true' -ExecutorId v -Debug", _fixture.Server.Uri);
            Assert.Empty(r.Errors);
            Assert.Contains(r.Verbose, v => v.StartsWith("Dialing executor v"));
            Assert.Contains(r.Verbose, v => v.Contains(Legacy ? "Legacy dialect" : "Current dialect"));
            Assert.Contains(r.Debug, d => d.StartsWith("-> process/start #"));
            Assert.Contains(r.Debug, d => d.StartsWith("<- result #"));
        }

        [Fact]
        public void LinesAreReassembledAcrossChunksWithSplitUtf8()
        {
            var r = _ps.Run(@"
                $p = Start-RemoteProcess -Command 'for i in $(seq 1 20000); do printf ""é€%05d\n"" $i; done'
                Receive-RemoteOutput $p -Wait | ForEach-Object Line").AssertOk();
            var lines = r.Output.Select(o => o.ToString()).ToList();
            Assert.Equal(20000, lines.Count);
            for (int i = 0; i < lines.Count; i++) Assert.Equal($"é€{i + 1:00000}", lines[i]);
        }

        [Fact]
        public void StdinRoundTripAndTerminate()
        {
            var r = _ps.Run(@"
                $p = Start-RemoteProcess -FilePath /bin/cat -Interactive
                'hello', 'world' | Send-RemoteInput -Process $p
                $lines = @()
                $deadline = [DateTime]::UtcNow.AddSeconds(10)
                while ($lines.Count -lt 2 -and [DateTime]::UtcNow -lt $deadline) { $lines += @(Receive-RemoteOutput $p | ForEach-Object Line); [Threading.Thread]::Sleep(50) }
                $p | Stop-RemoteProcess
                $null = Receive-RemoteOutput $p -Wait
                [pscustomobject]@{ Lines = $lines -join ','; Code = $p.ExitCode }").AssertOk();
            var o = r.Output.Single();
            Assert.Equal("hello,world", o.Properties["Lines"].Value);
            Assert.Equal(Legacy ? -1 : 137, o.Properties["Code"].Value);
        }

        [Fact]
        public void TtyMergesOutputAsPty()
        {
            var r = _ps.Run("Start-RemoteProcess -Command 'echo tty; tty' -Tty | Receive-RemoteOutput -Wait").AssertOk();
            var lines = r.Output;
            Assert.All(lines, l => Assert.Equal("Pty", l.P("Stream")));
            Assert.Equal("tty", lines[0].P("Line"));
            Assert.StartsWith("/dev/pts/", lines[1].P("Line"));
        }

        [Fact]
        public void InterruptSendsSigintOrSaysNotSupported()
        {
            var r = _ps.Run(@"
                $p = Start-RemoteProcess -Command 'trap ""echo got-int; exit 5"" INT; echo ready; while true; do sleep 0.1; done'
                while (-not (@(Receive-RemoteOutput $p | ForEach-Object Line) -contains 'ready')) { [Threading.Thread]::Sleep(50) }
                $p | Stop-RemoteProcess -Interrupt -ErrorAction SilentlyContinue -ErrorVariable e
                if ($e) { $e[0].FullyQualifiedErrorId; $p | Stop-RemoteProcess }
                @(Receive-RemoteOutput $p -Wait | ForEach-Object Line) -join ','
                $p.ExitCode");
            if (Legacy)
            {
                Assert.Equal("NotSupportedByExecutor,ExecBridge.Cmdlets.StopRemoteProcess", r.Output[0].ToString());
                Assert.Equal(-1, r.Output[2].BaseObject);
            }
            else
            {
                Assert.Equal("got-int", r.Output[0].ToString());
                Assert.Equal(5, r.Output[1].BaseObject);
            }
        }

        [Fact]
        public void StopProcessingEndsReceiveWaitWithinOneSecondAndConnectionStillWorks()
        {
            var ps = _ps.Begin("$p = Start-RemoteProcess -Command 'sleep 30'; $global:slow = $p; Receive-RemoteOutput $p -Wait");
            var async = ps.BeginInvoke();
            Thread.Sleep(1500);
            var sw = Stopwatch.StartNew();
            ps.Stop();
            sw.Stop();
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"Stop took {sw.Elapsed}");
            Assert.True(async.IsCompleted);
            ps.Dispose();
            var r = _ps.Run("Invoke-RemoteCommand 'echo still-alive'; Stop-RemoteProcess $global:slow").AssertOk();
            Assert.Equal("still-alive", r.Output.Single().ToString());
        }

        [Fact]
        public void EightRunspacesShareOneConnection()
        {
            var r = _ps.Run(@"
                $c = Get-ExecBridgeConnection
                $module = $args[0]
                1..8 | ForEach-Object -ThrottleLimit 8 -Parallel {
                    $n = $_
                    Import-Module $using:module
                    foreach ($i in 1..100) {
                        $out = Invoke-RemoteCommand -Connection $using:c ""echo $n-$i""
                        if ($out -ne ""$n-$i"") { throw ""runspace $n call $i got '$out'"" }
                    }
                    ""$n ok""
                }
                (Get-ExecBridgeConnection).Reconnects", Peers.ModuleManifest).AssertOk();
            var lines = r.Output.Select(o => o.ToString()).ToList();
            Assert.Equal(Enumerable.Range(1, 8).Select(n => $"{n} ok"), lines.Take(8).OrderBy(x => x));
            Assert.Equal("0", lines[8]);
        }

        [Fact]
        public void UnknownExecutorNamesTheChoices()
        {
            var r = _ps.Run("Invoke-RemoteCommand 'true' -ExecutorId nope");
            var e = r.AllErrors.Single();
            Assert.Equal("ExecutorNotConnected,ExecBridge.Cmdlets.InvokeRemoteCommand", e.FullyQualifiedErrorId);
            Assert.Equal(System.Management.Automation.ErrorCategory.ObjectNotFound, e.CategoryInfo.Category);
            Assert.Equal("nope", e.TargetObject);
            Assert.Contains("'t'", e.Exception.Message);
        }

        [Fact]
        public void MissingExecutableIsAClearError()
        {
            var r = _ps.Run("Start-RemoteProcess -FilePath /no/such/binary");
            var e = r.AllErrors.Single();
            Assert.StartsWith("RemoteCommandNotFound,", e.FullyQualifiedErrorId);
            Assert.Equal("/no/such/binary", e.TargetObject);
            Assert.Contains("/no/such/binary", e.Exception.Message);
        }
    }
}
