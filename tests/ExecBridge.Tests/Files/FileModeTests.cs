using System.Diagnostics;
using System.IO;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Files
{
    /// <summary>
    /// Overwriting keeps the destination's mode and owner, as cp and Set-Content do, on every write path and both
    /// dialects; new files get the usual umask. The executors run on this host as root, so their files are ours to stat.
    /// </summary>
    public sealed class FileModeTests : IClassFixture<FileCmdletFixture>
    {
        private const string Kept = "640 nobody";
        private readonly FileCmdletFixture _f;

        public FileModeTests(FileCmdletFixture f) { _f = f; }

        private PsHost Ps => _f.Ps;

        /// <summary>An existing file with content 'old', mode 0640, owned by nobody: what every overwrite must keep.</summary>
        private string Guarded(string dir, string name)
        {
            var p = Path.Combine(dir, name);
            File.WriteAllText(p, "old");
            Run("chown", "nobody", p);
            Run("chmod", "640", p);
            Assert.Equal(Kept, Stat(p));
            return p;
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void SetRemoteFileKeepsTheModeAndOwnerOfTheFileItReplaces(string x)
        {
            var dir = _f.Servers.NewDir("mode-set");
            var f = Guarded(dir, "secret.txt");
            Ps.Run("Set-RemoteFile -ExecutorId $args[0] -Path $args[1] -Value 'new'", x, f).AssertOk();
            Assert.Equal("new", File.ReadAllText(f).Trim());
            Assert.Equal(Kept, Stat(f));

            // A new file gets the executor's umask, as a shell redirection would.
            var fresh = Path.Combine(dir, "fresh.txt");
            Ps.Run("Set-RemoteFile -ExecutorId $args[0] -Path $args[1] -Value 'new'", x, fresh).AssertOk();
            var umask = Ps.Run("Invoke-RemoteCommand -ExecutorId $args[0] 'umask'", x).AssertOk().Output[0].ToString().Trim();
            Assert.Equal(System.Convert.ToString(0x1B6 & ~System.Convert.ToInt32(umask, 8), 8) + " root", Stat(fresh));
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void CopyToAndWithinAnExecutorKeepsTheModeAndOwner(string x)
        {
            var dir = _f.Servers.NewDir("mode-copy");
            var src = Path.Combine(dir, "src.txt");
            File.WriteAllText(src, "new");
            var up = Guarded(dir, "up.txt");
            Ps.Run("Copy-RemoteItem -ToExecutor $args[0] -Path $args[1] -Destination $args[2] -Force", x, src, up).AssertOk();
            Assert.Equal("new", File.ReadAllText(up));
            Assert.Equal(Kept, Stat(up));

            var within = Guarded(dir, "within.txt");
            Ps.Run("Copy-RemoteItem -ExecutorId $args[0] -Path $args[1] -Destination $args[2] -Force", x, src, within).AssertOk();
            Assert.Equal("new", File.ReadAllText(within));
            Assert.Equal(Kept, Stat(within));
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void DownloadingOverALocalFileKeepsItsModeAndOwner(string x)
        {
            var dir = _f.Servers.NewDir("mode-down");
            var src = Path.Combine(dir, "src.txt");
            File.WriteAllText(src, "new");
            var down = Guarded(dir, "down.txt");
            Ps.Run("Copy-RemoteItem -FromExecutor $args[0] -Path $args[1] -Destination $args[2] -Force", x, src, down).AssertOk();
            Assert.Equal("new", File.ReadAllText(down));
            Assert.Equal(Kept, Stat(down));

            var got = Guarded(dir, "got.txt");
            Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1] -Destination $args[2] -Force", x, src, got).AssertOk();
            Assert.Equal("new", File.ReadAllText(got));
            Assert.Equal(Kept, Stat(got));
        }

        private static string Stat(string path) => Run("stat", "-c", "%a %U", path);

        private static string Run(string file, params string[] args)
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var o = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return o;
        }
    }
}
