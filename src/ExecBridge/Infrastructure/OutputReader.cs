using System;
using System.Collections.Generic;
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
            foreach (var c in InSeqOrder(process, finished))
            {
                if (raw) chunk(new RemoteOutputChunk(process.ExecutorId, process.ProcessId, c));
                else foreach (var text in process.DecoderFor(c.Stream).Push(c.Data)) line(c.Stream, text);
            }
            foreach (var gap in handle.TakeGaps()) error(gap);
            if (!finished || handle.HasUnread || process.Held.Count > 0) return false;

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

        /// <summary>
        /// The server's stdout and stderr notifications do not always arrive in seq order, so a chunk past a gap is held
        /// back for one more round (the missing one is usually just behind it), which keeps o1 e1 o2 e2 in that order.
        /// </summary>
        private static List<OutputChunk> InSeqOrder(RemoteProcess process, bool finished)
        {
            var all = process.Held;
            all.AddRange(process.Handle.TakeUnread());
            process.Held = new List<OutputChunk>();
            all.Sort((a, b) => a.Seq.CompareTo(b.Seq));
            long contiguous = process.Handle.ContiguousSeq;
            var ready = new List<OutputChunk>(all.Count);
            bool holding = false;
            foreach (var c in all)
            {
                if (!holding && !finished && c.Seq > contiguous && !process.HeldOnce.Contains(c.Seq)) holding = true;
                if (holding)
                {
                    process.HeldOnce.Add(c.Seq);
                    process.Held.Add(c);
                }
                else
                {
                    process.HeldOnce.Remove(c.Seq);
                    ready.Add(c);
                }
            }
            return ready;
        }
    }
}
