using System;
using ExecBridge.Client;

namespace ExecBridge
{
    /// <summary>A connection to one executor as PowerShell sees it; its properties read the live client.</summary>
    public sealed class ExecBridgeConnection
    {
        internal ExecBridgeConnection(ExecutorClient client)
        {
            Client = client;
        }

        internal ExecutorClient Client { get; }

        public string ExecutorId => Client.ExecutorId;

        /// <summary>The endpoint without query or credentials.</summary>
        public string Uri => AuthenticationFailedException.SafeUri(Client.Endpoint.Uri);

        /// <summary>Direct, Local (embedded exec-server) or Gateway.</summary>
        public string Kind => Client.Endpoint.Kind;
        public string? SessionId => Client.SessionId;
        public ConnectionState State => (ConnectionState)(int)Client.State;
        public string Dialect => Client.Dialect;
        public string? ServerVersion => Client.ServerVersion;
        public string? Platform => Client.Platform;
        public string? Shell => Client.Shell;
        public string? Cwd => Client.Cwd;
        public int Reconnects => Client.ReconnectCount;

        public override string ToString() => $"{ExecutorId} ({Uri})";
    }
}
