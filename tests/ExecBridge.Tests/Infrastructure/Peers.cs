using System;
using System.Diagnostics;
using System.IO;
using System.Threading;

namespace ExecBridge.Tests.Infrastructure
{
    /// <summary>Real exec-servers from the npm registry, fetched once into the gitignored .peers/ folder.</summary>
    public static class Peers
    {
        public const string Legacy = "0.130.0";
        public const string Current = "0.169.0";

        public static string RepoRoot { get; } = FindRepoRoot();

        /// <summary>The built module; EXECBRIDGE_MODULE points elsewhere for side-by-side builds.</summary>
        public static string ModuleManifest =>
            Environment.GetEnvironmentVariable("EXECBRIDGE_MODULE") is { Length: > 0 } m ? m : Path.Combine(RepoRoot, "out", "ExecBridge", "ExecBridge.psd1");

        private static string SourceDirectory([System.Runtime.CompilerServices.CallerFilePath] string file = "") => Path.GetDirectoryName(file) ?? "";

        private static string FindRepoRoot()
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "ExecBridge.sln"))) dir = dir.Parent;
            // Builds with --artifacts-path outside the tree: fall back to where this source file lives.
            if (dir == null) { dir = new DirectoryInfo(SourceDirectory()); while (dir != null && !File.Exists(Path.Combine(dir.FullName, "ExecBridge.sln"))) dir = dir.Parent; }
            return dir?.FullName ?? throw new InvalidOperationException("ExecBridge.sln not found above the test folder.");
        }

        /// <summary>Path of the codex binary of a version, downloading and unpacking it on first use.</summary>
        public static string CodexPath(string version)
        {
            var root = Path.Combine(RepoRoot, ".peers", version);
            var binary = FindBinary(root);
            if (binary != null) return binary;

            Directory.CreateDirectory(root);
            // A file lock keeps parallel test processes from unpacking the same tarball twice.
            using (var lockFile = AcquireLock(Path.Combine(RepoRoot, ".peers", version + ".lock")))
            {
                binary = FindBinary(root);
                if (binary != null) return binary;
                Run("npm", $"pack @openai/codex@{version}-linux-x64 --silent", root);
                var tgz = Directory.GetFiles(root, "*.tgz");
                if (tgz.Length == 0) throw new InvalidOperationException($"npm pack of codex {version} produced no tarball.");
                // Unpacked beside and moved into place in one rename: a caller that finds the binary outside the lock
                // must never run it while tar is still writing it (exec fails with "Text file busy").
                var unpack = Path.Combine(root, "unpack-" + Guid.NewGuid().ToString("N"));
                Directory.CreateDirectory(unpack);
                Run("tar", $"-xzf \"{tgz[0]}\"", unpack);
                Directory.Move(Path.Combine(unpack, "package"), Path.Combine(root, "package"));
                Directory.Delete(unpack, true);
                File.Delete(tgz[0]);
            }
            return FindBinary(root) ?? throw new InvalidOperationException($"No codex binary in the codex {version} package.");
        }

        private static string? FindBinary(string root)
        {
            foreach (var rel in new[] { "package/vendor/x86_64-unknown-linux-musl/bin/codex", "package/vendor/x86_64-unknown-linux-musl/codex/codex" })
            {
                var p = Path.Combine(root, rel);
                if (File.Exists(p)) return p;
            }
            return null;
        }

        private static FileStream AcquireLock(string path)
        {
            var deadline = DateTime.UtcNow.AddMinutes(5);
            while (true)
            {
                try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
                catch (IOException) when (DateTime.UtcNow < deadline) { Thread.Sleep(200); }
            }
        }

        private static void Run(string file, string args, string cwd)
        {
            var psi = new ProcessStartInfo(file, args) { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(600_000)) { p.Kill(true); throw new TimeoutException($"{file} {args} took over 10 minutes."); }
            if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {args} failed ({p.ExitCode}): {err.Result}");
        }
    }
}
