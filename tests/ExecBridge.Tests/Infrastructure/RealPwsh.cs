using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO;
using System.Threading;

namespace ExecBridge.Tests.Infrastructure
{
    /// <summary>
    /// A real pwsh 7.6 process (the repository's dotnet tool) reading commands from stdin, in its own session and
    /// process group like a shell's foreground job, so a test can Ctrl+C (SIGINT to the group) or SIGKILL it.
    /// </summary>
    public sealed class RealPwsh : IDisposable
    {
        private static readonly Lazy<string> PwshDll = new Lazy<string>(FindPwsh);
        private readonly Process _process;
        private readonly BlockingCollection<string> _lines = new BlockingCollection<string>();
        private readonly ConcurrentQueue<string> _stderr = new ConcurrentQueue<string>();

        public RealPwsh(System.Collections.Generic.IDictionary<string, string>? env = null)
        {
            var psi = new ProcessStartInfo("setsid") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "env", "--default-signal=INT", "dotnet", PwshDll.Value, "-NoProfile", "-NonInteractive", "-Command", "-" }) psi.ArgumentList.Add(a);
            // env resets SIGINT to its default: a test runner that ignores it would otherwise pass that on to pwsh and codex.
            psi.Environment["TERM"] = "dumb";
            if (env != null) foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
            _process = Process.Start(psi)!;
            _process.OutputDataReceived += (_, e) => { if (e.Data != null) _lines.Add(e.Data); };
            _process.ErrorDataReceived += (_, e) => { if (e.Data != null) _stderr.Enqueue(e.Data); };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        /// <summary>pwsh's pid, which is also its process group and session id (setsid without a fork).</summary>
        public int Pid => _process.Id;

        public bool HasExited => _process.HasExited;

        public void Send(string line)
        {
            _process.StandardInput.WriteLine(line);
            _process.StandardInput.Flush();
        }

        public void CloseInput() => _process.StandardInput.Close();

        /// <summary>Waits for an output line that contains the marker; fails with what pwsh wrote to stderr.</summary>
        public string WaitFor(string marker, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < deadline)
            {
                if (_lines.TryTake(out var line, TimeSpan.FromMilliseconds(200)) && line.Contains(marker)) return line;
            }
            throw new Xunit.Sdk.XunitException($"pwsh did not print '{marker}' within {timeout.TotalSeconds} s. stderr: {string.Join("\n", _stderr)}");
        }

        public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit((int)timeout.TotalMilliseconds);

        public void Signal(string signal, bool group) => Run("kill", "-" + signal, "--", (group ? "-" : "") + Pid);

        public static void Run(string file, params string[] args)
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.WaitForExit(10_000);
        }

        /// <summary>Runs a script file in a fresh pwsh (-NoProfile -NonInteractive -File) with extra environment variables.</summary>
        public static (int ExitCode, string Stdout, string Stderr) RunFile(string script, System.Collections.Generic.IDictionary<string, string> env, TimeSpan timeout)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { PwshDll.Value, "-NoProfile", "-NonInteractive", "-File", script }) psi.ArgumentList.Add(a);
            psi.Environment["TERM"] = "dumb";
            foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var o = p.StandardOutput.ReadToEndAsync();
            if (!p.WaitForExit((int)timeout.TotalMilliseconds)) { p.Kill(true); throw new TimeoutException("pwsh did not finish " + script); }
            return (p.ExitCode, o.Result, err.Result);
        }

        /// <summary>$PSHOME of the dotnet tool pinned in .config/dotnet-tools.json (restored on first use).</summary>
        private static string FindPwsh()
        {
            string Capture(string args)
            {
                var psi = new ProcessStartInfo("dotnet", args) { WorkingDirectory = Peers.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true };
                using var p = Process.Start(psi)!;
                var err = p.StandardError.ReadToEndAsync();
                var o = p.StandardOutput.ReadToEnd();
                p.WaitForExit(300_000);
                if (p.ExitCode != 0) throw new InvalidOperationException($"dotnet {args} failed: {err.Result}");
                return o;
            }
            Capture("tool restore");
            var lines = Capture("pwsh -NoProfile -NonInteractive -Command $PSHOME").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var l in lines)
            {
                // Output may carry terminal escapes before the path.
                int at = l.IndexOf('/');
                if (at >= 0 && File.Exists(Path.Combine(l.Substring(at), "pwsh.dll"))) return Path.Combine(l.Substring(at), "pwsh.dll");
            }
            throw new InvalidOperationException("pwsh.dll not found under $PSHOME of the dotnet tool: " + string.Join(" | ", lines));
        }

        public void Dispose()
        {
            try { if (!_process.HasExited) Signal("KILL", group: true); } catch { }
            _process.WaitForExit(5000);
            _process.Dispose();
        }
    }
}
