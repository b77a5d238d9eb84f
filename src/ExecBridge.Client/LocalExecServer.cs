using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Local;

namespace ExecBridge.Client
{
    /// <summary>
    /// The embedded default: a codex exec-server on 127.0.0.1 with a free port and, where the version has
    /// --ws-auth, a fresh capability token passed in a private file (never on the command line).
    /// On Unix it runs under a small sh watchdog (<see cref="Watchdog"/>) in its own session, so a Ctrl+C in the
    /// terminal never reaches it, and it dies with this process however this process ends.
    /// </summary>
    public sealed class LocalExecServer : IDisposable
    {
        /// <summary>
        /// $1 is the private folder, the rest the server's command line. The server gets no stdin; the watchdog
        /// holds ours, a pipe only this process writes to: EOF means we closed it (Dispose) or died (even SIGKILL),
        /// and then it stops the server and removes the folder. PR_SET_PDEATHSIG would fire when the starting
        /// thread retires, which .NET pool threads do. Its own output is closed so our readers see the server's.
        /// </summary>
        internal const string Watchdog =
            "d=$1; shift\n" +
            "\"$@\" </dev/null &\n" +
            "p=$!\n" +
            "echo \"pid $p\"\n" +
            "exec >/dev/null 2>&1\n" +
            "while read -r _; do :; done\n" +
            "kill -TERM $p\n" +
            "( sleep 3; kill -KILL $p ) & k=$!\n" +
            "wait $p\n" +
            "kill $k\n" +
            "rm -rf \"$d\"\n";

        // Variables the server keeps; everything else (relay secrets, EXECBRIDGE_*, cloud keys) stays in this process.
        private static readonly string[] KeptVariables = { "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR" };

        private static readonly List<LocalExecServer> Live = new List<LocalExecServer>();
        private static int _exitHooked;

        private readonly Process _process;
        private readonly string _home;
        private int _disposed;

        private LocalExecServer(Process process, int serverPid, string home, Uri uri, string? token, string codexPath)
        {
            _process = process;
            ProcessId = serverPid;
            _home = home;
            Uri = uri;
            Token = token;
            CodexPath = codexPath;
        }

        public Uri Uri { get; }
        public string CodexPath { get; }
        internal string? Token { get; }
        public bool UsesToken => Token != null;

        /// <summary>The exec-server's own process id (not the watchdog's).</summary>
        public int ProcessId { get; }

        /// <summary>The private folder holding CODEX_HOME and the token file; removed when the server stops.</summary>
        internal string HomeDirectory => _home;

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
            return FindOnPath("codex") ?? throw new ExecBridgeException(ExecBridgeErrorKind.LocalServerFailed,
                "codex was not found on PATH; pass -ExecServerPath or set $env:EXECBRIDGE_CODEX.");
        }

        private static string? FindOnPath(string name)
        {
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
            {
                if (dir.Length == 0) continue;
                var p = Path.Combine(dir, name);
                if (File.Exists(p)) return p;
            }
            return null;
        }

        public static async Task<LocalExecServer> StartAsync(string codexPath, TimeSpan timeout, CancellationToken cancellationToken)
        {
            bool auth = await SupportsAuthAsync(codexPath, cancellationToken).ConfigureAwait(false);
            var home = Path.Combine(Path.GetTempPath(), "execbridge-" + Guid.NewGuid().ToString("N"));
            PrivateFiles.CreateDirectory(home);
            try
            {
                var server = new List<string> { codexPath, "exec-server", "--listen", "ws://127.0.0.1:0" };
                string? token = null;
                if (auth)
                {
                    var bytes = new byte[32];
                    using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(bytes);
                    token = BitConverter.ToString(bytes).Replace("-", "").ToLowerInvariant();
                    var tokenFile = Path.Combine(home, "ws-token");
                    PrivateFiles.WriteNewFile(tokenFile, token);
                    server.AddRange(new[] { "--ws-auth", "capability-token", "--ws-token-file", tokenFile });
                }
                return await LaunchAsync(server, home, token, codexPath, timeout, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                try { Directory.Delete(home, true); } catch { }
                throw;
            }
        }

        private static async Task<LocalExecServer> LaunchAsync(List<string> server, string home, string? token, string codexPath,
            TimeSpan timeout, CancellationToken cancellationToken)
        {
            var psi = new ProcessStartInfo
            {
                RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
                UseShellExecute = false, CreateNoWindow = true,
            };
            var args = new List<string>();
            if (PrivateFiles.IsUnix)
            {
                // setsid (util-linux): a session and process group of its own, away from the terminal's Ctrl+C.
                var setsid = FindOnPath("setsid");
                psi.FileName = setsid ?? "/bin/sh";
                if (setsid != null) args.Add("/bin/sh");
                args.AddRange(new[] { "-c", Watchdog, "execbridge-watchdog", home });
                args.AddRange(server);
            }
            else
            {
                psi.FileName = server[0];
                args.AddRange(server.GetRange(1, server.Count - 1));
            }
            SetArguments(psi, args);
            ScrubEnvironment(psi, home);

            Process process;
            try { process = Process.Start(psi)!; }
            catch (Exception ex)
            {
                throw new ExecBridgeException(ExecBridgeErrorKind.LocalServerFailed, $"Could not start '{codexPath}': {ex.Message}", ex);
            }
            var stderr = new System.Text.StringBuilder();
            process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) if (stderr.Length < 4000) stderr.AppendLine(e.Data); };
            process.BeginErrorReadLine();

            int serverPid = PrivateFiles.IsUnix ? 0 : process.Id;
            string? line = null;
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            while (true)
            {
                var read = process.StandardOutput.ReadLineAsync();
                var finished = await Task.WhenAny(read, Task.Delay(Timeout.Infinite, deadline.Token)).ConfigureAwait(false);
                line = finished == read ? read.Result : null;
                if (line != null && line.StartsWith("pid ", StringComparison.Ordinal) && serverPid == 0) { int.TryParse(line.Substring(4), out serverPid); continue; }
                break;
            }
            if (line == null || !line.StartsWith("ws://", StringComparison.Ordinal))
            {
                Stop(process, serverPid, home);
                cancellationToken.ThrowIfCancellationRequested();
                string err; lock (stderr) err = stderr.ToString().Trim();
                throw new ExecBridgeException(ExecBridgeErrorKind.LocalServerFailed,
                    $"The local exec-server did not report its address within {timeout.TotalSeconds:0} s. {err}");
            }
            // Drain stdout so the server can never block on a full pipe.
            // (asynchronously: a thread blocked for the server's lifetime would starve a 2-core thread pool)
            _ = process.StandardOutput.ReadToEndAsync().ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
            var result = new LocalExecServer(process, serverPid, home, new Uri(line.Trim()), token, codexPath);
            Track(result);
            return result;
        }

        /// <summary>
        /// The server runs commands for the user, so it keeps what a login shell needs (PATH, HOME, locale, TERM…)
        /// and nothing else: no relay secret, no EXECBRIDGE_* variable, no other credential of this session.
        /// </summary>
        private static void ScrubEnvironment(ProcessStartInfo psi, string home)
        {
            // Windows needs SystemRoot and friends: not scrubbed there (not tested here: no Windows machine).
            if (PrivateFiles.IsUnix)
            {
                var kept = new Dictionary<string, string>();
                foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
                {
                    var name = (string)e.Key;
                    if (Array.IndexOf(KeptVariables, name) >= 0 || name.StartsWith("LC_", StringComparison.Ordinal))
                        kept[name] = (string?)e.Value ?? "";
                }
                psi.EnvironmentVariables.Clear();
                foreach (var kv in kept) psi.EnvironmentVariables[kv.Key] = kv.Value;
            }
            psi.EnvironmentVariables["CODEX_HOME"] = home;
        }

        // ArgumentList (.NET Core 2.1+, where the module runs on PowerShell 7) passes each argument verbatim; the
        // netstandard2.0 surface only has the Windows-quoted Arguments string, kept for Windows PowerShell.
        private static void SetArguments(ProcessStartInfo psi, List<string> args)
        {
            if (typeof(ProcessStartInfo).GetProperty("ArgumentList")?.GetValue(psi) is ICollection<string> list)
            {
                foreach (var a in args) list.Add(a);
                return;
            }
            psi.Arguments = string.Join(" ", args.ConvertAll(a =>
                a.Length > 0 && a.IndexOfAny(new[] { ' ', '"', '\t', '\n' }) < 0 ? a : "\"" + a.Replace("\"", "\\\"") + "\""));
        }

        private static async Task<bool> SupportsAuthAsync(string codexPath, CancellationToken cancellationToken)
        {
            var psi = new ProcessStartInfo(codexPath, "exec-server --help")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, CreateNoWindow = true,
            };
            Process p;
            try { p = Process.Start(psi)!; }
            catch (Exception ex)
            {
                throw new ExecBridgeException(ExecBridgeErrorKind.LocalServerFailed, $"Could not start '{codexPath}': {ex.Message}", ex);
            }
            using (p)
            {
                var output = p.StandardOutput.ReadToEndAsync();
                var err = p.StandardError.ReadToEndAsync();
                await Task.WhenAny(Task.WhenAll(output, err), Task.Delay(10000, cancellationToken)).ConfigureAwait(false);
                try { if (!p.HasExited) p.Kill(); } catch { }
                return output.IsCompleted && output.Result.Contains("--ws-auth");
            }
        }

        // Servers still running when the process exits (pwsh `exit` without Disconnect) are stopped then; a SIGKILL
        // skips this, and the watchdog sees the pipe close instead.
        private static void Track(LocalExecServer server)
        {
            lock (Live) Live.Add(server);
            if (Interlocked.Exchange(ref _exitHooked, 1) == 0)
                AppDomain.CurrentDomain.ProcessExit += (_, __) =>
                {
                    LocalExecServer[] all;
                    lock (Live) all = Live.ToArray();
                    foreach (var s in all) s.Dispose();
                };
        }

        /// <summary>Closing the watchdog's stdin makes it stop the server and remove the folder; then the fallbacks.</summary>
        private static void Stop(Process process, int serverPid, string home)
        {
            try { process.StandardInput.Close(); } catch { }
            bool exited = false;
            try { exited = process.WaitForExit(5000); } catch { }
            if (!exited) { try { process.Kill(); } catch { } }
            if (serverPid > 0 && (!exited || !PrivateFiles.IsUnix))
            {
                try { using var p = Process.GetProcessById(serverPid); p.Kill(); p.WaitForExit(5000); } catch { }
            }
            try { Directory.Delete(home, true); } catch { }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
            lock (Live) Live.Remove(this);
            Stop(_process, ProcessId, _home);
            _process.Dispose();
        }
    }
}
