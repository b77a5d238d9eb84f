using System;
using System.Management.Automation;
using ExecBridge.Client;

namespace ExecBridge.Infrastructure
{
    /// <summary>Each client failure kind gets a stable PascalCase error id and a fitting category.</summary>
    internal static class ErrorMapping
    {
        public static ErrorRecord ToErrorRecord(Exception exception, object? target)
        {
            while (exception is AggregateException agg && agg.InnerExceptions.Count == 1) exception = agg.InnerExceptions[0];
            if (exception is ExecBridgeException ebe)
            {
                // A local failure's offending input is the local path, whichever item the cmdlet was working on.
                if (ebe is ExecBridge.Client.Copy.LocalFileException local) target = local.LocalPath;
                var (id, category) = Map(ebe.Kind);
                var record = new ErrorRecord(ebe, id, category, target);
                if (ebe is RemoteErrorException remote)
                    record.ErrorDetails = new ErrorDetails(remote.Message) { RecommendedAction = null };
                return record;
            }
            if (exception is TimeoutException)
                return new ErrorRecord(exception, "OperationTimeout", ErrorCategory.OperationTimeout, target);
            if (exception is System.IO.IOException)
                return new ErrorRecord(exception, "LocalIOError", ErrorCategory.WriteError, target);
            if (exception is UnauthorizedAccessException)
                return new ErrorRecord(exception, "LocalPermissionDenied", ErrorCategory.PermissionDenied, target);
            return new ErrorRecord(exception, "ExecBridgeUnexpectedError", ErrorCategory.NotSpecified, target);
        }

        public static (string Id, ErrorCategory Category) Map(ExecBridgeErrorKind kind)
        {
            switch (kind)
            {
                case ExecBridgeErrorKind.ConnectionRefused: return ("ConnectionRefused", ErrorCategory.ConnectionError);
                case ExecBridgeErrorKind.AuthenticationFailed: return ("AuthenticationFailed", ErrorCategory.AuthenticationError);
                case ExecBridgeErrorKind.ServerError: return ("RemoteServerError", ErrorCategory.InvalidOperation);
                case ExecBridgeErrorKind.Timeout: return ("OperationTimeout", ErrorCategory.OperationTimeout);
                case ExecBridgeErrorKind.ConnectionLost: return ("ConnectionLost", ErrorCategory.ConnectionError);
                case ExecBridgeErrorKind.ProtocolViolation: return ("ProtocolViolation", ErrorCategory.ProtocolError);
                case ExecBridgeErrorKind.ExecutorNotConnected: return ("ExecutorNotConnected", ErrorCategory.ObjectNotFound);
                case ExecBridgeErrorKind.OutputLost: return ("RemoteOutputLost", ErrorCategory.ReadError);
                case ExecBridgeErrorKind.NotSupported: return ("NotSupportedByExecutor", ErrorCategory.NotImplemented);
                case ExecBridgeErrorKind.RemotePathNotFound: return ("RemotePathNotFound", ErrorCategory.ObjectNotFound);
                case ExecBridgeErrorKind.RemotePermissionDenied: return ("RemotePermissionDenied", ErrorCategory.PermissionDenied);
                case ExecBridgeErrorKind.RemotePathIsDirectory: return ("RemotePathIsDirectory", ErrorCategory.InvalidArgument);
                case ExecBridgeErrorKind.DestinationExists: return ("DestinationExists", ErrorCategory.ResourceExists);
                case ExecBridgeErrorKind.IntegrityCheckFailed: return ("IntegrityCheckFailed", ErrorCategory.InvalidResult);
                case ExecBridgeErrorKind.CertificateValidationFailed: return ("CertificateValidationFailed", ErrorCategory.SecurityError);
                case ExecBridgeErrorKind.LocalServerFailed: return ("LocalExecServerFailed", ErrorCategory.ResourceUnavailable);
                case ExecBridgeErrorKind.InvalidArgument: return ("InvalidArgument", ErrorCategory.InvalidArgument);
                case ExecBridgeErrorKind.RelayFailed: return ("RelayFailed", ErrorCategory.ConnectionError);
                case ExecBridgeErrorKind.LocalPathNotFound: return ("LocalPathNotFound", ErrorCategory.ObjectNotFound);
                case ExecBridgeErrorKind.RelayNotConfigured: return ("RelayNotConfigured", ErrorCategory.NotEnabled);
                case ExecBridgeErrorKind.LocalIOError: return ("LocalIOError", ErrorCategory.WriteError);
                case ExecBridgeErrorKind.LocalPermissionDenied: return ("LocalPermissionDenied", ErrorCategory.PermissionDenied);
                default: return ("ExecBridgeError", ErrorCategory.NotSpecified);
            }
        }
    }
}
