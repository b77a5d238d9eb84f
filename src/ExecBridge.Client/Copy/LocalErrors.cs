using System;
using System.IO;
using System.Security;

namespace ExecBridge.Client.Copy
{
    /// <summary>A local file system failure, with the local path it concerns (the ErrorRecord's target).</summary>
    public sealed class LocalFileException : ExecBridgeException
    {
        public LocalFileException(ExecBridgeErrorKind kind, string message, string localPath, Exception? inner)
            : base(kind, message, inner)
        {
            LocalPath = localPath;
        }

        public string LocalPath { get; }
    }

    /// <summary>
    /// Turns what the local file system throws (IOException, UnauthorizedAccessException, ArgumentException for a NUL
    /// in a path, PathTooLongException) into typed errors naming the path, so none reaches a user as a raw .NET error.
    /// </summary>
    public static class LocalErrors
    {
        public static bool IsLocal(Exception ex) =>
            !(ex is ExecBridgeException) && (ex is IOException || ex is UnauthorizedAccessException || ex is ArgumentException
                                             || ex is NotSupportedException || ex is SecurityException);

        /// <summary>'action' says what was being done, e.g. "write" or "read".</summary>
        public static LocalFileException Translate(Exception ex, string path, string action)
        {
            var shown = Shown(path);
            switch (ex)
            {
                case UnauthorizedAccessException _:
                case SecurityException _:
                    return new LocalFileException(ExecBridgeErrorKind.LocalPermissionDenied, $"Access to the local path '{shown}' was denied ({action}): {ex.Message}", path, ex);
                case PathTooLongException _:
                    return new LocalFileException(ExecBridgeErrorKind.InvalidArgument, $"The local path '{shown}' is too long (a name is at most 255 bytes): {ex.Message}", path, ex);
                case DirectoryNotFoundException _:
                case FileNotFoundException _:
                    return new LocalFileException(ExecBridgeErrorKind.LocalPathNotFound, $"The local path '{shown}' does not exist ({action}): {ex.Message}", path, ex);
                case IOException _:
                    return new LocalFileException(ExecBridgeErrorKind.LocalIOError, $"Could not {action} the local file '{shown}': {ex.Message}", path, ex);
                default: // ArgumentException (NUL or other invalid characters), NotSupportedException
                    return new LocalFileException(ExecBridgeErrorKind.InvalidArgument, $"The local path '{shown}' is not valid: {ex.Message}", path, ex);
            }
        }

        /// <summary>The path as it can be printed: control characters (a NUL) shown escaped.</summary>
        public static string Shown(string path)
        {
            var sb = new System.Text.StringBuilder(path.Length);
            foreach (var c in path) sb.Append(char.IsControl(c) ? "\\x" + ((int)c).ToString("x2") : c.ToString());
            return sb.ToString();
        }
    }
}
