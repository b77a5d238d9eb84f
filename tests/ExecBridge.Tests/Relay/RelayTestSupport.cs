using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Client.Relay;
using ExecBridge.Tests.Gateway;
using Microsoft.Extensions.Logging;
using Xunit;

namespace ExecBridge.Tests.Relay
{
    /// <summary>Collects log lines (what -Verbose would show).</summary>
    public sealed class ListLogger : ILogger
    {
        public ConcurrentQueue<string> Lines { get; } = new ConcurrentQueue<string>();
        public string Text => string.Join("\n", Lines);
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Lines.Enqueue(formatter(state, exception));
    }

    /// <summary>Shell helpers run on an executor through its client.</summary>
    public static class Sh
    {
        public static async Task<string> RunAsync(ExecutorClient client, string command, CancellationToken ct)
        {
            var r = await client.RunCommandAsync(command, ct, TimeSpan.FromSeconds(60));
            Assert.True(r.ExitCode == 0, $"'{command}' failed with {r.ExitCode}: {r.Stderr}");
            return r.StdoutText;
        }

        public static string Q(string s) => "'" + s.Replace("'", "'\\''") + "'";

        /// <summary>sha256 of a file, or a listing (type, path, link target, file hash) of a folder tree.</summary>
        public static async Task<string> FingerprintAsync(ExecutorClient client, string path, CancellationToken ct) =>
            await RunAsync(client,
                $"if [ -d {Q(path)} ]; then cd {Q(path)} && find . -printf '%y %p %l\\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum --; " +
                $"else sha256sum < {Q(path)}; fi", ct);

        public static async Task<bool> ExistsAsync(ExecutorClient client, string path, CancellationToken ct) =>
            (await client.RunCommandAsync($"test -e {Q(path)} || test -L {Q(path)}", ct)).ExitCode == 0;

        /// <summary>Names in a folder that look like leftovers of a copy.</summary>
        public static async Task<string[]> PartialsAsync(ExecutorClient client, string dir, CancellationToken ct) =>
            (await RunAsync(client, $"find {Q(dir)} \\( -name '*.partial*' -o -name '.eb-*' \\) 2>/dev/null || true", ct))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
