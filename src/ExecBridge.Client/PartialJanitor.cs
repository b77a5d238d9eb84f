using System;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Client
{
    /// <summary>
    /// A detached shell loop on the executor that removes a remote partial once nothing has written it for IdleSeconds
    /// and no process holds it open, so a client killed mid-copy (SIGKILL: no finally runs) leaves no partial behind.
    /// It exits as soon as the partial is gone (renamed by the commit or removed by an abort). setsid takes it out of
    /// the process group and session that the exec-server ends or terminates; nohup is the fallback without setsid.
    /// Its command line holds only the partial's path and the limit.
    /// </summary>
    public static class PartialJanitor
    {
        /// <summary>The default must stay far above any pause of a live copy (between writes, or while both sides hash).</summary>
        public const int DefaultIdleSeconds = 120;

        /// <summary>EXECBRIDGE_PARTIAL_IDLE_SEC overrides the limit (tests use a few seconds); 0 starts no janitor.</summary>
        public static int IdleSeconds
        {
            get
            {
                var s = Environment.GetEnvironmentVariable("EXECBRIDGE_PARTIAL_IDLE_SEC");
                return int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : DefaultIdleSeconds;
            }
        }

        // $1 partial, $2 idle limit. An open descriptor (the writer, or the helper hashing it) keeps it, however idle.
        private const string Loop =
            "p=$1; n=$2\n" +
            "while [ -e \"$p\" ]; do\n" +
            "  m=$(stat -c %Y -- \"$p\" 2>/dev/null) || m=$(date +%s)\n" +
            "  if [ $(( $(date +%s) - m )) -ge \"$n\" ]; then\n" +
            "    busy=\n" +
            "    for f in /proc/[0-9]*/fd/*; do if [ \"$f\" -ef \"$p\" ]; then busy=1; break; fi; done\n" +
            "    [ -n \"$busy\" ] || rm -f -- \"$p\"\n" +
            "  fi\n" +
            "  sleep 2\n" +
            "done\n";

        /// <summary>
        /// A shell line that starts the janitor in the background and returns at once (to fold into a script). It creates
        /// the partial first (`: >>` never truncates, so it may run before or after the writer opens it): a janitor that
        /// found nothing could not tell "not yet created" from "already renamed" and would have to linger.
        /// </summary>
        public static string LaunchScript(string partial)
        {
            if (IdleSeconds == 0) return "";
            string p = Files.RemotePath.ShellQuote(Files.RemotePath.Normalize(partial));
            string tail = "sh -c " + Files.RemotePath.ShellQuote(Loop) + " sh " + p + " "
                + IdleSeconds.ToString(CultureInfo.InvariantCulture) + " </dev/null >/dev/null 2>&1 &";
            return ": >> " + p + " && if command -v setsid >/dev/null 2>&1; then setsid " + tail + " else nohup " + tail + " fi\n";
        }

        /// <summary>
        /// Starts the janitor as its own short process/start (where no process of the copy can carry it). Never throws.
        /// Not cancelled by the copy: once the request is out the executor runs `: >> partial` whatever this side does, so
        /// a cancelled copy (Ctrl+C, -ErrorAction Stop) awaits this (one round trip, at most 10 s) before removing the
        /// partial; cancelling it instead let the janitor re-create the partial after the removal (most cancelled
        /// 3-executor writes left an empty .eb-* behind for the idle limit; none in 20 after).
        /// </summary>
        public static async Task StartAsync(ExecutorClient client, string partial)
        {
            if (IdleSeconds == 0) return;
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await client.RunCommandAsync(LaunchScript(partial), bound.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Only the clean-up after a killed client is lost; the copy itself does not depend on it.
            }
        }
    }
}
