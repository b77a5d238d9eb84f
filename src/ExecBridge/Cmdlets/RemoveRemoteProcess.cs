using System;
using System.Management.Automation;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Removes ended processes from Get-RemoteProcess, like Remove-Job; -Force also stops a running one.</para>
    /// <para type="description">The process and its unread output are forgotten by this session. A running process is
    /// refused (RemoteProcessRunning) unless -Force, which kills its process group first.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Remove, "RemoteProcess", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(void))]
    public sealed class RemoveRemoteProcess : ExecBridgeCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public RemoteProcess[]? Process { get; set; }

        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void ProcessRecord()
        {
            foreach (var process in Process!)
            {
                bool running = process.State == RemoteProcessState.Running;
                if (running && !Force)
                {
                    WriteError(new ErrorRecord(new InvalidOperationException(
                        $"Process '{process.ProcessId}' ({process.CommandLine}) on executor '{process.ExecutorId}' is still running. Stop it first, wait for it (Wait-RemoteProcess), or use -Force."),
                        "RemoteProcessRunning", ErrorCategory.InvalidOperation, process));
                    continue;
                }
                var target = $"{process.ExecutorId}/{process.ProcessId} ({process.CommandLine})";
                if (!ShouldProcess(target, running ? "Kill process group and remove" : "Remove")) continue;
                try
                {
                    if (running) Await(process.Client.TerminateAsync(process.Handle, StopToken));
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    WriteFailure(ex, process);
                    continue;
                }
                process.Client.Forget(process.Handle);
            }
        }
    }
}
