using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Threading;
using ExecBridge.Client;
using ExecBridge.Client.Files;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// Completes remote paths by listing the remote folder. The executor comes from -ExecutorId / -Connection
    /// (or -FromExecutor for Copy-RemoteItem -Path, -ToExecutor for -Destination), else the single connection.
    /// Gives up silently after a few seconds: completion must never hang the prompt.
    /// </summary>
    public sealed class RemotePathCompleter : IArgumentCompleter
    {
        private static readonly TimeSpan Budget = TimeSpan.FromSeconds(4);

        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            try
            {
                var client = ResolveClient(parameterName, fakeBoundParameters);
                if (client == null) return Array.Empty<CompletionResult>();
                var word = (wordToComplete ?? "").Trim('\'', '"');
                if (word.Length == 0) word = "/";
                if (word[0] != '/') return Array.Empty<CompletionResult>();
                int slash = word.LastIndexOf('/');
                string folder = slash == 0 ? "/" : word.Substring(0, slash);
                string prefix = word.Substring(slash + 1);
                using var cts = new CancellationTokenSource(Budget);
                var entries = client.ReadDirectoryAsync(folder, cts.Token).GetAwaiter().GetResult();
                return entries
                    .Where(e => e.Name.StartsWith(prefix, StringComparison.Ordinal))
                    .OrderBy(e => e.Name, StringComparer.Ordinal)
                    .Select(e =>
                    {
                        var full = RemotePath.Combine(folder, e.Name) + (e.IsDirectory ? "/" : "");
                        return new CompletionResult(Quote(full), e.Name + (e.IsDirectory ? "/" : ""), CompletionResultType.ParameterValue,
                            full);
                    })
                    .ToList();
            }
            catch (Exception)
            {
                return Array.Empty<CompletionResult>();
            }
        }

        private static ExecutorClient? ResolveClient(string parameterName, IDictionary bound)
        {
            var pool = SessionPool.Current;
            string? Id(string key) => bound != null && bound.Contains(key) ? bound[key]?.ToString() : null;
            if (bound != null && bound.Contains("Connection") && bound["Connection"] is ExecBridgeConnection c) return c.Client;
            if (bound != null && bound.Contains("Connection") && bound["Connection"] is PSObject pso && pso.BaseObject is ExecBridgeConnection c2) return c2.Client;
            string? id = parameterName == "Destination" ? Id("ToExecutor") ?? Id("ExecutorId")
                : Id("FromExecutor") ?? Id("ExecutorId");
            if (id != null) return pool.TryGet(id, out var client) ? client : null;
            var all = pool.Clients;
            return all.Count == 1 ? all[0] : null;
        }

        private static string Quote(string s) =>
            s.IndexOfAny(new[] { ' ', '\'', '"', '$', '`', ';', '(', ')', '{', '}', '#', '&', ',', '@', '[', ']' }) >= 0
                ? "'" + s.Replace("'", "''") + "'" : s;
    }
}
