using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks;

namespace ExecBridge.Tests.Infrastructure
{
    /// <summary>A real codex exec-server on loopback, killed (with its children) on dispose.</summary>
    public sealed class ExecServer : IDisposable
    {
        private Process? _process;
        private readonly string _home;
        private readonly string? _tokenFile;
        private readonly IDictionary<string, string>? _env;

        private ExecServer(string version, int port, string? token, IDictionary<string, string>? env)
        {
            Version = version;
            Port = port;
            Token = token;
            _env = env;
            _home = Path.Combine(Path.GetTempPath(), "eb-codex-home-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(_home);
            if (token != null)
            {
                _tokenFile = Path.Combine(_home, "token");
                File.WriteAllText(_tokenFile, token);
            }
        }

        public string Version { get; }
        public int Port { get; }
        public string? Token { get; }
        public Uri Uri => new Uri($"ws://127.0.0.1:{Port}");
        public int Pid => _process?.Id ?? -1;
        public bool IsLegacy => Version == Peers.Legacy;

        /// <summary>Starts a server of the version; with a token it runs with --ws-auth capability-token (0.160+).</summary>
        public static async Task<ExecServer> StartAsync(string version, string? token = null, IDictionary<string, string>? env = null)
        {
            var server = new ExecServer(version, FreePort(), token, env);
            await server.LaunchAsync();
            return server;
        }

        public static int FreePort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }

        private async Task LaunchAsync()
        {
            var psi = new ProcessStartInfo(Peers.CodexPath(Version))
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add("exec-server");
            psi.ArgumentList.Add("--listen");
            psi.ArgumentList.Add($"ws://127.0.0.1:{Port}");
            if (_tokenFile != null)
            {
                psi.ArgumentList.Add("--ws-auth");
                psi.ArgumentList.Add("capability-token");
                psi.ArgumentList.Add("--ws-token-file");
                psi.ArgumentList.Add(_tokenFile);
            }
            psi.Environment["CODEX_HOME"] = _home;
            if (_env != null) foreach (var kv in _env) psi.Environment[kv.Key] = kv.Value;
            _process = Process.Start(psi)!;
            _process.ErrorDataReceived += (_, __) => { };
            _process.BeginErrorReadLine();
            var line = await _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (line == null || !line.StartsWith("ws://"))
                throw new InvalidOperationException($"codex {Version} exec-server did not start: '{line}'");
            // Keep draining stdout so the server never blocks on a full pipe.
            // (asynchronously: a pool thread blocked per server starves timers on a 2-core machine)
            _ = _process.StandardOutput.ReadToEndAsync().ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
        }

        /// <summary>Kills the server (its children die with it, notes §0).</summary>
        public void Kill()
        {
            try { if (_process != null && !_process.HasExited) { _process.Kill(true); _process.WaitForExit(5000); } } catch { }
        }

        /// <summary>Starts it again on the same port.</summary>
        public async Task RestartAsync()
        {
            Kill();
            for (int i = 0; ; i++)
            {
                try { await LaunchAsync(); return; }
                catch (InvalidOperationException) when (i < 20) { await Task.Delay(250); }
            }
        }

        public void Dispose()
        {
            Kill();
            _process?.Dispose();
            try { Directory.Delete(_home, true); } catch { }
        }
    }
}
