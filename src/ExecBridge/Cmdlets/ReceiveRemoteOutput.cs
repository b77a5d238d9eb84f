using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Gets the output a remote process produced since the last call; with -Wait, streams it live until the process ends.</para>
    /// <para type="description">Output is consumed like Receive-Job's: each line is returned once. Lines are reassembled across chunk
    /// boundaries and decoded as UTF-8; -Raw returns the byte chunks exactly as they arrived. When the process ends, its ExitCode and
    /// State are set. With several processes, -Wait streams all of them at once, and the default view shows each line's process.
    /// Ctrl+C stops receiving; the processes keep running.</para>
    /// </summary>
    [Cmdlet(VerbsCommunications.Receive, "RemoteOutput")]
    [OutputType(typeof(RemoteOutputLine))]
    [OutputType(typeof(RemoteOutputChunk))]
    public sealed class ReceiveRemoteOutput : ExecBridgeCmdlet
    {
        /// <summary>The type name the view keys on to show the process beside each line (several processes).</summary>
        internal const string TaggedLineType = "ExecBridge.RemoteOutputLine#SeveralProcesses";

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public RemoteProcess[]? Process { get; set; }

        [Parameter]
        public SwitchParameter Wait { get; set; }

        [Parameter]
        public SwitchParameter Raw { get; set; }

        // Collected first, so it is known before the first line whether lines need their process shown.
        private readonly List<RemoteProcess> _processes = new List<RemoteProcess>();
        private bool _tagged;

        protected override void ProcessRecord()
        {
            foreach (var process in Process!)
                if (!_processes.Contains(process)) _processes.Add(process);
        }

        protected override void EndProcessing()
        {
            _tagged = _processes.Count > 1;
            var held = new List<RemoteProcess>();
            try
            {
                foreach (var process in _processes)
                {
                    if (Monitor.TryEnter(process.SyncRoot, TimeSpan.FromSeconds(1))) held.Add(process);
                    else WriteError(new ErrorRecord(new InvalidOperationException($"Another Receive-RemoteOutput is reading process '{process.ProcessId}'."),
                        "RemoteOutputBusy", ErrorCategory.ResourceBusy, process));
                }
                Receive(held);
            }
            finally
            {
                foreach (var process in held) Monitor.Exit(process.SyncRoot);
            }
            base.EndProcessing();
        }

        private void Receive(List<RemoteProcess> processes)
        {
            var active = new List<RemoteProcess>(processes);
            while (active.Count > 0)
            {
                foreach (var process in active.ToArray())
                {
                    if (Drain(process) || !Wait) active.Remove(process);
                }
                if (active.Count == 0) break;
                var waits = active.ToDictionary(p => p, p => p.Client.WaitForOutputAsync(p.Handle, TimeSpan.FromMilliseconds(500), StopToken));
                Await(Task.WhenAny(waits.Values));
                foreach (var pair in waits.Where(w => w.Value.IsCompleted))
                {
                    try
                    {
                        pair.Value.GetAwaiter().GetResult();
                    }
                    catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
                    {
                        throw new PipelineStoppedException();
                    }
                    catch (Exception ex) when (IsClientFailure(ex))
                    {
                        // The failure is also set on the process; what arrived is written first, then the failure once.
                        Drain(pair.Key);
                        if (!pair.Key.FailureReported) WriteFailure(ex, pair.Key);
                        pair.Key.FailureReported = true;
                        active.Remove(pair.Key);
                    }
                }
                FlushLog();
            }
        }

        private bool Drain(RemoteProcess process) =>
            OutputReader.Drain(process, Raw,
                (stream, text) => Emit(new RemoteOutputLine(process.ExecutorId, process.ProcessId, stream, text)),
                chunk => WriteObject(chunk),
                error => WriteFailure(error, process));

        private void Emit(RemoteOutputLine line)
        {
            if (!_tagged)
            {
                WriteObject(line);
                return;
            }
            var wrapped = PSObject.AsPSObject(line);
            wrapped.TypeNames.Insert(0, TaggedLineType);
            WriteObject(wrapped);
        }
    }
}
