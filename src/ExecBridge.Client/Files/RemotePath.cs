using System;
using System.Text;

namespace ExecBridge.Client.Files
{
    /// <summary>How the executor wants paths: plain absolute paths (0.123/0.130) or file:// URIs (0.142+).</summary>
    public enum PathStyle { Plain, FileUri }

    /// <summary>Turns the user's plain absolute paths into what the executor accepts, and back.</summary>
    public static class RemotePath
    {
        public static string ToWire(string path, PathStyle style)
        {
            if (string.IsNullOrEmpty(path) || path[0] != '/')
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument,
                    $"Remote paths must be absolute (start with '/'): '{path}'.");
            return style == PathStyle.Plain ? path : "file://" + Encode(path);
        }

        /// <summary>Percent-encodes everything but unreserved characters and '/', so '#', '?', '%', spaces and non-ASCII survive.</summary>
        public static string Encode(string path)
        {
            var bytes = Encoding.UTF8.GetBytes(path);
            var sb = new StringBuilder(bytes.Length + 16);
            foreach (byte b in bytes)
            {
                char c = (char)b;
                bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                            || c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
                if (keep) sb.Append(c);
                else sb.Append('%').Append(((int)b).ToString("X2"));
            }
            return sb.ToString();
        }

        /// <summary>Accepts either a plain path or a file:// URI from the server and returns the plain path.</summary>
        public static string FromWire(string value)
        {
            if (!value.StartsWith("file:", StringComparison.OrdinalIgnoreCase)) return value;
            string rest = value.Substring(5);
            if (rest.StartsWith("//"))
            {
                rest = rest.Substring(2);
                int slash = rest.IndexOf('/');
                rest = slash < 0 ? "/" : rest.Substring(slash);
            }
            return Uri.UnescapeDataString(rest);
        }

        public static string Combine(string directory, string name) =>
            directory.EndsWith("/") ? directory + name : directory + "/" + name;

        public static string GetParent(string path)
        {
            var trimmed = path.Length > 1 ? path.TrimEnd('/') : path;
            int i = trimmed.LastIndexOf('/');
            return i <= 0 ? "/" : trimmed.Substring(0, i);
        }

        public static string GetName(string path)
        {
            var trimmed = path.Length > 1 ? path.TrimEnd('/') : path;
            int i = trimmed.LastIndexOf('/');
            return i < 0 ? trimmed : trimmed.Substring(i + 1);
        }

        /// <summary>
        /// Checks that a path is absolute and tidies it: repeated slashes collapsed, trailing slash removed
        /// (but "/" stays "/"). '.' and '..' are left for the executor to resolve.
        /// </summary>
        public static string Normalize(string path)
        {
            if (string.IsNullOrEmpty(path) || path[0] != '/')
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument,
                    $"Remote paths must be absolute (start with '/'): '{path}'.");
            var sb = new StringBuilder(path.Length);
            foreach (char c in path)
            {
                if (c == '/' && sb.Length > 0 && sb[sb.Length - 1] == '/') continue;
                sb.Append(c);
            }
            if (sb.Length > 1 && sb[sb.Length - 1] == '/') sb.Length--;
            return sb.ToString();
        }

        /// <summary>Whether 'path' is 'ancestor' or lies below it (plain string comparison on normalized paths).</summary>
        public static bool IsSameOrBelow(string path, string ancestor)
        {
            path = Normalize(path);
            ancestor = Normalize(ancestor);
            if (ancestor == "/") return true;
            return path == ancestor || path.StartsWith(ancestor + "/", StringComparison.Ordinal);
        }

        /// <summary>Single-quotes a value for a POSIX shell command line.</summary>
        public static string ShellQuote(string value) => "'" + value.Replace("'", "'\\''") + "'";
    }
}
