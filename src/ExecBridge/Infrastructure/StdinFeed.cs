using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Processes;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// Pipeline input as a remote process's stdin. The exec-server cannot close a process's stdin (no EOF, notes §7.1),
    /// so a command that reads to the end (wc, sort, cat) would never end. The input is collected first; the command
    /// then runs behind 'head -c N' with N its exact byte count: head passes those N bytes on and exits, closing the pipe,
    /// so the command sees end of input after exactly the bytes that were piped. The exit code is the command's own
    /// (the last element of the pipeline).
    /// </summary>
    internal static class StdinFeed
    {
        /// <summary>The spec as the executor must run it to see 'stdin' and then end of input; unchanged without input.</summary>
        public static ProcessStartSpec Wrap(ProcessStartSpec spec, byte[]? stdin)
        {
            if (stdin == null) return spec;
            string n = stdin.Length.ToString(CultureInfo.InvariantCulture);
            var wrapped = new ProcessStartSpec
            {
                WorkingDirectory = spec.WorkingDirectory,
                Environment = spec.Environment,
                ReplaceEnvironment = spec.ReplaceEnvironment,
                Tty = spec.Tty,
                PipeStdin = true,
            };
            if (spec.Argv != null && spec.Argv.Count > 0)
                // "$@" keeps every argument as given; 'sh' is $0.
                wrapped.Argv = new List<string> { "/bin/sh", "-c", "head -c " + n + " | \"$@\"", "sh" }.Concat(spec.Argv).ToList();
            else
                // A subshell, with a newline before ')', so a trailing comment or 'exit' in the command stays inside it.
                wrapped.Command = "head -c " + n + " | (\n" + spec.Command + "\n)";
            return wrapped;
        }

        public static async Task WriteAsync(RemoteProcess process, byte[] stdin, CancellationToken token)
        {
            // Chunks stay far below the server's 16 MiB frame limit once base64-encoded.
            const int maxChunk = 4 * 1024 * 1024;
            for (int offset = 0; offset < stdin.Length; offset += maxChunk)
            {
                int count = Math.Min(maxChunk, stdin.Length - offset);
                var status = await process.Client.WriteInputAsync(process.Handle, new ArraySegment<byte>(stdin, offset, count), token).ConfigureAwait(false);
                if (status != "accepted") break; // it ended already; its exit code tells the rest
            }
        }
    }
}
