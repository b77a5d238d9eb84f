using System;
using System.Diagnostics;
using System.IO;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Client
{
    /// <summary>
    /// The embedded default: a codex exec-server on 127.0.0.1 with a free port and, where the version has
    /// --ws-auth, a fresh capability token passed in a private file (never on the command line).
    /// </summary>
    public sealed class LocalExecServer : IDisposable
    {
        private readonly Process _process;
        private readonly string _home;

        private LocalExecServer(Process process, string home, Uri uri, string? token, string codexPath)
        {
            _process = process;
            _home = home;
            Uri = uri;
            Token = token;
            CodexPath = codexPath;
        }

        public Uri Uri { get; }
        public string CodexPath { get; }
        internal string? Token { get; }
        public bool UsesToken => Token != null;
        public int ProcessId => _process.Id;

        /// <summary>Finds codex: an explicit path, then $EXECBRIDGE_CODEX, then PATH.</summary>
        public static string ResolveCodex(string? explicitPath)
        {
            string? candidate = explicitPath;
            if (string.IsNullOrEmpty(candidate)) candidate = Environment.GetEnvironmentVariable("EXECBRIDGE_CODEX");
            if (!string.IsNullOrEmpty(candidate))
            {
                if (File.Exists(candidate)) return Path.GetFullPath(candidate);
                throw new ExecBridgeException(ExecBridgeErrorKind.LocalServerFailed, $"The codex binary '{candidate}' does not exist.");
            }
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
            {
                if (dir.Length == 0) continue;
                var p = Path.Combine(dir, "codex");
                if (File.Exists(p)) return p;
            }
            throw new ExecBridgeException(ExecBridgeErrorKind.LocalServerFailed,
                "codex was not found on PATH; pass -ExecServerPath or set $env:EXECBRIDGE_CODEX.");
        }

        public static async Task<LocalExecServer> StartAsync(string codexPath, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var home = Path.Combine(Path.GetTempPath(), "execbridge-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(home);
            string? token = null;
            var psi = new ProcessStartInfo(codexPath)
            {
                Arguments = "exec-server --listen ws://127.0.0.1:0",
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
                CreateNoWindow = true,
            };
            if (await SupportsAuthAsync(codexPath, cancellationToken).ConfigureAwait(false))
            {
                var bytes = new byte[32];
                using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(bytes);
                token = BitConverter.ToString(bytes).Replace("-", "").ToLowerInvariant();
                var tokenFile = Path.Combine(home, "ws-token");
                File.WriteAllText(tokenFile, token);
                TryRestrict(tokenFile);
                psi.Arguments += " --ws-auth capability-token --ws-token-file \"" + tokenFile + "\"";
            }
            psi.EnvironmentVariables["CODEX_HOME"] = home;

            Process process;
            try { process = Process.Start(psi)!; }
            catch (Exception ex)
            {
                throw new ExecBridgeException(ExecBridgeErrorKind.LocalServerFailed, $"Could not start '{codexPath}': {ex.Message}", ex);
            }
            var stderr = new System.Text.StringBuilder();
            process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) if (stderr.Length < 4000) stderr.AppendLine(e.Data); };
            process.BeginErrorReadLine();

            var readLine = process.StandardOutput.ReadLineAsync();
            var finished = await Task.WhenAny(readLine, Task.Delay(timeout, cancellationToken)).ConfigureAwait(false);
            string? line = finished == readLine ? readLine.Result : null;
            if (line == null || !line.StartsWith("ws://", StringComparison.Ordinal))
            {
                try { process.Kill(); } catch { }
                cancellationToken.ThrowIfCancellationRequested();
                string err; lock (stderr) err = stderr.ToString().Trim();
                throw new ExecBridgeException(ExecBridgeErrorKind.LocalServerFailed,
                    $"The local exec-server did not report its address within {timeout.TotalSeconds:0} s. {err}");
            }
            // Drain stdout so the server can never block on a full pipe.
            // (asynchronously: a thread blocked for the server's lifetime would starve a 2-core thread pool)
            _ = process.StandardOutput.ReadToEndAsync().ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
            return new LocalExecServer(process, home, new Uri(line.Trim()), token, codexPath);
        }

        private static async Task<bool> SupportsAuthAsync(string codexPath, CancellationToken cancellationToken)
        {
            var psi = new ProcessStartInfo(codexPath, "exec-server --help")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, CreateNoWindow = true,
            };
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEndAsync();
            var err = p.StandardError.ReadToEndAsync();
            await Task.WhenAny(Task.WhenAll(output, err), Task.Delay(10000, cancellationToken)).ConfigureAwait(false);
            try { if (!p.HasExited) p.Kill(); } catch { }
            return output.IsCompleted && output.Result.Contains("--ws-auth");
        }

        private static void TryRestrict(string file)
        {
            try
            {
                var psi = new ProcessStartInfo("chmod", $"600 \"{file}\"") { UseShellExecute = false, CreateNoWindow = true };
                using var p = Process.Start(psi);
                p?.WaitForExit(5000);
            }
            catch { /* Windows or no chmod: the folder is the user's own temp folder. */ }
        }

        public void Dispose()
        {
            try { if (!_process.HasExited) { _process.Kill(); _process.WaitForExit(5000); } } catch { }
            _process.Dispose();
            try { Directory.Delete(_home, true); } catch { }
        }
    }
}
