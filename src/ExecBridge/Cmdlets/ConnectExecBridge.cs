using System;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Security;
using ExecBridge.Client;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Connects to a codex exec-server and adds it to this session's connection pool.</para>
    /// </summary>
    [Cmdlet(VerbsCommunications.Connect, "ExecBridge", DefaultParameterSetName = UriSet)]
    [OutputType(typeof(ExecBridgeConnection))]
    public sealed partial class ConnectExecBridge : ExecBridgeCmdlet
    {
        private const string UriSet = "Uri";
        private const string LocalSet = "Local";
        private const string GatewaySet = "Gateway";

        [Parameter(Mandatory = true, Position = 0, ParameterSetName = UriSet)]
        [ValidateNotNull]
        public Uri? Uri { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = GatewaySet)]
        [ValidateNotNull]
        public Uri? GatewayUri { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = LocalSet)]
        public SwitchParameter Local { get; set; }

        [Parameter(ParameterSetName = LocalSet)]
        [ValidateNotNullOrEmpty]
        public string? ExecServerPath { get; set; }

        [Parameter(ParameterSetName = UriSet)]
        [Parameter(ParameterSetName = LocalSet)]
        [Parameter(Mandatory = true, ParameterSetName = GatewaySet)]
        [ValidateNotNullOrEmpty]
        public string[]? ExecutorId { get; set; }

        [Parameter(ParameterSetName = UriSet)]
        [Parameter(Mandatory = true, ParameterSetName = GatewaySet)]
        public SecureString? Token { get; set; }

        [Parameter(ParameterSetName = UriSet)]
        [Parameter(ParameterSetName = GatewaySet)]
        public SwitchParameter SkipCertificateCheck { get; set; }

        [Parameter(ParameterSetName = UriSet)]
        [Parameter(ParameterSetName = GatewaySet)]
        [ValidateNotNullOrEmpty]
        public string? CertificateThumbprint { get; set; }

        [Parameter]
        [ValidateRange(1, 86400)]
        public int TimeoutSec { get; set; } = 30;

        [Parameter]
        [ValidateRange(1048576, 1073741824)]
        public int MaxMessageSize { get; set; } = ExecBridge.Client.Rpc.RpcConnection.DefaultMaxReceiveBytes;

        [Parameter]
        [ValidateRange(65536, 17179869184)]
        public long MaxOutputBuffer { get; set; } = ExecBridge.Client.Processes.RemoteProcessHandle.DefaultMaxUnreadBytes;

        [Parameter]
        [ValidateRange(1024, 268435456)]
        public int MaxLineLength { get; set; } = ExecutorEndpoint.DefaultMaxLineLength;

        [Parameter]
        public SwitchParameter Force { get; set; }

        // Executors dialed at once through a gateway (-ExecutorId a,b,c).
        [Parameter(ParameterSetName = GatewaySet)]
        [ValidateRange(1, 4096)]
        public int ThrottleLimit { get; set; } = 32;

        protected override void ProcessRecord()
        {
            // 'not a uri' binds as a relative Uri, whose Host and Scheme throw: refuse it before anything reads them.
            foreach (var (given, name) in new[] { (Uri, "-Uri"), (GatewayUri, "-GatewayUri") })
                if (given != null && !given.IsAbsoluteUri)
                    ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                        $"'{given.OriginalString}' ({name}) is not an absolute ws:// or wss:// address, such as ws://host:port."),
                        "InvalidExecutorUri", ErrorCategory.InvalidArgument, given.OriginalString));
            RefuseCredentialsInUri(Uri, "-Uri");
            RefuseCredentialsInUri(GatewayUri, "-GatewayUri");
            if (CertificateThumbprint != null && ThumbprintDigits(CertificateThumbprint).Length != 40)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                    $"-CertificateThumbprint '{CertificateThumbprint}' is not a SHA-1 thumbprint (40 hex digits)."),
                    "InvalidArgument", ErrorCategory.InvalidArgument, CertificateThumbprint));
            if (SkipCertificateCheck)
                WriteWarning("-SkipCertificateCheck: the server's certificate is not checked, so anyone on the network path can pose as the server, read the token and change what runs.");
            var pool = SessionPool.Current;
            SessionPool.MarkOwner();
            var ids = (ExecutorId ?? Array.Empty<string>()).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
            if (ids.Length > 1 && ParameterSetName != GatewaySet)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                    $"-ExecutorId names {ids.Length} executors, but {(ParameterSetName == LocalSet ? "-Local" : "-Uri")} reaches one; several executors are reached through a gateway (-GatewayUri)."),
                    "InvalidArgument", ErrorCategory.InvalidArgument, string.Join(",", ids)));
            if (ids.Length > 1)
            {
                ConnectMany(pool, ids);
                return;
            }
            string executorId = ids.Length == 1 ? ids[0] : DefaultId();
            if (pool.TryGet(executorId, out _) && !Force)
            {
                ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(
                    $"Executor '{executorId}' is already connected. Use -Force to replace it, or Disconnect-ExecBridge first."),
                    "ExecutorAlreadyConnected", ErrorCategory.ResourceExists, executorId));
            }

            LocalExecServer? local = null;
            Uri uri;
            string? token = Token == null ? null : new NetworkCredential(string.Empty, Token).Password;
            string kind = ParameterSetName == GatewaySet ? "Gateway" : ParameterSetName == LocalSet ? "Local" : "Direct";
            try
            {
                if (ParameterSetName == LocalSet)
                {
                    var codex = LocalExecServer.ResolveCodex(ExecServerPath);
                    WriteVerbose($"Starting a local exec-server from {codex}.");
                    local = Await(LocalExecServer.StartAsync(codex, TimeSpan.FromSeconds(TimeoutSec), StopToken));
                    uri = local.Uri;
                    token = local.Token;
                    WriteVerbose($"Local exec-server listening on {uri} ({(local.UsesToken ? "capability token" : "no authentication: this version has no --ws-auth")}).");
                }
                else if (ParameterSetName == GatewaySet)
                {
                    uri = GatewayExecutorUri(executorId);
                }
                else
                {
                    uri = Uri!;
                }
                if (uri.Scheme != "ws" && uri.Scheme != "wss")
                {
                    var shown = AuthenticationFailedException.SafeUri(uri);
                    ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{shown}' is not a ws:// or wss:// address."),
                        "InvalidExecutorUri", ErrorCategory.InvalidArgument, shown));
                }

                var client = new ExecutorClient(NewEndpoint(executorId, uri, token, kind)) { OwnedResource = local };
                try
                {
                    Await(client.EnsureConnectedAsync(StopToken));
                }
                catch
                {
                    client.OwnedResource = null;
                    client.Dispose();
                    throw;
                }
                pool.Add(client);
                WriteObject(new ExecBridgeConnection(client));
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                local?.Dispose();
                ThrowFailure(ex, Uri != null ? AuthenticationFailedException.SafeUri(Uri) : GatewayUri != null ? AuthenticationFailedException.SafeUri(GatewayUri) : executorId);
            }
            catch (PipelineStoppedException)
            {
                local?.Dispose();
                throw;
            }
        }

        private ExecutorEndpoint NewEndpoint(string executorId, Uri uri, string? token, string kind) =>
            new ExecutorEndpoint(executorId, uri, token)
            {
                Kind = kind,
                RequestTimeout = TimeSpan.FromSeconds(TimeoutSec),
                Tls = new Client.Rpc.TlsPolicy(SkipCertificateCheck, CertificateThumbprint),
                ConnectTimeout = TimeSpan.FromSeconds(Math.Min(TimeoutSec, 30)),
                MaxMessageSize = MaxMessageSize,
                MaxOutputBuffer = MaxOutputBuffer,
                MaxLineLength = MaxLineLength,
            };

        private Uri GatewayExecutorUri(string executorId) =>
            new Uri(GatewayUri!.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/" + System.Uri.EscapeDataString(executorId));

        /// <summary>user:password@ in a URI ends up in histories, logs and error views: refused, pointing to -Token.</summary>
        private void RefuseCredentialsInUri(Uri? uri, string parameter)
        {
            if (uri == null || !uri.IsAbsoluteUri || string.IsNullOrEmpty(uri.UserInfo)) return;
            var shown = AuthenticationFailedException.SafeUri(uri);
            ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                $"{parameter} '{shown}' carries a user name or password; credentials are not accepted in a URI. Pass the token with -Token (a SecureString) instead."),
                "InvalidArgument", ErrorCategory.InvalidArgument, shown));
        }

        private static string ThumbprintDigits(string thumbprint) => Client.Rpc.TlsPolicy.Normalize(thumbprint) ?? "";

        private string DefaultId()
        {
            if (ParameterSetName == LocalSet) return "local";
            return Uri!.IsDefaultPort ? Uri.Host : $"{Uri.Host}:{Uri.Port}";
        }
    }
}
