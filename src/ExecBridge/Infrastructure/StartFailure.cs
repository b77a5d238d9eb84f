using System;
using System.Management.Automation;
using System.Threading;
using ExecBridge.Client;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// The exec-server rejects a start with "No such file or directory (os error 2)" both for a missing program and a
    /// missing working directory. Only on that failure (no extra call when starts work) this looks which one it was,
    /// so the error names it and has it as the target.
    /// </summary>
    internal static class StartFailure
    {
        public static ErrorRecord? Explain(ExecutorClient client, Exception failure, string? filePath,
            string? workingDirectory, CancellationToken cancellationToken)
        {
            var inner = failure is AggregateException a && a.InnerExceptions.Count == 1 ? a.InnerExceptions[0] : failure;
            if (!(inner is ExecBridgeException e) || e.Kind != ExecBridgeErrorKind.RemotePathNotFound) return null;
            if (workingDirectory != null)
            {
                bool folder;
                try
                {
                    var resolved = client.ResolvePathAsync(workingDirectory, cancellationToken).GetAwaiter().GetResult();
                    var info = client.TryGetMetadataAsync(resolved, cancellationToken, needLength: false).GetAwaiter().GetResult();
                    folder = info != null && info.IsDirectory;
                }
                catch (Exception ex) when (!(ex is OperationCanceledException))
                {
                    return null; // cannot tell: keep the server's error
                }
                if (!folder)
                    return new ErrorRecord(new ExecBridgeException(ExecBridgeErrorKind.RemotePathNotFound,
                        $"The working directory '{workingDirectory}' does not exist on executor '{client.ExecutorId}' (-WorkingDirectory)."),
                        "RemotePathNotFound", ErrorCategory.ObjectNotFound, workingDirectory);
            }
            if (filePath == null) return null;
            return new ErrorRecord(new ExecBridgeException(ExecBridgeErrorKind.RemotePathNotFound,
                filePath.IndexOf('/') >= 0
                    ? $"The program '{filePath}' does not exist on executor '{client.ExecutorId}' (-FilePath)."
                    : $"The program '{filePath}' was not found on the PATH of executor '{client.ExecutorId}' (-FilePath)."),
                "RemoteCommandNotFound", ErrorCategory.ObjectNotFound, filePath);
        }
    }
}
