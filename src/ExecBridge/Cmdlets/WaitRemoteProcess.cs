using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading.Tasks;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Waits until remote processes have ended, like Wait-Job: returns each process as it ends.</para>
    /// <para type="description">The output stays unread (Receive-RemoteOutput gets it afterwards). -Any returns after the first
    /// process ends. With -Timeout, each process still running then gets a non-terminating OperationTimeout error (as
    /// Wait-Process reports); the processes keep running.</para>
    /// </summary>
    [Cmdlet(VerbsLifecycle.Wait, "RemoteProcess")]
    [OutputType(typeof(RemoteProcess))]
    public sealed class WaitRemoteProcess : ExecBridgeCmdlet
    {
        private readonly List<RemoteProcess> _processes = new List<RemoteProcess>();

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public RemoteProcess[]? Process { get; set; }

        [Parameter]
        public SwitchParameter Any { get; set; }

        // Seconds; -1 (the default) waits for ever, as Wait-Job's.
        [Parameter]
        [Alias("TimeoutSec")]
        [ValidateRange(-1, int.MaxValue)]
        public int Timeout { get; set; } = -1;

        // Collected first, like Wait-Job: -Any and -Timeout are about the whole set, not one piped process.
        protected override void ProcessRecord()
        {
            foreach (var p in Process!) if (!_processes.Contains(p)) _processes.Add(p);
        }

        protected override void EndProcessing()
        {
            var deadline = Timeout < 0 ? DateTime.MaxValue : DateTime.UtcNow.AddSeconds(Timeout);
            var waiting = new List<RemoteProcess>(_processes);
            while (waiting.Count > 0)
            {
                foreach (var p in waiting.Where(Ended).ToList())
                {
                    waiting.Remove(p);
                    WriteObject(p);
                    if (Any) { base.EndProcessing(); return; }
                }
                if (waiting.Count == 0) break;
                if (DateTime.UtcNow >= deadline)
                {
                    foreach (var p in waiting)
                        WriteError(new ErrorRecord(new TimeoutException(
                            $"Process '{p.ProcessId}' ({p.CommandLine}) on executor '{p.ExecutorId}' did not end within {Timeout} s; it keeps running."),
                            "OperationTimeout", ErrorCategory.OperationTimeout, p));
                    break;
                }
                Pause(waiting);
            }
            base.EndProcessing();
        }

        private static bool Ended(RemoteProcess p) => p.State != RemoteProcessState.Running;

        /// <summary>Waits a moment for a change, letting the client redial or read back missing output meanwhile.</summary>
        private void Pause(List<RemoteProcess> waiting)
        {
            var first = waiting[0];
            try
            {
                // With unread output the wait returns at once; then just sleep (the output is not ours to take).
                if (first.Handle.HasUnread) Await(Task.Delay(100, StopToken));
                else Await(first.Client.WaitForOutputAsync(first.Handle, TimeSpan.FromMilliseconds(250), StopToken));
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                WriteFailure(ex, first);
                waiting.Remove(first);
            }
            FlushLog();
        }
    }
}
