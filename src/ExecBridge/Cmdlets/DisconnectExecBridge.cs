using System.Management.Automation;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Closes connections and removes them from the pool; a local exec-server started by -Local is stopped.</para>
    /// </summary>
    [Cmdlet(VerbsCommunications.Disconnect, "ExecBridge", DefaultParameterSetName = "Connection", SupportsShouldProcess = true)]
    [OutputType(typeof(void))]
    public sealed class DisconnectExecBridge : ExecBridgeCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Connection")]
        [ValidateNotNull]
        public ExecBridgeConnection[]? Connection { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = "ExecutorId")]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? ExecutorId { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = "All")]
        public SwitchParameter All { get; set; }

        protected override void ProcessRecord()
        {
            var pool = SessionPool.Current;
            if (All)
            {
                foreach (var c in pool.Clients)
                    if (ShouldProcess(c.ExecutorId, "Disconnect")) pool.Remove(c);
                return;
            }
            if (Connection != null)
            {
                foreach (var connection in Connection)
                    if (ShouldProcess(connection.ExecutorId, "Disconnect")) pool.Remove(connection.Client);
                return;
            }
            foreach (var id in ExecutorId!)
            {
                if (!pool.TryGet(id, out var client))
                {
                    WriteError(ErrorMapping.ToErrorRecord(new Client.ExecBridgeException(Client.ExecBridgeErrorKind.ExecutorNotConnected,
                        $"Executor '{id}' is not connected."), id));
                    continue;
                }
                if (ShouldProcess(id, "Disconnect")) pool.Remove(client);
            }
        }
    }
}
