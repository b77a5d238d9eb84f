using System;
using System.Management.Automation;
using System.Security;
using ExecBridge.Client;
using ExecBridge.Client.Relay;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Relay
{
    /// <summary>
    /// <para type="synopsis">Stores the gateway relay settings (internal API base, workspace, internal secret) for this session.</para>
    /// <para type="description">New-RelayTicket and Copy-RemoteItem -Transport Auto|Relay use them. The secret is given as a
    /// SecureString or read from a named environment variable; it is never shown.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Set, "ExecBridgeRelay", DefaultParameterSetName = SecretSet)]
    [OutputType(typeof(void))]
    public sealed class SetExecBridgeRelay : ExecBridgeCmdlet
    {
        private const string SecretSet = "Secret";
        private const string EnvironmentSet = "Environment";

        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNull]
        public Uri? InternalUri { get; set; }

        [Parameter(Mandatory = true)]
        [ValidateNotNullOrEmpty]
        public string? WorkspaceId { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = SecretSet)]
        [ValidateNotNull]
        public SecureString? Secret { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = EnvironmentSet)]
        [ValidateNotNullOrEmpty]
        public string? SecretEnvironmentVariable { get; set; }

        protected override void ProcessRecord()
        {
            RelaySettings settings;
            try
            {
                settings = ParameterSetName == EnvironmentSet
                    ? RelaySettings.FromEnvironment(InternalUri!, WorkspaceId!, SecretEnvironmentVariable!)
                    : new RelaySettings(InternalUri!, WorkspaceId!, Secret!);
            }
            catch (ExecBridgeException ex)
            {
                ThrowFailure(ex, ParameterSetName == EnvironmentSet ? (object)SecretEnvironmentVariable! : InternalUri!);
                return;
            }
            SessionPool.Current.RelaySettings = settings;
            WriteVerbose($"Relay settings stored: {settings}.");
        }
    }
}
