using System;
using System.Management.Automation;
using ExecBridge.Client;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Stops a remote process: kills its process group (SIGKILL), or with -Interrupt sends SIGINT where the executor supports it.</para>
    /// </summary>
    [Cmdlet(VerbsLifecycle.Stop, "RemoteProcess", SupportsShouldProcess = true)]
    [OutputType(typeof(RemoteProcess))]
    public sealed class StopRemoteProcess : ExecBridgeCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public RemoteProcess[]? Process { get; set; }

        // codex 0.123/0.130 have no process/signal: there -Interrupt reports NotSupportedByExecutor.
        [Parameter]
        public SwitchParameter Interrupt { get; set; }

        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            foreach (var process in Process!)
            {
                var action = Interrupt ? "Send SIGINT" : "Kill process group";
                if (!ShouldProcess($"{process.ExecutorId}/{process.ProcessId} ({process.CommandLine})", action)) continue;
                try
                {
                    if (Interrupt)
                    {
                        if (!Await(process.Client.InterruptAsync(process.Handle, StopToken)))
                        {
                            WriteFailure(new ExecBridgeException(ExecBridgeErrorKind.NotSupported,
                                $"Executor '{process.ExecutorId}' cannot send signals (process/signal is missing before codex 0.142); use Stop-RemoteProcess without -Interrupt."),
                                process);
                            continue;
                        }
                    }
                    else
                    {
                        Await(process.Client.TerminateAsync(process.Handle, StopToken));
                    }
                    if (PassThru) WriteObject(process);
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    WriteFailure(ex, process);
                }
            }
        }
    }
}
