using System.Management.Automation;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Lists the executors connected in this session.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "ExecBridgeConnection")]
    [OutputType(typeof(ExecBridgeConnection))]
    public sealed class GetExecBridgeConnection : ExecBridgeCmdlet
    {
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [SupportsWildcards]
        public string[]? ExecutorId { get; set; }

        protected override void ProcessRecord()
        {
            var clients = SessionPool.Visible;
            if (ExecutorId == null)
            {
                foreach (var c in clients) WriteObject(new ExecBridgeConnection(c));
                return;
            }
            foreach (var id in ExecutorId)
            {
                var pattern = new WildcardPattern(id, WildcardOptions.IgnoreCase);
                bool found = false;
                foreach (var c in clients)
                {
                    if (!pattern.IsMatch(c.ExecutorId)) continue;
                    found = true;
                    WriteObject(new ExecBridgeConnection(c));
                }
                if (!found && !WildcardPattern.ContainsWildcardCharacters(id))
                    WriteError(ErrorMapping.ToErrorRecord(new Client.ExecBridgeException(Client.ExecBridgeErrorKind.ExecutorNotConnected,
                        $"Executor '{id}' is not connected."), id));
            }
        }
    }
}
