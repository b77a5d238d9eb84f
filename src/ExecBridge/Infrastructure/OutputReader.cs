using System;
using System.Management.Automation;
using ExecBridge.Client;
using ExecBridge.Client.Processes;

namespace ExecBridge.Infrastructure
{
    /// <summary>Turns what a process's buffer holds into pipeline items; runs only on the pipeline thread.</summary>
    internal static class OutputReader
    {
        /// <summary>Emits everything new; returns true once the process can produce nothing more.</summary>
        public static bool Drain(RemoteProcess process, bool raw, Action<OutputStreamKind, string> line,
            Action<RemoteOutputChunk> chunk, Action<ExecBridgeException> error)
        {
            var handle = process.Handle;
            bool finished = handle.IsFinished; // read before taking, so nothing that arrives after is skipped
            foreach (var c in handle.TakeUnread())
            {
                if (raw) chunk(new RemoteOutputChunk(process.ExecutorId, process.ProcessId, c));
                else foreach (var text in process.DecoderFor(c.Stream).Push(c.Data)) line(c.Stream, text);
            }
            foreach (var gap in handle.TakeGaps()) error(gap);
            if (!finished || handle.HasUnread) return false;

            process.Refresh();
            if (!raw)
                foreach (var pair in process.Decoders)
                {
                    foreach (var rest in pair.Value.Finish()) line(pair.Key, rest);
                }
            if (handle.Failure != null && !process.FailureReported)
            {
                process.FailureReported = true;
                error(handle.Failure);
            }
            handle.Delivered = true;
            return true;
        }
    }
}
