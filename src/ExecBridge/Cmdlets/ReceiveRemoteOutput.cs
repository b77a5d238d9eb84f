using System;
using System.Management.Automation;
using System.Threading;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Gets the output a remote process produced since the last call; with -Wait, streams it live until the process ends.</para>
    /// <para type="description">Output is consumed like Receive-Job's: each line is returned once. Lines are reassembled across chunk
    /// boundaries and decoded as UTF-8; -Raw returns the byte chunks exactly as they arrived. When the process ends, its ExitCode and
    /// State are set. Ctrl+C stops receiving; the process keeps running.</para>
    /// </summary>
    [Cmdlet(VerbsCommunications.Receive, "RemoteOutput")]
    [OutputType(typeof(RemoteOutputLine))]
    [OutputType(typeof(RemoteOutputChunk))]
    public sealed class ReceiveRemoteOutput : ExecBridgeCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public RemoteProcess[]? Process { get; set; }

        [Parameter]
        public SwitchParameter Wait { get; set; }

        [Parameter]
        public SwitchParameter Raw { get; set; }

        protected override void ProcessRecord()
        {
            foreach (var process in Process!) Receive(process);
        }

        private void Receive(RemoteProcess process)
        {
            if (!Monitor.TryEnter(process.SyncRoot, TimeSpan.FromSeconds(1)))
            {
                WriteError(new ErrorRecord(new InvalidOperationException($"Another Receive-RemoteOutput is reading process '{process.ProcessId}'."),
                    "RemoteOutputBusy", ErrorCategory.ResourceBusy, process));
                return;
            }
            try
            {
                while (true)
                {
                    bool done = OutputReader.Drain(process, Raw,
                        (stream, text) => WriteObject(new RemoteOutputLine(process.ExecutorId, process.ProcessId, stream, text)),
                        chunk => WriteObject(chunk),
                        error => WriteFailure(error, process));
                    if (done || !Wait) break;
                    try
                    {
                        Await(process.Client.WaitForOutputAsync(process.Handle, TimeSpan.FromMilliseconds(500), StopToken));
                    }
                    catch (Exception ex) when (IsClientFailure(ex))
                    {
                        // The failure is also set on the process; drain what arrived, then report once.
                        OutputReader.Drain(process, Raw,
                            (stream, text) => WriteObject(new RemoteOutputLine(process.ExecutorId, process.ProcessId, stream, text)),
                            chunk => WriteObject(chunk), error => WriteFailure(error, process));
                        if (!process.FailureReported) WriteFailure(ex, process);
                        process.FailureReported = true;
                        break;
                    }
                    FlushLog();
                }
            }
            finally
            {
                Monitor.Exit(process.SyncRoot);
            }
        }
    }
}
