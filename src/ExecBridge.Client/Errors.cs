using System;

namespace ExecBridge.Client
{
    /// <summary>Why a client operation failed; the cmdlet layer maps each kind to an error id and category.</summary>
    public enum ExecBridgeErrorKind
    {
        ConnectionRefused,
        AuthenticationFailed,
        ServerError,
        Timeout,
        ConnectionLost,
        ProtocolViolation,
        ExecutorNotConnected,
        OutputLost,
        NotSupported,
        RemotePathNotFound,
        RemotePermissionDenied,
        RemotePathIsDirectory,
        DestinationExists,
        IntegrityCheckFailed,
        LocalServerFailed,
        InvalidArgument,
        RelayFailed,
        LocalPathNotFound,
        /// <summary>No relay settings in this session (Set-ExecBridgeRelay) while a relay was required.</summary>
        RelayNotConfigured,
        /// <summary>A local file could not be read or written (disk full, I/O error).</summary>
        LocalIOError,
        /// <summary>The local file system refused access.</summary>
        LocalPermissionDenied,
        /// <summary>A wss:// server's certificate was refused (untrusted, self-signed, wrong name, or not the pinned one).</summary>
        CertificateValidationFailed,
    }

    /// <summary>Base of every failure the client reports. Messages never contain tokens or tickets.</summary>
    public class ExecBridgeException : Exception
    {
        public ExecBridgeException(ExecBridgeErrorKind kind, string message, Exception? inner = null)
            : base(message, inner)
        {
            Kind = kind;
        }

        public ExecBridgeErrorKind Kind { get; }
    }

    /// <summary>The server answered a request with a JSON-RPC error; code and message are kept verbatim.</summary>
    public sealed class RemoteErrorException : ExecBridgeException
    {
        public RemoteErrorException(string method, int code, string remoteMessage)
            : base(Classify(code, remoteMessage), $"The executor rejected {method}: {remoteMessage} (JSON-RPC {code}).")
        {
            Method = method;
            Code = code;
            RemoteMessage = remoteMessage;
        }

        public string Method { get; }
        public int Code { get; }
        public string RemoteMessage { get; }

        public bool IsMethodNotFound => Code == -32601;

        private static ExecBridgeErrorKind Classify(int code, string message)
        {
            // Codes are inconsistent across methods (notes §11), so the OS error text decides.
            if (message.Contains("os error 2)") || code == -32004) return ExecBridgeErrorKind.RemotePathNotFound;
            if (message.Contains("os error 13)") || message.Contains("Permission denied")) return ExecBridgeErrorKind.RemotePermissionDenied;
            if (message.Contains("os error 21)") || message.Contains("is not a file")) return ExecBridgeErrorKind.RemotePathIsDirectory;
            if (code == -32601) return ExecBridgeErrorKind.NotSupported;
            return ExecBridgeErrorKind.ServerError;
        }
    }

    /// <summary>The connection was already gone when a request was to be sent: the server never received it, so it is safe to redial and send again.</summary>
    public sealed class RequestNotSentException : ExecBridgeException
    {
        public RequestNotSentException(string message, Exception? inner = null)
            : base(ExecBridgeErrorKind.ConnectionLost, message, inner)
        {
        }
    }

    /// <summary>The WebSocket upgrade was refused with HTTP 401/403.</summary>
    public sealed class AuthenticationFailedException : ExecBridgeException
    {
        public AuthenticationFailedException(Uri uri, int statusCode, Exception? inner = null)
            : base(ExecBridgeErrorKind.AuthenticationFailed,
                   $"The executor at {SafeUri(uri)} refused the credentials (HTTP {statusCode}).", inner)
        {
            StatusCode = statusCode;
        }

        /// <summary>The same refusal by a gateway: the message names the gateway and the executor it was asked for.</summary>
        public AuthenticationFailedException(string message, int statusCode, Exception? inner = null)
            : base(ExecBridgeErrorKind.AuthenticationFailed, message, inner)
        {
            StatusCode = statusCode;
        }

        public int StatusCode { get; }

        /// <summary>Scheme, host, port and path: never userinfo (user:password@) or a query (?token=…).</summary>
        internal static string SafeUri(Uri uri) =>
            uri.IsAbsoluteUri ? uri.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped) : "(relative URI)";
    }
}
