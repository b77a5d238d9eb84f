using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Copy;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Files
{
    /// <summary>Both servers plus one PowerShell engine connected to them as executors 'legacy' and 'current'.</summary>
    public sealed class FileCmdletFixture : IAsyncLifetime
    {
        public FilesFixture Servers { get; } = new FilesFixture();
        public PsHost Ps { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            await Servers.InitializeAsync();
            Ps = new PsHost();
            Ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId legacy; Connect-ExecBridge -Uri $args[1] -ExecutorId current",
                Servers.Legacy.Uri, Servers.Current.Uri).AssertOk();
        }

        public async Task DisposeAsync()
        {
            Ps?.Dispose();
            await Servers.DisposeAsync();
        }
    }

    internal static class PsResultExtensions
    {
        public static T Let<T>(this PsResult r, Func<PsResult, T> f) => f(r);
    }

    public sealed class FileCmdletTests : IClassFixture<FileCmdletFixture>
    {
        private readonly FileCmdletFixture _f;
        private PsHost Ps => _f.Ps;

        public FileCmdletTests(FileCmdletFixture f) { _f = f; }

        private string NewDir(string hint) => _f.Servers.NewDir(hint);

        /// <summary>A RemoteItem seen through PowerShell (the module's types live in the module's assembly).</summary>
        private sealed class Item
        {
            public Item(PSObject o)
            {
                Assert.Equal("ExecBridge.RemoteItem", o.BaseObject.GetType().FullName);
                Name = (string)o.Properties["Name"].Value;
                ExecutorId = (string)o.Properties["ExecutorId"].Value;
                IsDirectory = (bool)o.Properties["IsDirectory"].Value;
                Length = (long?)o.Properties["Length"].Value;
                LastWriteTime = (DateTime?)o.Properties["LastWriteTime"].Value;
            }
            public string Name; public string ExecutorId; public bool IsDirectory; public long? Length; public DateTime? LastWriteTime;
        }

        private static Item One(PsResult r) => new Item(r.Output.Single());
        private static System.Collections.Generic.List<Item> Items(PsResult r) => r.Output.Select(o => new Item(o)).ToList();

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void Set_and_get_text_bytes_and_slices(string x)
        {
            var dir = NewDir("setget");
            var path = Path.Combine(dir, "notes ü #1.txt");
            Ps.Run("'alpha','beta' | Set-RemoteFile -ExecutorId $args[0] -Path $args[1]; 'gamma' | Set-RemoteFile -ExecutorId $args[0] -Path $args[1]", x, path).AssertOk();
            Assert.Equal("gamma\n", File.ReadAllText(path)); // replaced, not appended
            Ps.Run("Set-RemoteFile -ExecutorId $args[0] -Path $args[1] -Value 'alpha','beta'", x, path).AssertOk();
            var lines = Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1]", x, path).AssertOk().All<string>();
            Assert.Equal(new[] { "alpha", "beta" }, lines);
            Assert.Equal("alpha\nbeta\n", Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1] -Raw", x, path).AssertOk().Single<string>());
            Assert.Equal("pha\nb", Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1] -Raw -Offset 2 -Length 5", x, path).AssertOk().Single<string>());

            var binPath = Path.Combine(dir, "all-bytes.bin");
            var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
            Ps.Run("Set-RemoteFile -ExecutorId $args[0] -Path $args[1] -Value (,$args[2])", x, binPath, all).AssertOk();
            Assert.Equal(all, File.ReadAllBytes(binPath));
            var back = Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1] -AsByteStream", x, binPath).AssertOk().Single<byte[]>();
            Assert.Equal(all, back);
            var slice = Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1] -AsByteStream -Offset 255 -Length 10", x, binPath).AssertOk().Single<byte[]>();
            Assert.Equal(new byte[] { 255 }, slice);

            // Missing parent: refused without -Force, created with it.
            var deep = Path.Combine(dir, "a", "b", "c.txt");
            var r = Ps.Run("Set-RemoteFile -ExecutorId $args[0] -Path $args[1] -Value 'x'", x, deep);
            Assert.Equal("RemotePathNotFound", r.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);
            Ps.Run("Set-RemoteFile -ExecutorId $args[0] -Path $args[1] -Value 'x' -Force", x, deep).AssertOk();
            Assert.Equal("x\n", File.ReadAllText(deep));
            Assert.Empty(TestFiles.Partials(dir));
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void Download_with_slices_and_force(string x)
        {
            var dir = NewDir("download");
            var remote = Path.Combine(dir, "remote 100%.bin");
            TestFiles.WriteRandom(remote, 1048577, 5);
            var local = Path.Combine(dir, "local.bin");
            var res = Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1] -Destination $args[2] -PassThru", x, remote, local).AssertOk().Output.Single();
            Assert.Equal(TestFiles.Sha256(remote), res.P("Sha256"));
            Assert.Equal(File.ReadAllBytes(remote), File.ReadAllBytes(local));

            var again = Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1] -Destination $args[2]", x, remote, local);
            Assert.Equal("DestinationExists", again.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);

            Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1] -Destination $args[2] -Offset 1048575 -Length 2 -Force", x, remote, local).AssertOk();
            Assert.Equal(File.ReadAllBytes(remote).Skip(1048575).ToArray(), File.ReadAllBytes(local));

            var folder = Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1] -Destination $args[2] -Force", x, dir, local);
            Assert.Equal("RemotePathIsDirectory", folder.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);
            var content = Ps.Run("Get-RemoteFile -ExecutorId $args[0] -Path $args[1]", x, dir);
            Assert.Equal("RemotePathIsDirectory", content.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);
            Assert.Empty(TestFiles.Partials(dir));
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void Items_listing_and_per_item_errors(string x)
        {
            var dir = NewDir("items");
            Directory.CreateDirectory(Path.Combine(dir, "sub dir", "deeper"));
            File.WriteAllText(Path.Combine(dir, "a.txt"), "12345");
            File.WriteAllText(Path.Combine(dir, "sub dir", "b.log"), "1");
            File.WriteAllText(Path.Combine(dir, "sub dir", "deeper", "c.txt"), "");

            var item = Ps.Run("Get-RemoteItem -ExecutorId $args[0] -Path $args[1]", x, Path.Combine(dir, "a.txt")).AssertOk().Let(One);
            Assert.Equal(5, item.Length);
            Assert.False(item.IsDirectory);
            Assert.Equal(x, item.ExecutorId);
            Assert.Equal("a.txt", item.Name);
            Assert.NotNull(item.LastWriteTime);

            // A missing path is a non-terminating error; the next path is still processed.
            var r = Ps.Run("Get-RemoteItem -ExecutorId $args[0] -Path $args[1], $args[2]", x, Path.Combine(dir, "missing"), dir);
            Assert.Single(r.Errors);
            Assert.Equal("RemotePathNotFound", r.Errors[0].FullyQualifiedErrorId.Split(',')[0]);
            Assert.True(new Item(r.Output.Single()).IsDirectory);

            var top = Ps.Run("Get-RemoteChildItem -ExecutorId $args[0] -Path $args[1]", x, dir).AssertOk().Let(Items);
            Assert.Equal(new[] { "a.txt", "sub dir" }, top.Select(i => i.Name).ToArray());
            var all = Ps.Run("Get-RemoteChildItem -ExecutorId $args[0] -Path $args[1] -Recurse", x, dir).AssertOk().Let(Items);
            Assert.Equal(5, all.Count);
            var txt = Ps.Run("Get-RemoteChildItem -ExecutorId $args[0] -Path $args[1] -Recurse -Filter *.txt", x, dir).AssertOk().Let(Items);
            Assert.Equal(new[] { "a.txt", "c.txt" }, txt.Select(i => i.Name).OrderBy(n => n).ToArray());
            Assert.Equal(0, txt.Single(i => i.Name == "c.txt").Length);

            // The module ships the table view; a runspace that loads the file accepts it (invalid views throw at open).
            var formats = Ps.Run("(Get-Module ExecBridge).ExportedFormatFiles").AssertOk().All<string>();
            var filesFormat = formats.Single(p => p.EndsWith("ExecBridge.Files.format.ps1xml"));
            var iss = System.Management.Automation.Runspaces.InitialSessionState.CreateDefault2();
            iss.Formats.Add(new System.Management.Automation.Runspaces.SessionStateFormatEntry(filesFormat));
            using (var rs = System.Management.Automation.Runspaces.RunspaceFactory.CreateRunspace(iss)) rs.Open();
            var xml = System.Xml.Linq.XDocument.Load(filesFormat);
            Assert.Contains(xml.Descendants("TypeName"), t => t.Value == "ExecBridge.RemoteItem");
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void New_and_remove_with_guards(string x)
        {
            var dir = NewDir("newrm");
            var folder = Path.Combine(dir, "made");
            var made = Ps.Run("New-RemoteItem -ExecutorId $args[0] -Path $args[1] -ItemType Directory", x, folder).AssertOk().Let(One);
            Assert.True(made.IsDirectory);
            Assert.True(Directory.Exists(folder));
            var again = Ps.Run("New-RemoteItem -ExecutorId $args[0] -Path $args[1] -ItemType Directory", x, folder);
            Assert.Equal("DestinationExists", again.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);
            var deep = Ps.Run("New-RemoteItem -ExecutorId $args[0] -Path $args[1] -ItemType Directory", x, Path.Combine(dir, "p", "q"));
            Assert.Equal("RemotePathNotFound", deep.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);
            var file = Path.Combine(folder, "f.txt");
            Ps.Run("New-RemoteItem -ExecutorId $args[0] -Path $args[1] -Value 'hello'", x, file).AssertOk();
            Assert.Equal("hello", File.ReadAllText(file));

            // -WhatIf removes nothing.
            Ps.Run("Remove-RemoteItem -ExecutorId $args[0] -Path $args[1] -Recurse -WhatIf", x, folder).AssertOk();
            Ps.Run("Remove-RemoteItem -ExecutorId $args[0] -Path $args[1] -WhatIf", x, file).AssertOk();
            Assert.True(File.Exists(file));

            // A non-empty folder without -Recurse is refused.
            var refused = Ps.Run("Remove-RemoteItem -ExecutorId $args[0] -Path $args[1]", x, folder);
            Assert.Equal("RemoteDirectoryNotEmpty", refused.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);
            Assert.True(File.Exists(file));

            // Missing: error, or nothing with -Force.
            var missing = Ps.Run("Remove-RemoteItem -ExecutorId $args[0] -Path $args[1]", x, Path.Combine(dir, "nope"));
            Assert.Equal("RemotePathNotFound", missing.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);
            Ps.Run("Remove-RemoteItem -ExecutorId $args[0] -Path $args[1] -Force", x, Path.Combine(dir, "nope")).AssertOk();

            Ps.Run("Remove-RemoteItem -ExecutorId $args[0] -Path $args[1]", x, file).AssertOk();
            Assert.False(File.Exists(file));
            File.WriteAllText(file, "again");
            Ps.Run("Remove-RemoteItem -ExecutorId $args[0] -Path $args[1] -Recurse -Confirm:$false", x, folder).AssertOk();
            Assert.False(Directory.Exists(folder));
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void Copy_within_to_and_from_an_executor(string x)
        {
            var dir = NewDir("copy");
            var src = Path.Combine(dir, "src é.bin");
            TestFiles.WriteRandom(src, 300_000, 9);
            var sha = TestFiles.Sha256(src);

            var within = Ps.Run("Copy-RemoteItem -ExecutorId $args[0] -Path $args[1] -Destination $args[2] -PassThru", x, src, Path.Combine(dir, "within.bin"))
                .AssertOk().Output.Single();
            Assert.Equal(sha, within.P("Sha256"));
            Assert.Equal(sha, TestFiles.Sha256(Path.Combine(dir, "within.bin")));

            var refused = Ps.Run("Copy-RemoteItem -ExecutorId $args[0] -Path $args[1] -Destination $args[2]", x, src, Path.Combine(dir, "within.bin"));
            Assert.Equal("DestinationExists", refused.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);

            var down = Ps.Run("Copy-RemoteItem -FromExecutor $args[0] -Path $args[1] -Destination $args[2] -PassThru", x, src, Path.Combine(dir, "down.bin"))
                .AssertOk().Output.Single();
            Assert.Equal(sha, down.P("Sha256"));
            Assert.Equal("local", down.P("DestinationStore"));
            var up = Ps.Run("Copy-RemoteItem -ToExecutor $args[0] -Path $args[1] -Destination $args[2] -PassThru", x, src, Path.Combine(dir, "up.bin"))
                .AssertOk().Output.Single();
            Assert.Equal(sha, up.P("Sha256"));
            Assert.Equal(x, up.P("DestinationStore"));
            var upRefused = Ps.Run("Copy-RemoteItem -ToExecutor $args[0] -Path $args[1] -Destination $args[2]", x, src, Path.Combine(dir, "up.bin"));
            Assert.Equal("DestinationExists", upRefused.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);
            var missingLocal = Ps.Run("Copy-RemoteItem -ToExecutor $args[0] -Path $args[1] -Destination $args[2]", x, Path.Combine(dir, "no-such-local"), Path.Combine(dir, "u2.bin"));
            Assert.Equal("LocalPathNotFound", missingLocal.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);

            // Folders: -Recurse required; an existing folder receives the copy inside it.
            var tree = Path.Combine(dir, "tree");
            Directory.CreateDirectory(Path.Combine(tree, "s"));
            File.WriteAllText(Path.Combine(tree, "s", "t.txt"), "tree");
            var noRecurse = Ps.Run("Copy-RemoteItem -FromExecutor $args[0] -Path $args[1] -Destination $args[2]", x, tree, Path.Combine(dir, "tree-down"));
            Assert.Equal("InvalidArgument", noRecurse.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);
            Ps.Run("Copy-RemoteItem -FromExecutor $args[0] -Path $args[1] -Destination $args[2] -Recurse", x, tree, Path.Combine(dir, "tree-down")).AssertOk();
            Assert.Equal("tree", File.ReadAllText(Path.Combine(dir, "tree-down", "s", "t.txt")));
            Ps.Run("Copy-RemoteItem -ExecutorId $args[0] -Path $args[1] -Destination $args[2] -Recurse", x, tree, Path.Combine(dir, "tree-down")).AssertOk();
            Assert.Equal("tree", File.ReadAllText(Path.Combine(dir, "tree-down", "tree", "s", "t.txt")));
            Assert.Empty(TestFiles.Partials(dir));
        }

        [Fact]
        public void Copy_between_two_executors_pumps_through_the_client()
        {
            var dir = NewDir("x-exec");
            var src = Path.Combine(dir, "cross.bin");
            TestFiles.WriteRandom(src, 2_500_000, 11);
            var r = Ps.Run("Copy-RemoteItem -FromExecutor legacy -ToExecutor current -Path $args[0] -Destination $args[1] -PassThru", src, Path.Combine(dir, "crossed.bin"))
                .AssertOk().Output.Single();
            Assert.Equal(TestFiles.Sha256(src), r.P("Sha256"));
            Assert.Equal(TestFiles.Sha256(src), TestFiles.Sha256(Path.Combine(dir, "crossed.bin")));
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public void Tab_completion_lists_the_remote_folder(string x)
        {
            var dir = NewDir("complete");
            Directory.CreateDirectory(Path.Combine(dir, "alpha folder"));
            File.WriteAllText(Path.Combine(dir, "alpine.txt"), "");
            File.WriteAllText(Path.Combine(dir, "beta.txt"), "");
            var input = $"Get-RemoteItem -ExecutorId {x} -Path {dir}/al";
            var matches = Ps.Run("(TabExpansion2 -inputScript $args[0] -cursorColumn $args[0].Length).CompletionMatches | ForEach-Object CompletionText", input)
                .AssertOk().All<string>();
            Assert.Equal(new[] { $"'{dir}/alpha folder/'", $"{dir}/alpine.txt" }, matches.ToArray());
        }

        [Theory]
        [InlineData("legacy", "download")]
        [InlineData("current", "download")]
        [InlineData("legacy", "upload")]
        [InlineData("current", "upload")]
        public async Task Copy_stopped_half_way_leaves_nothing(string x, string direction)
        {
            var dir = NewDir("stop");
            var src = Path.Combine(dir, "big.bin");
            TestFiles.WriteRandom(src, 256L * 1048576, 13);
            var dest = Path.Combine(dir, "dest.bin");
            var script = direction == "download"
                ? "Copy-RemoteItem -FromExecutor $args[0] -Path $args[1] -Destination $args[2]"
                : "Copy-RemoteItem -ToExecutor $args[0] -Path $args[1] -Destination $args[2]";
            using var ps = Ps.Begin(script, x, src, dest);
            var async = ps.BeginInvoke();
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (TestFiles.Partials(dir).Length == 0 && !async.IsCompleted && DateTime.UtcNow < deadline) await Task.Delay(5);
            Assert.False(async.IsCompleted, "the copy finished before it could be stopped");
            Assert.NotEmpty(TestFiles.Partials(dir));
            ps.Stop();
            Assert.Throws<PipelineStoppedException>(() => ps.EndInvoke(async));
            // Clean-up of the remote partial runs as part of the stop; give the executor a moment.
            for (int i = 0; i < 50 && TestFiles.Partials(dir).Length > 0; i++) await Task.Delay(100);
            Assert.False(File.Exists(dest));
            Assert.Empty(TestFiles.Partials(dir));
        }

        [Theory]
        [InlineData("legacy")]
        [InlineData("current")]
        public async Task Server_killed_half_way_leaves_nothing(string x)
        {
            using var server = await ExecServer.StartAsync(x == "legacy" ? Peers.Legacy : Peers.Current);
            using var ps = new PsHost();
            ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId victim", server.Uri).AssertOk();
            var dir = NewDir("killed");
            var src = Path.Combine(dir, "big.bin");
            TestFiles.WriteRandom(src, 256L * 1048576, 17);
            var local = Path.Combine(dir, "local");
            Directory.CreateDirectory(local);
            var dest = Path.Combine(local, "dest.bin");
            using var run = ps.Begin("Copy-RemoteItem -FromExecutor victim -Path $args[0] -Destination $args[1]", src, dest);
            var async = run.BeginInvoke();
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (TestFiles.Partials(local).Length == 0 && !async.IsCompleted && DateTime.UtcNow < deadline) await Task.Delay(5);
            Assert.False(async.IsCompleted, "the copy finished before the server could be killed");
            server.Kill();
            var finished = await Task.Run(() => async.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(60)));
            Assert.True(finished, "the copy did not end after the server died");
            run.EndInvoke(async);
            var error = run.Streams.Error.Single();
            Assert.Contains(error.FullyQualifiedErrorId.Split(',')[0], new[] { "ConnectionLost", "ConnectionRefused", "OperationTimeout" });
            Assert.False(File.Exists(dest));
            Assert.Empty(TestFiles.Partials(local));
        }

        [Fact]
        [System.Runtime.Versioning.SupportedOSPlatform("linux")]
        public async Task Permission_denied_is_reported()
        {
            // Root ignores file modes, so the executor is started as 'nobody' with setpriv (which needs root) and reads a mode-000 file.
            Assert.True(Environment.UserName == "root" && File.Exists("/usr/bin/setpriv"),
                "This test needs root and setpriv to run an executor as an unprivileged user.");
            var dir = NewDir("perm");
            var home = Path.Combine(dir, "home");
            Directory.CreateDirectory(home);
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ff);
            File.SetUnixFileMode(home, (UnixFileMode)0x1ff);
            var secret = Path.Combine(dir, "secret.txt");
            File.WriteAllText(secret, "top secret");
            File.SetUnixFileMode(secret, UnixFileMode.None);
            int port = ExecServer.FreePort();
            var psi = new System.Diagnostics.ProcessStartInfo("/usr/bin/setpriv")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            foreach (var a in new[] { "--reuid=65534", "--regid=65534", "--clear-groups", Peers.CodexPath(Peers.Current), "exec-server", "--listen", $"ws://127.0.0.1:{port}" })
                psi.ArgumentList.Add(a);
            psi.Environment["CODEX_HOME"] = home;
            psi.Environment["HOME"] = home;
            using var proc = System.Diagnostics.Process.Start(psi)!;
            try
            {
                var line = await proc.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                Assert.StartsWith("ws://", line);
                using var ps = new PsHost();
                ps.Run("Connect-ExecBridge -Uri $args[0] -ExecutorId nobody", new Uri($"ws://127.0.0.1:{port}")).AssertOk();
                var r = ps.Run("Get-RemoteFile -Path $args[0]", secret);
                Assert.Equal("RemotePermissionDenied", r.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);
                var d = ps.Run("Copy-RemoteItem -FromExecutor nobody -Path $args[0] -Destination $args[1]", secret, Path.Combine(dir, "stolen.txt"));
                Assert.Equal("RemotePermissionDenied", d.AllErrors.Single().FullyQualifiedErrorId.Split(',')[0]);
                Assert.False(File.Exists(Path.Combine(dir, "stolen.txt")));
            }
            finally
            {
                try { proc.Kill(true); } catch { }
            }
        }
    }
}
