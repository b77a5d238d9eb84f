using System;
using System.Management.Automation;
using ExecBridge.Client;
using ExecBridge.Client.Relay;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Relay
{
    /// <summary>
    /// <para type="synopsis">Mints a single-use relay ticket for moving bytes from one executor to another through the gateway.</para>
    /// <para type="description">Needs Set-ExecBridgeRelay first. The ticket is a bearer secret: the default view and
    /// ToString mask it; pass it to curl in a config or header file, never on a command line.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.New, "RelayTicket")]
    [OutputType(typeof(RelayTicket))]
    public sealed class NewRelayTicket : ExecBridgeCmdlet
    {
        [Parameter(Mandatory = true, Position = 0)]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [ValidateNotNullOrEmpty]
        public string? SourceExecutorId { get; set; }

        [Parameter(Mandatory = true, Position = 1)]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [ValidateNotNullOrEmpty]
        public string? DestinationExecutorId { get; set; }

        [Parameter]
        public TimeSpan TimeToLive { get; set; } = TimeSpan.FromMinutes(5);

        [Parameter]
        [ValidateRange(1, long.MaxValue)]
        public long MaxBytes { get; set; } = 1L << 30;

        protected override void ProcessRecord()
        {
            if (TimeToLive <= TimeSpan.Zero)
                ThrowFailure(new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "-TimeToLive must be positive."), TimeToLive);
            if (!(SessionPool.Current.RelaySettings is RelaySettings settings))
            {
                ThrowFailure(new ExecBridgeException(ExecBridgeErrorKind.RelayNotConfigured,
                    "No relay settings in this session: run Set-ExecBridgeRelay -InternalUri … -WorkspaceId … -Secret … first."), null);
                return;
            }
            try
            {
                using var api = new RelayApiClient(settings);
                var info = Await(api.CreateTicketAsync(SourceExecutorId!, DestinationExecutorId!, TimeToLive, MaxBytes, StopToken));
                WriteVerbose($"Minted relay ticket {info}.");
                WriteObject(new RelayTicket(info));
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                ThrowFailure(ex, SourceExecutorId + " -> " + DestinationExecutorId);
            }
        }
    }
}
