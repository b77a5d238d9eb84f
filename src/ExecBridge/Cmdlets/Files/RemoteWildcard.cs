using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Files;

namespace ExecBridge.Cmdlets.Files
{
    internal static class RemoteWildcard
    {
        /// <summary>
        /// -Path with wildcards (*, ?, [a-z]) gives the existing paths it matches, sorted, like Resolve-Path; no match gives
        /// none and no error, as Get-Item and Remove-Item do. Matching is case-sensitive (POSIX names); a segment only
        /// matches names starting with '.' when it starts with '.' itself (they are the hidden files). -LiteralPath
        /// and paths without wildcard characters are used as they are (made absolute). Awaitable, so fan-out work on
        /// the thread pool and the single-executor cmdlets share it.
        /// </summary>
        public static async Task<IReadOnlyList<string>> ExpandAsync(ExecutorClient client, string path, bool literal, CancellationToken ct)
        {
            path = await client.ResolvePathAsync(path, ct).ConfigureAwait(false);
            if (literal || !WildcardPattern.ContainsWildcardCharacters(path)) return new[] { path };
            var current = new List<string> { "/" };
            foreach (var segment in path.Split(new[] { '/' }, StringSplitOptions.RemoveEmptyEntries))
            {
                var next = new List<string>();
                if (!WildcardPattern.ContainsWildcardCharacters(segment))
                {
                    var name = WildcardPattern.Unescape(segment);
                    next.AddRange(current.Select(c => RemotePath.Combine(c, name)));
                }
                else
                {
                    var pattern = new WildcardPattern(segment, WildcardOptions.None);
                    bool dotted = segment.StartsWith(".", StringComparison.Ordinal);
                    foreach (var folder in current)
                    {
                        IReadOnlyList<RemoteDirectoryEntry> entries;
                        try { entries = await client.ReadDirectoryAsync(folder, ct).ConfigureAwait(false); }
                        catch (ExecBridgeException) { continue; } // not a folder, or gone: no match there
                        next.AddRange(entries.Where(e => (dotted || !e.Name.StartsWith(".", StringComparison.Ordinal)) && pattern.IsMatch(e.Name))
                            .Select(e => RemotePath.Combine(folder, e.Name)));
                    }
                }
                current = next;
                if (current.Count == 0) break;
            }
            var existing = new List<string>();
            foreach (var c in current)
                if (await client.TryGetMetadataAsync(c, ct, needLength: false).ConfigureAwait(false) != null) existing.Add(c);
            return existing.OrderBy(c => c, StringComparer.Ordinal).ToList();
        }
    }
}
