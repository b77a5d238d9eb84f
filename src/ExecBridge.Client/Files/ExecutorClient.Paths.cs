using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Files;

namespace ExecBridge.Client
{
    /// <summary>
    /// Paths as users write them: '~', '~/x' and relative paths, resolved to the absolute path every fs/* method
    /// needs. Relative paths are taken from the folder processes start in when none is given (WorkingDirectory), so
    /// `Get-RemoteFile logs/a.txt` reads the file `Invoke-RemoteCommand 'cat logs/a.txt'` would.
    /// </summary>
    public sealed partial class ExecutorClient
    {
        private Task<string?>? _homeLookup;

        /// <summary>
        /// Where processes start by default and relative paths are taken from: the server's working directory from
        /// the handshake (0.150+), else the home directory from the handshake (0.160+), else '/' (0.123/0.130 report
        /// neither).
        /// </summary>
        public string WorkingDirectory => Cwd ?? HomeDirectory ?? "/";

        /// <summary>
        /// The absolute, tidied form of a user's remote path: '/…' as it is, '~' and '~/…' below the executor's home
        /// directory, anything else below WorkingDirectory ('.' segments dropped, '..' left to the executor).
        /// '~user' is refused: the executor's other users' homes are not known.
        /// </summary>
        public async Task<string> ResolvePathAsync(string path, CancellationToken ct)
        {
            if (string.IsNullOrEmpty(path))
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "A remote path cannot be empty.");
            if (path[0] == '/') return RemotePath.Normalize(path);
            await EnsureConnectedAsync(ct).ConfigureAwait(false);
            string baseDir, rest;
            if (path == "~" || path.StartsWith("~/", StringComparison.Ordinal))
            {
                baseDir = await GetHomeDirectoryAsync(ct).ConfigureAwait(false)
                    ?? throw new ExecBridgeException(ExecBridgeErrorKind.NotSupported,
                        $"The home directory of executor '{ExecutorId}' is not known (the handshake does not give it and it could not be looked up); use an absolute path instead of '{path}'.");
                rest = path.Length > 2 ? path.Substring(2) : "";
            }
            else if (path[0] == '~')
            {
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument,
                    $"'{path}': only '~' (the executor's own home) is supported, not another user's '~name'; use an absolute path.");
            }
            else
            {
                baseDir = WorkingDirectory;
                rest = path;
            }
            var segments = rest.Split('/').Where(s => s.Length > 0 && s != ".");
            return RemotePath.Normalize(segments.Aggregate(baseDir, RemotePath.Combine));
        }

        /// <summary>
        /// The executor's home: userHomeDir from the handshake (0.160+); else learned once per client with one small
        /// process: the HOME the exec-server itself runs with (/proc/&lt;its pid&gt;/environ: the process's parent is the
        /// server), else the passwd entry of the user it runs as. Null when neither gives one.
        /// </summary>
        public Task<string?> GetHomeDirectoryAsync(CancellationToken ct)
        {
            if (HomeDirectory != null) return Task.FromResult<string?>(HomeDirectory);
            var lookup = _homeLookup;
            if (lookup == null || lookup.IsFaulted || lookup.IsCanceled)
                _homeLookup = lookup = LookUpHomeAsync(ct);
            return lookup;
        }

        private const string HomeScript =
            "h=$(tr '\\0' '\\n' < /proc/$PPID/environ 2>/dev/null | sed -n 's/^HOME=//p' | head -n 1)\n" +
            "[ -n \"$h\" ] || h=$(getent passwd \"$(id -u)\" 2>/dev/null | cut -d: -f6)\n" +
            "printf '%s' \"$h\"\n";

        private async Task<string?> LookUpHomeAsync(CancellationToken ct)
        {
            var r = await RunCommandAsync(HomeScript, ct).ConfigureAwait(false);
            string home = r.StdoutText;
            return r.ExitCode == 0 && home.StartsWith("/", StringComparison.Ordinal) ? RemotePath.Normalize(home) : null;
        }
    }
}
