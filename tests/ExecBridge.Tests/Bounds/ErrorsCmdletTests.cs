using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using ExecBridge.Tests.Files;
using ExecBridge.Tests.Infrastructure;
using ExecBridge.Tests.Rpc;
using Xunit;
using Xunit.Abstractions;

namespace ExecBridge.Tests.Bounds
{
    /// <summary>Issue #16 items 4, 5, 9: byte input, local failures as typed errors, logs and messages, against real exec-servers.</summary>
    public sealed class ErrorsCmdletTests : IClassFixture<FileCmdletFixture>
    {
        private readonly FileCmdletFixture _f;
        private readonly ITestOutputHelper _out;
        private PsHost Ps => _f.Ps;

        public ErrorsCmdletTests(FileCmdletFixture f, ITestOutputHelper output) { _f = f; _out = output; }

        private string NewDir(string hint) => _f.Servers.NewDir(hint);

        private static string Id(System.Management.Automation.ErrorRecord e) => e.FullyQualifiedErrorId.Split(',')[0];

        private static int Sh(string command)
        {
            using var p = Process.Start(new ProcessStartInfo("/bin/sh", new[] { "-c", command }) { RedirectStandardError = true })!;
            p.WaitForExit();
            return p.ExitCode;
        }

        // ---- item 4: byte[] input ------------------------------------------------------------------------------

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void A_byte_array_binds_whole_and_a_local_file_streams(string x)
        {
            Assert.Equal("System.Object", Ps.Run("(Get-Command Set-RemoteFile).Parameters['Value'].ParameterType.FullName").AssertOk().Single<string>());
            var dir = NewDir("bytes");
            var data = RandomNumberGenerator.GetBytes(12 * 1024 * 1024 + 7);
            var viaValue = Path.Combine(dir, "value.bin");
            var viaPipe = Path.Combine(dir, "pipe.bin");
            Ps.Run("Set-RemoteFile -ExecutorId $args[0] -Path $args[1] -Value $args[2]", x, viaValue, data).AssertOk();
            Ps.Run(",$args[2] | Set-RemoteFile -ExecutorId $args[0] -Path $args[1]", x, viaPipe, data).AssertOk();
            Assert.Equal(data, File.ReadAllBytes(viaValue));
            Assert.Equal(data, File.ReadAllBytes(viaPipe));

            var local = Path.Combine(dir, "local.bin");
            TestFiles.WriteRandom(local, 9 * 1024 * 1024 + 3, 4);
            var fromFile = Path.Combine(dir, "from-file.bin");
            Ps.Run("Set-RemoteFile -ExecutorId $args[0] -Path $args[1] -InputFile $args[2]", x, fromFile, local).AssertOk();
            Assert.Equal(TestFiles.Sha256(local), TestFiles.Sha256(fromFile));
            var missing = Ps.Run("Set-RemoteFile -ExecutorId $args[0] -Path $args[1] -InputFile $args[2]", x, fromFile, Path.Combine(dir, "nope.bin"));
            Assert.Equal("LocalPathNotFound", Id(missing.AllErrors.Single()));
            Assert.Empty(TestFiles.Partials(dir));
        }

        // ---- item 5: local failures ------------------------------------------------------------------------------

        [Fact]
        public void Local_failures_are_typed_errors_naming_the_local_path_and_a_multi_path_call_goes_on()
        {
            var dir = NewDir("localerr");
            var a = Path.Combine(dir, "a.txt");
            var b = Path.Combine(dir, "b.txt");
            File.WriteAllText(a, "a");
            File.WriteAllText(b, "b");

            // Name too long and a NUL: InvalidArgument, target the local path, the next path still runs.
            var tooLong = Path.Combine(dir, new string('n', 300));
            var r = Ps.Run("Get-RemoteFile -ExecutorId current -Path $args[0],$args[1] -Destination $args[2]", a, b, tooLong);
            Assert.Null(r.Terminating);
            Assert.Equal(new[] { "InvalidArgument", "InvalidArgument" }, r.Errors.Select(Id).ToArray());
            Assert.All(r.Errors, e => Assert.Equal(tooLong, e.TargetObject));
            Assert.All(r.Errors, e => Assert.Equal(System.Management.Automation.ErrorCategory.InvalidArgument, e.CategoryInfo.Category));

            var nul = Path.Combine(dir, "nul\0name");
            r = Ps.Run("Get-RemoteFile -ExecutorId legacy -Path $args[0] -Destination $args[1]", a, nul);
            Assert.Null(r.Terminating);
            Assert.Equal("InvalidArgument", Id(r.Errors.Single()));
            Assert.Contains("\\x00", r.Errors.Single().Exception.Message);

            // Permission denied: an immutable folder (root ignores modes) or a read-only one.
            var locked = Path.Combine(dir, "locked");
            Directory.CreateDirectory(locked);
            bool root = Environment.UserName == "root";
            Assert.Equal(0, Sh(root ? $"chattr +i '{locked}'" : $"chmod 555 '{locked}'"));
            try
            {
                r = Ps.Run("Get-RemoteFile -ExecutorId current -Path $args[0],$args[1] -Destination $args[2]", a, b, locked);
                Assert.Null(r.Terminating);
                Assert.Equal(new[] { "LocalPermissionDenied", "LocalPermissionDenied" }, r.Errors.Select(Id).ToArray());
                Assert.Equal(new object[] { Path.Combine(locked, "a.txt"), Path.Combine(locked, "b.txt") }, r.Errors.Select(e => e.TargetObject).ToArray());
                Assert.DoesNotContain(r.Errors, e => e.Exception is AggregateException);
            }
            finally
            {
                Sh(root ? $"chattr -i '{locked}'" : $"chmod 755 '{locked}'");
            }
            Assert.Empty(TestFiles.Partials(dir));
        }

        [Fact]
        public void A_full_local_disk_is_LocalIOError_and_leaves_no_partial()
        {
            var dir = NewDir("diskfull");
            var small = Path.Combine(dir, "small");
            Directory.CreateDirectory(small);
            if (Sh($"mount -t tmpfs -o size=1m tmpfs '{small}'") != 0)
            {
                _out.WriteLine("No tmpfs mount here (not root?): the disk-full case is not run.");
                return;
            }
            try
            {
                var big = Path.Combine(dir, "big.bin");
                TestFiles.WriteRandom(big, 3 * 1024 * 1024, 9);
                var r = Ps.Run("Get-RemoteFile -ExecutorId current -Path $args[0],$args[0] -Destination $args[1] -Force", big, Path.Combine(small, "big.bin"));
                Assert.Null(r.Terminating);
                Assert.Equal(new[] { "LocalIOError", "LocalIOError" }, r.Errors.Select(Id).ToArray());
                Assert.Contains("No space left", r.Errors[0].Exception.Message);
                Assert.Equal(Path.Combine(small, "big.bin"), r.Errors[0].TargetObject);
                Assert.Empty(Directory.GetFiles(small));
            }
            finally
            {
                Sh($"umount '{small}'");
            }
        }

        // ---- item 9: logs and messages -------------------------------------------------------------------------

        [Fact]
        public void A_failed_connect_still_shows_its_verbose_lines()
        {
            var r = Ps.Run("Connect-ExecBridge -Uri ws://127.0.0.1:1/ -ExecutorId refused -TimeoutSec 5 -Verbose");
            Assert.Equal("ConnectionRefused", Id(r.AllErrors.Single()));
            Assert.Contains(r.Verbose, v => v.Contains("Dialing executor refused"));
        }

        [Fact]
        public void A_gateway_401_names_the_gateway_and_the_executor()
        {
            using var gateway = new ScriptedWebSocketServer { RejectUpgradeStatus = 401 };
            var r = Ps.Run("$tok = [System.Security.SecureString]::new(); foreach ($c in 'tok-123'.ToCharArray()) { $tok.AppendChar($c) }; " +
                "Connect-ExecBridge -GatewayUri $args[0] -ExecutorId exe-9 -Token $tok",
                new Uri($"ws://127.0.0.1:{gateway.Port}/bridge"));
            var e = r.AllErrors.Single();
            Assert.Equal("AuthenticationFailed", Id(e));
            Assert.StartsWith($"The gateway at ws://127.0.0.1:{gateway.Port}/ refused the credentials for executor 'exe-9' (HTTP 401)", e.Exception.Message);
            Assert.DoesNotContain("tok-123", e.Exception.Message);
        }
    }
}
