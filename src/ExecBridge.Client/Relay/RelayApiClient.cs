using System;
using System.Globalization;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Client.Relay
{
    /// <summary>
    /// A failure of the gateway's relay API. Kind is AuthenticationFailed for 401/403, RelayFailed otherwise.
    /// The message never contains the internal secret or a ticket.
    /// </summary>
    public sealed class RelayApiException : ExecBridgeException
    {
        public RelayApiException(ExecBridgeErrorKind kind, string message, int? statusCode, Exception? inner = null)
            : base(kind, message, inner)
        {
            StatusCode = statusCode;
        }

        /// <summary>The HTTP status the API answered with; null when no answer came (network error, timeout).</summary>
        public int? StatusCode { get; }

        /// <summary>503: relay is switched off on the gateway (a copy may fall back to pumping through the client).</summary>
        public bool IsNotConfigured => StatusCode == 503;

        /// <summary>429: the workspace already has the maximum number of active relays (wait or fall back).</summary>
        public bool IsCapacityExceeded => StatusCode == 429;
    }

    /// <summary>A minted single-use relay ticket. The ticket is a secret: ToString and the Safe* members mask it.</summary>
    public sealed class RelayTicketInfo
    {
        public RelayTicketInfo(string ticket, Uri uploadUri, Uri downloadUri, DateTimeOffset expiresAt,
            string sourceExecutorId, string destinationExecutorId, long maxBytes)
        {
            Ticket = ticket;
            UploadUri = uploadUri;
            DownloadUri = downloadUri;
            ExpiresAt = expiresAt;
            SourceExecutorId = sourceExecutorId;
            DestinationExecutorId = destinationExecutorId;
            MaxBytes = maxBytes;
        }

        /// <summary>The bearer secret ("rly_…"). Never print it, never put it on a command line.</summary>
        public string Ticket { get; }

        /// <summary>Contains the ticket (the URL is &lt;public base&gt;/relay/&lt;ticket&gt;): treat as secret too.</summary>
        public Uri UploadUri { get; }

        /// <summary>Contains the ticket: treat as secret too.</summary>
        public Uri DownloadUri { get; }
        public DateTimeOffset ExpiresAt { get; }
        public string SourceExecutorId { get; }
        public string DestinationExecutorId { get; }
        public long MaxBytes { get; }

        /// <summary>The first few characters then an ellipsis, e.g. "rly_ab…".</summary>
        public string MaskedTicket => Mask(Ticket);

        public string SafeUploadUri => Scrub(UploadUri.AbsoluteUri);
        public string SafeDownloadUri => Scrub(DownloadUri.AbsoluteUri);

        public bool IsExpired => DateTimeOffset.UtcNow >= ExpiresAt;

        /// <summary>Replaces the ticket (plain or URL-escaped) in a text with its masked form.</summary>
        public string Scrub(string text)
        {
            if (string.IsNullOrEmpty(text)) return text;
            var masked = MaskedTicket;
            text = text.Replace(Ticket, masked);
            var escaped = Uri.EscapeDataString(Ticket);
            return escaped == Ticket ? text : text.Replace(escaped, masked);
        }

        /// <summary>Masks every relay ticket (rly_…) in a text, e.g. a server's or curl's error output.</summary>
        public static string MaskAll(string text) =>
            System.Text.RegularExpressions.Regex.Replace(text, @"rly_[A-Za-z0-9_\-]+", m => Mask(m.Value));

        public static string Mask(string? ticket)
        {
            if (string.IsNullOrEmpty(ticket)) return "";
            int keep = ticket!.StartsWith("rly_", StringComparison.Ordinal) ? 6 : 2;
            return ticket.Length <= keep ? "…" : ticket.Substring(0, keep) + "…";
        }

        public override string ToString() =>
            $"{MaskedTicket} {SourceExecutorId} -> {DestinationExecutorId} (expires {ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}Z)";
    }

    /// <summary>Client of the gateway's internal relay API (POST /api/exec-gateway/relay/create).</summary>
    public sealed class RelayApiClient : IDisposable
    {
        public const string CreatePath = "api/exec-gateway/relay/create";

        private readonly HttpClient _http;
        private readonly bool _ownsHttp;

        /// <summary>
        /// One HttpClient for every default client: its connection to the gateway is kept and reused, so a copy does
        /// not open a new one per ticket. Credentials go on each request, never on the shared client.
        /// </summary>
        private static readonly Lazy<HttpClient> SharedHttp = new Lazy<HttpClient>(() =>
            new HttpClient { Timeout = System.Threading.Timeout.InfiniteTimeSpan }); // our own timeout, with a clear message

        public RelayApiClient(RelaySettings settings, HttpMessageHandler? handler = null)
        {
            Settings = settings ?? throw new ArgumentNullException(nameof(settings));
            if (handler == null)
            {
                _http = SharedHttp.Value;
                _ownsHttp = false;
            }
            else
            {
                _http = new HttpClient(handler, disposeHandler: false) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
                _ownsHttp = true;
            }
        }

        public RelaySettings Settings { get; }

        public Uri CreateUri => new Uri(Settings.InternalBaseUri.AbsoluteUri.TrimEnd('/') + "/" + CreatePath);

        private string SafeBase => AuthenticationFailedException.SafeUri(Settings.InternalBaseUri);

        /// <summary>Mints a single-use ticket for moving bytes from one executor to another.</summary>
        public async Task<RelayTicketInfo> CreateTicketAsync(string sourceExeId, string destExeId, TimeSpan ttl, long maxBytes,
            CancellationToken cancellationToken)
        {
            if (string.IsNullOrEmpty(sourceExeId)) throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "A source executor id is required.");
            if (string.IsNullOrEmpty(destExeId)) throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "A destination executor id is required.");
            if (ttl <= TimeSpan.Zero) throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "The relay ticket time to live must be positive.");
            if (maxBytes <= 0) throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "The relay max bytes must be positive.");

            var body = new MemoryStream();
            using (var w = new Utf8JsonWriter(body))
            {
                w.WriteStartObject();
                w.WriteString("workspace_id", Settings.WorkspaceId);
                w.WriteString("source_exe_id", sourceExeId);
                w.WriteString("dest_exe_id", destExeId);
                w.WriteNumber("ttl_seconds", (long)Math.Max(1, Math.Ceiling(ttl.TotalSeconds)));
                w.WriteNumber("max_bytes", maxBytes);
                w.WriteEndObject();
            }

            using var request = new HttpRequestMessage(HttpMethod.Post, CreateUri);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Settings.Secret);
            request.Content = new ByteArrayContent(body.ToArray());
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

            using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeoutCts.CancelAfter(Settings.RequestTimeout);
            HttpResponseMessage? response = null;
            string text;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeoutCts.Token).ConfigureAwait(false);
                text = await ReadBoundedAsync(response, timeoutCts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                response?.Dispose();
                throw new RelayApiException(ExecBridgeErrorKind.RelayFailed,
                    $"The relay API at {SafeBase} did not answer within {Settings.RequestTimeout.TotalSeconds:0.#} s.", null);
            }
            catch (Exception ex) when (ex is HttpRequestException || ex is IOException)
            {
                response?.Dispose();
                throw new RelayApiException(ExecBridgeErrorKind.RelayFailed,
                    $"Could not reach the relay API at {SafeBase}: {Settings.Scrub(Innermost(ex).Message)}", null, ex);
            }
            catch
            {
                response?.Dispose();
                throw;
            }

            using (response)
            {
                int status = (int)response.StatusCode;
                if (status != 201 && status != 200) throw Fail(status, text, sourceExeId, destExeId);
                return Parse(text, sourceExeId, destExeId, maxBytes);
            }
        }

        /// <summary>A ticket answer is a few hundred bytes; a body past this is refused instead of buffered.</summary>
        public const int MaxBodyBytes = 1024 * 1024;

        private async Task<string> ReadBoundedAsync(HttpResponseMessage response, CancellationToken ct)
        {
            if (response.Content == null) return "";
            if (response.Content.Headers.ContentLength > MaxBodyBytes) throw BodyTooLarge((int)response.StatusCode, response.Content.Headers.ContentLength.Value);
            using var stream = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
            var buffer = new byte[16 * 1024];
            using var body = new MemoryStream();
            int n;
            while ((n = await stream.ReadAsync(buffer, 0, buffer.Length, ct).ConfigureAwait(false)) > 0)
            {
                if (body.Length + n > MaxBodyBytes) throw BodyTooLarge((int)response.StatusCode, body.Length + n);
                body.Write(buffer, 0, n);
            }
            return Encoding.UTF8.GetString(body.GetBuffer(), 0, (int)body.Length);
        }

        private RelayApiException BodyTooLarge(int status, long size) =>
            new RelayApiException(ExecBridgeErrorKind.ProtocolViolation,
                $"The relay API at {SafeBase} answered HTTP {status} with a body of {size} bytes or more, over the {MaxBodyBytes}-byte limit; it was not read.", status);

        private RelayApiException Fail(int status, string body, string source, string dest)
        {
            var detail = ServerDetail(body);
            var suffix = detail.Length > 0 ? $": {detail}" : ".";
            switch (status)
            {
                case 401:
                    return new RelayApiException(ExecBridgeErrorKind.AuthenticationFailed,
                        $"The relay API at {SafeBase} refused the internal secret (HTTP 401).", status);
                case 403:
                    return new RelayApiException(ExecBridgeErrorKind.AuthenticationFailed,
                        $"The relay API refused a ticket from '{source}' to '{dest}': an executor is not in workspace '{Settings.WorkspaceId}' or access is denied (HTTP 403){suffix}", status);
                case 400:
                    return new RelayApiException(ExecBridgeErrorKind.RelayFailed,
                        $"The relay API rejected the ticket request as malformed (HTTP 400){suffix}", status);
                case 429:
                    return new RelayApiException(ExecBridgeErrorKind.RelayFailed,
                        $"Workspace '{Settings.WorkspaceId}' already has the maximum number of active relays (HTTP 429).", status);
                case 503:
                    return new RelayApiException(ExecBridgeErrorKind.RelayFailed,
                        $"Relay is not configured on the gateway at {SafeBase} (HTTP 503).", status);
                default:
                    return new RelayApiException(ExecBridgeErrorKind.RelayFailed,
                        $"The relay API at {SafeBase} answered HTTP {status}{suffix}", status);
            }
        }

        /// <summary>The server's error text (the "error" member of a JSON body, else the body), short and scrubbed.</summary>
        private string ServerDetail(string body)
        {
            if (string.IsNullOrWhiteSpace(body)) return "";
            string text = body;
            try
            {
                using var doc = JsonDocument.Parse(body);
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    foreach (var name in new[] { "error", "message", "detail" })
                        if (doc.RootElement.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String)
                        {
                            text = e.GetString() ?? "";
                            break;
                        }
                }
            }
            catch (JsonException)
            {
            }
            text = Settings.Scrub(text.Trim());
            // A ticket the server might echo is masked too.
            text = RelayTicketInfo.MaskAll(text);
            return text.Length > 300 ? text.Substring(0, 300) + "…" : text;
        }

        private RelayTicketInfo Parse(string text, string source, string dest, long maxBytes)
        {
            try
            {
                using var doc = JsonDocument.Parse(text);
                var root = doc.RootElement;
                var ticket = root.GetProperty("ticket").GetString();
                var upload = root.GetProperty("upload_url").GetString();
                var download = root.GetProperty("download_url").GetString();
                var expires = root.GetProperty("expires_at").GetString();
                if (string.IsNullOrEmpty(ticket) || string.IsNullOrEmpty(upload) || string.IsNullOrEmpty(download) || string.IsNullOrEmpty(expires))
                    throw new FormatException("a field is empty");
                var expiresAt = DateTimeOffset.Parse(expires, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
                return new RelayTicketInfo(ticket!, new Uri(upload!, UriKind.Absolute), new Uri(download!, UriKind.Absolute), expiresAt,
                    source, dest, maxBytes);
            }
            catch (Exception ex) when (ex is JsonException || ex is System.Collections.Generic.KeyNotFoundException || ex is FormatException
                                       || ex is InvalidOperationException || ex is UriFormatException)
            {
                throw new RelayApiException(ExecBridgeErrorKind.RelayFailed,
                    $"The relay API at {SafeBase} answered with a malformed ticket response ({ex.GetType().Name}).", 201);
            }
        }

        private static Exception Innermost(Exception ex)
        {
            while (ex.InnerException != null) ex = ex.InnerException;
            return ex;
        }

        public void Dispose()
        {
            if (_ownsHttp) _http.Dispose();
        }

        public override string ToString() => Settings.ToString();
    }
}
