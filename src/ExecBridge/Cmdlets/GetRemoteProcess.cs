using System.Linq;
using System.Management.Automation;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Lists the processes this session started on its executors.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "RemoteProcess")]
    [OutputType(typeof(RemoteProcess))]
    public sealed class GetRemoteProcess : ExecBridgeCmdlet
    {
        [Parameter]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [SupportsWildcards]
        public string? ExecutorId { get; set; }

        [Parameter(Position = 0)]
        [SupportsWildcards]
        public string? ProcessId { get; set; }

        protected override void ProcessRecord()
        {
            var exe = new WildcardPattern(ExecutorId ?? "*", WildcardOptions.IgnoreCase);
            var pid = new WildcardPattern(ProcessId ?? "*", WildcardOptions.IgnoreCase);
            foreach (var client in SessionPool.Visible.Where(c => exe.IsMatch(c.ExecutorId)))
                foreach (var handle in client.Processes.Where(h => pid.IsMatch(h.ProcessId)).OrderBy(h => h.ProcessId))
                    if (handle.Tag is RemoteProcess process) WriteObject(process);
        }
    }
}
