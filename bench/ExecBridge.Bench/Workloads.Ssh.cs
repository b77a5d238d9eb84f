using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Tests.Infrastructure;

namespace ExecBridge.Bench
{
    /// <summary>
    /// W10 (issue 19 item 4): the peers a user would use instead, in the same run. The bench starts its own sshd on a
    /// loopback port (its own host and user keys in a temporary folder, not the system's config) with the powershell
    /// subsystem running the pinned pwsh, then bench/peer-ssh.ps1 in a real pwsh child times PowerShell remoting over
    /// SSH, plain ssh/scp over ControlMaster connections and ExecBridge, interleaved round by round in that one process.
    /// Needs openssh-server: installed with apt-get when missing and this runs as root, otherwise skipped with a line.
    /// Not in --quick (CI has no sshd, and the copies alone take tens of seconds).
    /// </summary>
    internal sealed partial class Workloads
    {
        private const string SshdPath = "/usr/sbin/sshd";

        public async Task W10Async()
        {
            // The peer script runs all its rounds in one process (the rounds are interleaved inside it): once per bench run.
            if (_w10Done) return;
            _w10Done = true;
            const int targets = 16;
            string label = $"W10 peers: {targets} targets on loopback";
            if (_o.Quick)
            {
                AddRow(label, "PowerShell remoting over SSH, ssh/scp", MetricKind.Millis).NotAvailable = "skipped in --quick (needs sshd; tens of seconds)";
                return;
            }
            string? why = EnsureSshd();
            if (why != null)
            {
                _log("  W10 skipped: " + why);
                AddRow(label, "PowerShell remoting over SSH, ssh/scp", MetricKind.Millis).NotAvailable = "skipped: " + why;
                return;
            }

            var sshDir = Path.Combine(_dir, "ssh");
            Directory.CreateDirectory(sshDir);
            var (dotnet, pwshDll) = await PinnedPwshAsync();
            int port = ExecServer.FreePort();
            var sshd = await StartSshdAsync(sshDir, port, dotnet, pwshDll);
            try { await RunPeersAsync(label, targets, sshDir, port); }
            finally
            {
                try { sshd.Kill(entireProcessTree: true); sshd.WaitForExit(5000); } catch { }
                sshd.Dispose();
            }
        }

        private async Task RunPeersAsync(string label, int targets, string sshDir, int port)
        {

            // ExecBridge's targets: 16 real servers (W8's, started here if W8 did not run), dialed directly as ssh is.
            await ScaleGatewayAsync(targets);
            long size = _o.W1Bytes;
            string src = SourceFile(size);
            int calls = 50;
            var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Peers.RepoRoot };
            psi.Environment["NO_COLOR"] = "1";
            foreach (var a in new[] { "pwsh", "-NoLogo", "-NoProfile", "-NonInteractive", "-File", Path.Combine(Peers.RepoRoot, "bench", "peer-ssh.ps1"),
                         "-Module", Peers.ModuleManifest, "-SshPort", port.ToString(), "-SshDir", sshDir,
                         "-ExecutorUri", string.Join(",", _scaleServers.Take(targets).Select(s => s.Uri.ToString())),
                         "-CopyFile", src, "-WorkDir", _dir, "-Rounds", _o.Rounds.ToString(), "-Calls", calls.ToString() })
                psi.ArgumentList.Add(a);
            _log($"  W10: sshd on 127.0.0.1:{port}, peer-ssh.ps1 with {_o.Rounds} interleaved rounds ...");
            var sw = Stopwatch.StartNew();
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using (var cts = new CancellationTokenSource(TimeSpan.FromMinutes(20)))
            {
                try { await p.WaitForExitAsync(cts.Token); }
                catch (OperationCanceledException) { p.Kill(true); throw new TimeoutException("peer-ssh.ps1 did not finish in 20 minutes"); }
            }
            var line = (await stdout).Split('\n').LastOrDefault(l => l.StartsWith("RESULT "));
            if (p.ExitCode != 0 || line == null)
            {
                var row = AddRow(label, "PowerShell remoting over SSH, ssh/scp", MetricKind.Millis);
                row.Runs.Add(new RunResult { Problem = $"peer-ssh.ps1 exited {p.ExitCode}: {Measure.FirstLine(((await stderr).Trim() + " " + (await stdout).Trim()).Trim())}" });
                _log("  W10 FAILED: " + (await stderr).Trim());
                return;
            }
            _log($"  W10: done in {sw.Elapsed.TotalSeconds:0} s");
            var result = JsonDocument.Parse(line.Substring(7)).RootElement;
            var times = result.GetProperty("Times");

            Row Add(string workload, string path, string key, string note, Row? versus = null, double? min = null)
            {
                var row = AddRow(workload, path, MetricKind.Millis);
                row.Note = note;
                if (versus != null) row.Versus.Add(new VersusTarget(versus, min, "ExecBridge (peer time / ExecBridge time)"));
                if (!times.TryGetProperty(key, out var list)) { row.NotAvailable = NotImplemented + ": " + key; return row; }
                foreach (var v in list.EnumerateArray()) row.Runs.Add(new RunResult { DirectValue = v.GetDouble(), Seconds = v.GetDouble() / 1000 });
                return row;
            }

            string fan = $"W10 fan-out `echo hi` to {targets} targets";
            var ebFan = result.GetProperty("Fanout").GetBoolean()
                ? Add(fan, "ExecBridge: Invoke-RemoteCommand -ExecutorId (16) -ThrottleLimit 32", "fanout.execbridge", "lines checked: 'hi' from each")
                : Add(fan, "ExecBridge: ForEach-Object -Parallel { Invoke-RemoteCommand -Connection $_ } (no fan-out cmdlet in this build)", "fanout.execbridge-parallel", "Import-Module in each runspace of the pool");
            if (result.GetProperty("Fanout").GetBoolean())
                Add(fan, "ExecBridge: ForEach-Object -Parallel (by hand, reference)", "fanout.execbridge-parallel", "", ebFan);
            Add(fan, "ExecBridge: one after another (reference)", "fanout.execbridge-sequential", "foreach ($c in $conns) { Invoke-RemoteCommand 'echo hi' -Connection $c }", ebFan);
            Add(fan, "PowerShell remoting: Invoke-Command -Session (16) -ThrottleLimit 32", "fanout.psremoting", "sessions opened beforehand (New-PSSession -HostName, powershell subsystem)", ebFan, 1.0);
            Add(fan, "ssh: 16 processes at once over 16 ControlMaster connections", "fanout.ssh", "ssh -o ControlPath=... user@127.0.0.1 echo hi, started together, stdout read", ebFan, 1.0);

            string small = $"W10 {calls} sequential `echo hi`, one target";
            var ebSmall = Add(small, "ExecBridge: Invoke-RemoteCommand -Connection", "small.execbridge", "for loop in pwsh");
            Add(small, "PowerShell remoting: Invoke-Command -Session", "small.psremoting", "for loop in pwsh, one open session", ebSmall, 1.0);
            Add(small, "ssh over a ControlMaster connection", "small.ssh", "for loop in pwsh of `ssh ... echo hi` (a native command)", ebSmall, 1.0);

            string up = $"W10 copy {size >> 20} MiB to the target";
            var ebUp = Add(up, "ExecBridge: Copy-RemoteItem -ToExecutor", "up.execbridge", "verified (SHA-256 both sides), partial + rename");
            Add(up, "PowerShell remoting: Copy-Item -ToSession", "up.psremoting", "", ebUp, 1.0);
            Add(up, "scp over a ControlMaster connection", "up.scp", "", ebUp);
            string down = $"W10 copy {size >> 20} MiB from the target";
            var ebDown = Add(down, "ExecBridge: Copy-RemoteItem -FromExecutor", "down.execbridge", "verified (SHA-256 both sides), partial + rename");
            Add(down, "PowerShell remoting: Copy-Item -FromSession", "down.psremoting", "", ebDown, 1.0);
            Add(down, "scp over a ControlMaster connection", "down.scp", "", ebDown);
        }

        private bool _w10Done;

        /// <summary>Null when sshd is there (installed now if it can be); otherwise why W10 is skipped.</summary>
        private string? EnsureSshd()
        {
            if (File.Exists(SshdPath)) return null;
            if (Environment.UserName != "root") return "openssh-server is not installed (sshd not found) and this is not root to apt-get it";
            _log("  W10: installing openssh-server (apt-get) ...");
            int Run(string args)
            {
                var psi = new ProcessStartInfo("apt-get", args) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
                psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
                using var p = Process.Start(psi)!;
                p.StandardOutput.ReadToEnd(); p.StandardError.ReadToEnd();
                p.WaitForExit();
                return p.ExitCode;
            }
            if (Run("update -qq") != 0 || Run("install -y -qq openssh-server") != 0 || !File.Exists(SshdPath))
                return "openssh-server is not installed and apt-get could not install it";
            return null;
        }

        /// <summary>The pinned pwsh (`dotnet pwsh`) as a plain command line for sshd's Subsystem: the dotnet host and pwsh.dll.</summary>
        private static async Task<(string Dotnet, string PwshDll)> PinnedPwshAsync()
        {
            var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, WorkingDirectory = Peers.RepoRoot };
            foreach (var a in new[] { "pwsh", "-NoLogo", "-NoProfile", "-Command", "[Environment]::ProcessPath; Join-Path $PSHOME pwsh.dll" }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var lines = (await p.StandardOutput.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            await p.WaitForExitAsync();
            return (lines[0], lines[1]);
        }

        /// <summary>A private sshd: loopback only, keys and config in dir, public keys only, the powershell subsystem.</summary>
        private async Task<Process> StartSshdAsync(string dir, int port, string dotnet, string pwshDll)
        {
            void Keygen(string file)
            {
                using var p = Process.Start(new ProcessStartInfo("ssh-keygen") { ArgumentList = { "-q", "-t", "ed25519", "-N", "", "-f", file }, UseShellExecute = false })!;
                p.WaitForExit();
                if (p.ExitCode != 0) throw new InvalidOperationException("ssh-keygen failed");
            }
            Keygen(Path.Combine(dir, "host_ed25519"));
            Keygen(Path.Combine(dir, "id_ed25519"));
            File.Copy(Path.Combine(dir, "id_ed25519.pub"), Path.Combine(dir, "authorized_keys"));
            File.WriteAllText(Path.Combine(dir, "known_hosts"), $"[127.0.0.1]:{port} " + File.ReadAllText(Path.Combine(dir, "host_ed25519.pub")));
            var config = Path.Combine(dir, "sshd_config");
            File.WriteAllLines(config, new[]
            {
                $"Port {port}", "ListenAddress 127.0.0.1",
                $"HostKey {dir}/host_ed25519", $"PidFile {dir}/sshd.pid", $"AuthorizedKeysFile {dir}/authorized_keys",
                "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
                "PermitRootLogin prohibit-password", "StrictModes no", "MaxSessions 64", "MaxStartups 64:30:128",
                "LogLevel ERROR",
                // Debian's bash sources ~/.bashrc for commands run by sshd when SHLVL < 2; root's here runs `pyenv init`
                // (0.75 s), which made every ssh command and session start 0.75 s slower: not ssh's cost.
                "SetEnv SHLVL=1",
                $"Subsystem powershell {dotnet} {pwshDll} -sshs -NoLogo -NoProfile",
                "Subsystem sftp internal-sftp", // scp of OpenSSH 9 speaks SFTP
            });
            Directory.CreateDirectory("/run/sshd"); // privilege separation directory sshd insists on
            var psi = new ProcessStartInfo(SshdPath) { UseShellExecute = false, RedirectStandardError = true };
            foreach (var a in new[] { "-D", "-e", "-f", config }) psi.ArgumentList.Add(a);
            var sshd = Process.Start(psi)!;
            _ = sshd.StandardError.ReadToEndAsync();
            for (int i = 0; i < 100; i++)
            {
                if (sshd.HasExited) throw new InvalidOperationException($"sshd exited {sshd.ExitCode} at start");
                try { using var c = new System.Net.Sockets.TcpClient(); await c.ConnectAsync("127.0.0.1", port); return sshd; }
                catch (System.Net.Sockets.SocketException) { await Task.Delay(50); }
            }
            sshd.Kill();
            throw new InvalidOperationException("sshd did not listen within 5 s");
        }
    }
}
