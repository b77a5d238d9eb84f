using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Files;

namespace ExecBridge.Client
{
    /// <summary>
    /// Permission bits of remote files for copies that keep them (#18.9). fs/getMetadata has no mode, so the helper
    /// that hashes a copy's source prints it too: no extra process.
    /// </summary>
    public sealed partial class ExecutorClient
    {
        private static readonly Regex ModeLine = new Regex(@"(?m)^EBMODE ([0-7]{1,5})\s*$");

        /// <summary>Like Sha256Async of a whole file, plus its mode bits (07777; null when stat could not tell).</summary>
        public async Task<(string Sha256, int? Mode)> Sha256AndModeAsync(string path, CancellationToken ct)
        {
            path = RemotePath.Normalize(path);
            string q = RemotePath.ShellQuote(path);
            var r = await RunCommandAsync($"{Sha256Tool} < {q} || exit $?\nstat -L -c 'EBMODE %a' -- {q} 2>/dev/null || true", ct,
                System.TimeSpan.FromMinutes(10)).ConfigureAwait(false);
            var text = r.StdoutText.Trim();
            if (r.ExitCode != 0 || text.Length < 64)
            {
                if (HashToolMissing(r.Stderr)) throw NoHashTool();
                throw new ExecBridgeException(ClassifyShellError(r.Stderr), $"Could not hash '{path}' on executor '{ExecutorId}': {r.Stderr.Trim()}");
            }
            var m = ModeLine.Match(text);
            int? mode = m.Success ? System.Convert.ToInt32(m.Groups[1].Value, 8) : (int?)null;
            return (text.Substring(0, 64).ToLowerInvariant(), mode);
        }
    }
}
