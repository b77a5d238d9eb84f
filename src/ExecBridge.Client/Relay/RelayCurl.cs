using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace ExecBridge.Client.Relay
{
    public enum RelayDirection { Upload, Download }

    /// <summary>What curl reported in its write-out line.</summary>
    public sealed class RelayCurlReport
    {
        public RelayCurlReport(int httpCode, long bytesUploaded, long bytesDownloaded)
        {
            HttpCode = httpCode;
            BytesUploaded = bytesUploaded;
            BytesDownloaded = bytesDownloaded;
        }

        public int HttpCode { get; }
        public long BytesUploaded { get; }
        public long BytesDownloaded { get; }
    }

    /// <summary>
    /// Builds curl invocations that move a file through a relay ticket without the ticket (or the URL, which
    /// contains it) ever appearing on a command line: everything secret goes into a curl config that curl reads
    /// from its stdin ("-K -"). stdin of an exec-server process cannot be closed, so "head -c N" passes exactly
    /// the config's bytes and then ends curl's input.
    /// </summary>
    public static class RelayCurl
    {
        /// <summary>Prefix of the write-out line appended to curl's stdout.</summary>
        public const string ReportMarker = "EBRELAY";

        /// <summary>The curl config text for one side of a relay. remotePath is the file on the executor.</summary>
        public static string BuildConfig(RelayTicketInfo ticket, RelayDirection direction, string remotePath, TimeSpan? maxTime = null)
        {
            if (ticket == null) throw new ArgumentNullException(nameof(ticket));
            if (string.IsNullOrEmpty(remotePath)) throw new ArgumentException("A remote path is required.", nameof(remotePath));
            var sb = new StringBuilder();
            var uri = direction == RelayDirection.Upload ? ticket.UploadUri : ticket.DownloadUri;
            Line(sb, "url", uri.AbsoluteUri);
            Line(sb, "header", "Authorization: Bearer " + ticket.Ticket);
            if (direction == RelayDirection.Upload)
            {
                Line(sb, "upload-file", remotePath);
                Line(sb, "header", "Expect:"); // no 100-continue round trip while the other side may still be waiting
                Line(sb, "output", "/dev/null");
            }
            else
            {
                Line(sb, "output", remotePath);
            }
            sb.Append("fail\n");
            sb.Append("silent\n");
            sb.Append("show-error\n");
            Line(sb, "connect-timeout", "20");
            if (maxTime.HasValue) Line(sb, "max-time", ((long)Math.Ceiling(maxTime.Value.TotalSeconds)).ToString(CultureInfo.InvariantCulture));
            Line(sb, "write-out", "\\n" + ReportMarker + " %{http_code} %{size_upload} %{size_download}\\n", escape: false);
            return sb.ToString();
        }

        public static byte[] BuildConfigBytes(RelayTicketInfo ticket, RelayDirection direction, string remotePath, TimeSpan? maxTime = null) =>
            new UTF8Encoding(false).GetBytes(BuildConfig(ticket, direction, remotePath, maxTime));

        /// <summary>
        /// argv for a process started with pipeStdin that reads its config (exactly configLength bytes, written by the
        /// caller with process/write) from stdin. Nothing secret is in it. Exit 127 means curl (or head) is missing.
        /// </summary>
        public static IList<string> StdinArgv(int configLength, string shell = "/bin/sh")
        {
            if (configLength <= 0) throw new ArgumentOutOfRangeException(nameof(configLength));
            return new[]
            {
                shell, "-c",
                "command -v curl >/dev/null 2>&1 || exit 127; head -c " + configLength.ToString(CultureInfo.InvariantCulture) + " | curl -q -K -",
            };
        }

        /// <summary>Finds the write-out line in curl's stdout; null when curl did not get that far.</summary>
        public static RelayCurlReport? ParseReport(string stdout)
        {
            if (string.IsNullOrEmpty(stdout)) return null;
            var lines = stdout.Split('\n');
            for (int i = lines.Length - 1; i >= 0; i--)
            {
                var line = lines[i].Trim();
                if (!line.StartsWith(ReportMarker + " ", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ');
                if (parts.Length < 4) return null;
                if (int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var code)
                    && double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var up)
                    && double.TryParse(parts[3], NumberStyles.Float, CultureInfo.InvariantCulture, out var down))
                    return new RelayCurlReport(code, (long)up, (long)down);
                return null;
            }
            return null;
        }

        private static void Line(StringBuilder sb, string key, string value, bool escape = true)
        {
            sb.Append(key).Append(" = \"").Append(escape ? Escape(value) : value).Append("\"\n");
        }

        /// <summary>curl config quoting: backslash, quote and control characters escaped.</summary>
        public static string Escape(string value)
        {
            var sb = new StringBuilder(value.Length + 8);
            foreach (char c in value)
            {
                switch (c)
                {
                    case '\\': sb.Append("\\\\"); break;
                    case '"': sb.Append("\\\""); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    case '\v': sb.Append("\\v"); break;
                    default: sb.Append(c); break;
                }
            }
            return sb.ToString();
        }
    }
}
