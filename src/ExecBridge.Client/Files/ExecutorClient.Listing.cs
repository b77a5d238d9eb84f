using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Files;
using ExecBridge.Client.Processes;

namespace ExecBridge.Client
{
    /// <summary>
    /// Listing folders and trees. A tree is listed by one `find -printf` process on the executor (GNU findutils):
    /// one round trip instead of one fs/getMetadata per entry (the server answers requests one at a time, notes
    /// §1.3), and it gives what the fs/* methods never report: mode bits, owner, group and link target. Where find
    /// lacks -printf (busybox) the listing falls back to fs/readDirectory + fs/getMetadata, without those fields.
    /// </summary>
    public sealed partial class ExecutorClient
    {
        /// <summary>The key in FoundTools that records whether GNU find's -printf works here.</summary>
        private const string FindPrintfTool = "find -printf";

        /// <summary>
        /// The items below 'root' (a folder), down to 'maxDepth' levels (1: its children only), in the order
        /// Get-ChildItem -Recurse gives them: a folder's entries sorted by name, then each subfolder's the same way.
        /// Symlinked folders are listed but not descended into; 'root' itself may be a symlink to a folder. An
        /// unreadable subfolder is an error entry in the listing (the rest goes on); an unreadable root throws.
        /// </summary>
        public async Task<IReadOnlyList<TreeEntry>> ListTreeAsync(string root, int maxDepth, CancellationToken ct)
        {
            root = RemotePath.Normalize(root);
            if (maxDepth < 1) maxDepth = 1;
            if (!FoundTools.TryGetValue(FindPrintfTool, out bool hasFind) || hasFind)
            {
                var found = await FindTreeAsync(root, maxDepth, ct).ConfigureAwait(false);
                if (found != null) return found;
            }
            return await WalkTreeAsync(root, maxDepth, ct).ConfigureAwait(false);
        }

        /// <summary>One find process; null when this executor's find has no -printf (remembered per connection).</summary>
        private async Task<IReadOnlyList<TreeEntry>?> FindTreeAsync(string root, int maxDepth, CancellationToken ct)
        {
            var stdout = new MemoryStream();
            var stderr = new MemoryStream();
            int code = await RunProcessAsync(new ProcessStartSpec
            {
                Argv = new[] { "/bin/sh", "-c", FindListing.Script(root, maxDepth) },
                WorkingDirectory = "/",
            }, (chunk, _) =>
            {
                if (stdout.Length + chunk.Length > FindListing.MaxOutputBytes)
                    throw new ExecBridgeException(ExecBridgeErrorKind.NotSupported,
                        $"Listing '{root}' on executor '{ExecutorId}' printed more than {FindListing.MaxOutputBytes >> 20} MiB; list a smaller tree (-Depth).");
                var bytes = chunk.ToArray();
                stdout.Write(bytes, 0, bytes.Length);
                return Task.CompletedTask;
            }, stderr, null, RequestTimeout, ct).ConfigureAwait(false);
            string err = Encoding.UTF8.GetString(stderr.ToArray()).Trim();
            if (code == FindListing.NoPrintfExit)
            {
                FoundTools[FindPrintfTool] = false;
                return null;
            }
            FoundTools[FindPrintfTool] = true;
            // find exits 1 when some folder could not be read: those are in the listing as error records.
            if (code != 0 && code != 1)
                throw new ExecBridgeException(ClassifyShellError(err), $"Could not list '{root}' on executor '{ExecutorId}' (find exit code {code}): {err}");
            var parsed = FindListing.Parse(root, stdout.GetBuffer().AsSpan(0, (int)stdout.Length), maxDepth);
            if (parsed.RootDenied)
                throw new ExecBridgeException(ExecBridgeErrorKind.RemotePermissionDenied, $"Permission denied for remote path '{root}' on executor '{ExecutorId}'.");
            // The sizes of what symlinks point at (find reports the link's own), as fs/getMetadata gives them.
            var linked = parsed.Items.Where(i => i.IsSymlink && i.IsFile).ToList();
            for (int i = 0; i < linked.Count; i += 200)
            {
                var part = linked.Skip(i).Take(200).ToList();
                var lengths = await StatLengthsAsync(part.Select(x => x.Path).ToList(), ct).ConfigureAwait(false);
                for (int j = 0; j < part.Count; j++) part[j].Length = lengths[j];
            }
            await ResolveOwnerNamesAsync(parsed.Items.ToList(), ct).ConfigureAwait(false);
            return FindListing.Order(root, parsed, maxDepth, ExecutorId);
        }

        // uid/gid → name on this executor, learned once per client: listings of a tree owned by a few users ask once.
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _userNames =
            new System.Collections.Concurrent.ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _groupNames =
            new System.Collections.Concurrent.ConcurrentDictionary<string, string>(StringComparer.Ordinal);

        /// <summary>Replaces the numeric Owner and Group of 'items' by names (one getent for the ids not seen before).</summary>
        private async Task ResolveOwnerNamesAsync(IList<RemoteFileInfo> items, CancellationToken ct)
        {
            bool Numeric(string? s) => !string.IsNullOrEmpty(s) && s!.All(char.IsDigit);
            var users = items.Select(i => i.Owner).Where(Numeric).Distinct().Where(u => !_userNames.ContainsKey(u!)).ToList();
            var groups = items.Select(i => i.Group).Where(Numeric).Distinct().Where(g => !_groupNames.ContainsKey(g!)).ToList();
            if (users.Count + groups.Count > 0 && users.Count + groups.Count <= 2000)
            {
                string Ids(List<string?> ids) => string.Join(" ", ids);
                var r = await RunCommandAsync(
                    (users.Count > 0 ? $"getent passwd {Ids(users)}; " : "") + "echo '#'; " + (groups.Count > 0 ? $"getent group {Ids(groups)}" : "") + "; true",
                    ct).ConfigureAwait(false);
                var lines = r.StdoutText.Split('\n');
                int mark = Array.IndexOf(lines, "#");
                if (mark < 0) mark = lines.Length;
                var found = new Dictionary<string, string>(StringComparer.Ordinal);
                FindListing.ReadNames(string.Join("\n", lines.Take(mark)), found);
                foreach (var u in users) _userNames[u!] = found.TryGetValue(u!, out var n) ? n : u!;
                found.Clear();
                FindListing.ReadNames(string.Join("\n", lines.Skip(mark + 1)), found);
                foreach (var g in groups) _groupNames[g!] = found.TryGetValue(g!, out var n) ? n : g!;
            }
            foreach (var i in items)
            {
                if (i.Owner != null && _userNames.TryGetValue(i.Owner, out var u)) i.Owner = u;
                if (i.Group != null && _groupNames.TryGetValue(i.Group, out var g)) i.Group = g;
            }
        }

        /// <summary>The fallback: fs/readDirectory and pipelined fs/getMetadata per folder, the same order and errors.</summary>
        private async Task<IReadOnlyList<TreeEntry>> WalkTreeAsync(string root, int maxDepth, CancellationToken ct)
        {
            var result = new List<TreeEntry>();
            var stack = new Stack<(string Path, int Level)>();
            stack.Push((root, 0));
            while (stack.Count > 0)
            {
                var (dir, level) = stack.Pop();
                IReadOnlyList<RemoteFileInfo> children;
                try
                {
                    children = await ListDirectoryAsync(dir, ct).ConfigureAwait(false);
                }
                catch (ExecBridgeException ex) when (level > 0)
                {
                    result.Add(new TreeEntry(dir, ex)); // an unreadable subfolder does not end the listing
                    continue;
                }
                var subfolders = new List<string>();
                foreach (var child in children)
                {
                    result.Add(new TreeEntry(child));
                    if (child.IsDirectory && !child.IsSymlink && level + 1 < maxDepth) subfolders.Add(child.Path);
                }
                for (int i = subfolders.Count - 1; i >= 0; i--) stack.Push((subfolders[i], level + 1));
            }
            return result;
        }

        /// <summary>
        /// The entries of a folder with full metadata, sorted by name. The per-entry fs/getMetadata calls are
        /// pipelined; sizes missing on the legacy dialect come from one stat command.
        /// </summary>
        public async Task<IReadOnlyList<RemoteFileInfo>> ListDirectoryAsync(string path, CancellationToken ct, bool needLength = true)
        {
            path = RemotePath.Normalize(path);
            var entries = await ReadDirectoryAsync(path, ct).ConfigureAwait(false);
            var result = new List<RemoteFileInfo>(entries.Count);
            const int batch = 64;
            for (int i = 0; i < entries.Count; i += batch)
            {
                var tasks = entries.Skip(i).Take(batch)
                    .Select(e => TryGetMetadataAsync(RemotePath.Combine(path, e.Name), ct, needLength: false)).ToList();
                foreach (var info in await Task.WhenAll(tasks).ConfigureAwait(false))
                    if (info != null) result.Add(info);
            }
            if (needLength)
            {
                var missing = result.Where(x => x.IsFile && x.Length == null).ToList();
                for (int i = 0; i < missing.Count; i += 200)
                {
                    var part = missing.Skip(i).Take(200).ToList();
                    var lengths = await StatLengthsAsync(part.Select(x => x.Path).ToList(), ct).ConfigureAwait(false);
                    for (int j = 0; j < part.Count; j++) part[j].Length = lengths[j];
                }
            }
            result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            return result;
        }

        /// <summary>File sizes through `stat` on the executor (the legacy fs/getMetadata has no size); null where stat failed.</summary>
        public async Task<long?[]> StatLengthsAsync(IList<string> paths, CancellationToken ct)
        {
            var sb = new StringBuilder("for f in");
            foreach (var p in paths) sb.Append(' ').Append(RemotePath.ShellQuote(p));
            sb.Append("; do stat -L -c %s -- \"$f\" 2>/dev/null || echo -; done");
            var r = await RunCommandAsync(sb.ToString(), ct).ConfigureAwait(false);
            var lines = r.StdoutText.Split(new[] { '\n' }, StringSplitOptions.RemoveEmptyEntries);
            var result = new long?[paths.Count];
            for (int i = 0; i < result.Length && i < lines.Length; i++)
                if (long.TryParse(lines[i].Trim(), out var n)) result[i] = n;
            return result;
        }

    }

    /// <summary>One line of a tree listing: an item, or a folder that could not be read.</summary>
    public sealed class TreeEntry
    {
        public TreeEntry(RemoteFileInfo item) { Item = item; Path = item.Path; }
        public TreeEntry(string path, ExecBridgeException error) { Path = path; Error = error; }

        public string Path { get; }
        public RemoteFileInfo? Item { get; }
        public ExecBridgeException? Error { get; }
    }
}
