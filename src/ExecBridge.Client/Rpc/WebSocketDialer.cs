using System;
using System.IO;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Client.Rpc
{
    /// <summary>
    /// Opens the WebSocket. For ws:// on runtimes with WebSocket.CreateFromStream (.NET Core 2.1+, so PowerShell 7)
    /// it does the HTTP/1.1 upgrade itself over a plain socket: a first ClientWebSocket connect in a fresh process
    /// cost ~65 ms here (it brings up the whole HTTP client stack), this one ~30 ms. wss:// and Windows PowerShell
    /// 5.1 use ClientWebSocket. Neither ever offers permessage-deflate (the legacy servers drop such handshakes).
    /// </summary>
    internal static class WebSocketDialer
    {
        private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
        private const int MaxResponseHeaderBytes = 16 * 1024;
        internal static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(20);

        private static readonly Func<Stream, bool, string?, TimeSpan, WebSocket>? CreateFromStream = FindCreateFromStream();

        private static Func<Stream, bool, string?, TimeSpan, WebSocket>? FindCreateFromStream()
        {
            try
            {
                var method = typeof(WebSocket).GetMethod("CreateFromStream", BindingFlags.Public | BindingFlags.Static, null,
                    new[] { typeof(Stream), typeof(bool), typeof(string), typeof(TimeSpan) }, null);
                return method == null ? null : (Func<Stream, bool, string?, TimeSpan, WebSocket>)method.CreateDelegate(typeof(Func<Stream, bool, string?, TimeSpan, WebSocket>));
            }
            catch
            {
                return null;
            }
        }

        /// <summary>
        /// Whether the process's default proxy (HTTP_PROXY and friends) would carry this connection: then it goes through
        /// ClientWebSocket, which honours it, as before. HttpClient.DefaultProxy exists on .NET Core 3.0+ only.
        /// </summary>
        private static readonly PropertyInfo? DefaultProxyProperty =
            typeof(System.Net.Http.HttpClient).GetProperty("DefaultProxy", BindingFlags.Public | BindingFlags.Static);

        internal static bool ProxyApplies(Uri uri)
        {
            try
            {
                var proxy = DefaultProxyProperty?.GetValue(null) as System.Net.IWebProxy;
                if (proxy == null) return false;
                var http = new UriBuilder(uri) { Scheme = "http" }.Uri;
                if (proxy.IsBypassed(http)) return false;
                var via = proxy.GetProxy(http);
                return via != null && via != http;
            }
            catch
            {
                return false;
            }
        }

        /// <summary>A client WebSocket over an already upgraded stream; null where the runtime cannot make one.</summary>
        internal static WebSocket? CreateOverStream(Stream stream) => CreateFromStream?.Invoke(stream, false, null, KeepAliveInterval);

        public static async Task<WebSocket> ConnectAsync(Uri uri, string? bearerToken, CancellationToken ct, TlsPolicy? tls = null)
        {
            if (CreateFromStream != null && string.Equals(uri.Scheme, "ws", StringComparison.OrdinalIgnoreCase) && !ProxyApplies(uri))
                return await ConnectPlainAsync(uri, bearerToken, ct).ConfigureAwait(false);

            var socket = new ClientWebSocket();
            if (!string.IsNullOrEmpty(bearerToken))
                socket.Options.SetRequestHeader("Authorization", "Bearer " + bearerToken);
            socket.Options.KeepAliveInterval = KeepAliveInterval;
            var check = string.Equals(uri.Scheme, "wss", StringComparison.OrdinalIgnoreCase) ? TlsPolicy.Apply(socket, tls ?? TlsPolicy.Default, uri) : null;
            try
            {
                await socket.ConnectAsync(uri, ct).ConfigureAwait(false);
                return socket;
            }
            catch (Exception ex) when (check?.Rejection != null)
            {
                socket.Dispose();
                throw new ExecBridgeException(ExecBridgeErrorKind.CertificateValidationFailed,
                    $"The certificate of {AuthenticationFailedException.SafeUri(uri)} was refused: {check.Rejection}. Trust its issuer (SSL_CERT_FILE / SSL_CERT_DIR " +
                    "or the system store), pin it with -CertificateThumbprint, or, only for tests, use -SkipCertificateCheck.", ex);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        private static async Task<WebSocket> ConnectPlainAsync(Uri uri, string? bearerToken, CancellationToken ct)
        {
            // Dual-mode socket: "localhost" may resolve to ::1 or 127.0.0.1 (IPv4 only where IPv6 is off).
            Socket socket;
            try { socket = new Socket(SocketType.Stream, ProtocolType.Tcp); }
            catch (SocketException) { socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp); }
            socket.NoDelay = true;
            var stream = (NetworkStream?)null;
            // netstandard2.0 has no cancellable connect or read: cancellation closes the socket under them.
            var registration = ct.Register(() => socket.Dispose());
            try
            {
                try
                {
                    // Disposing the socket may not interrupt a name lookup: the wait itself also ends on cancellation.
                    var connect = socket.ConnectAsync(uri.DnsSafeHost, uri.Port);
                    var cancelled = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                    using (ct.Register(() => cancelled.TrySetResult(true)))
                    {
                        if (await Task.WhenAny(connect, cancelled.Task).ConfigureAwait(false) != connect)
                        {
                            _ = connect.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                            ct.ThrowIfCancellationRequested();
                        }
                    }
                    await connect.ConfigureAwait(false);
                    stream = new NetworkStream(socket, ownsSocket: true);

                    string key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
                    var request = new StringBuilder()
                        .Append("GET ").Append(uri.PathAndQuery).Append(" HTTP/1.1\r\n")
                        .Append("Host: ").Append(uri.Authority).Append("\r\n")
                        .Append("Upgrade: websocket\r\nConnection: Upgrade\r\n")
                        .Append("Sec-WebSocket-Key: ").Append(key).Append("\r\n")
                        .Append("Sec-WebSocket-Version: 13\r\n");
                    if (!string.IsNullOrEmpty(bearerToken)) request.Append("Authorization: Bearer ").Append(bearerToken).Append("\r\n");
                    request.Append("\r\n");
                    var bytes = Encoding.ASCII.GetBytes(request.ToString());
                    await stream.WriteAsync(bytes, 0, bytes.Length, ct).ConfigureAwait(false);

                    var header = await ReadResponseHeaderAsync(stream, ct).ConfigureAwait(false);
                    CheckUpgrade(header, key);
                    // From here on cancellation must not dispose the socket under the WebSocket being returned.
                    registration.Dispose();
                    ct.ThrowIfCancellationRequested();
                    return CreateOverStream(new QuickAckStream(stream, socket))!;
                }
                catch
                {
                    if (stream != null) stream.Dispose(); else socket.Dispose();
                    ct.ThrowIfCancellationRequested();
                    throw;
                }
            }
            finally
            {
                registration.Dispose();
            }
        }

        /// <summary>Reads up to the blank line, one byte at a time: nothing after it (the first frames) is consumed.</summary>
        private static async Task<string> ReadResponseHeaderAsync(Stream stream, CancellationToken ct)
        {
            var buffer = new byte[MaxResponseHeaderBytes];
            int length = 0;
            while (true)
            {
                if (length == buffer.Length)
                    throw new WebSocketUpgradeException(null, "the server's HTTP response header is larger than 16 KiB");
                int n = await stream.ReadAsync(buffer, length, 1, ct).ConfigureAwait(false);
                if (n == 0) throw new WebSocketUpgradeException(null, "the server closed the connection during the WebSocket handshake");
                length++;
                if (length >= 4 && buffer[length - 1] == '\n' && buffer[length - 2] == '\r' && buffer[length - 3] == '\n' && buffer[length - 4] == '\r')
                    return Encoding.ASCII.GetString(buffer, 0, length);
            }
        }

        private static void CheckUpgrade(string header, string key)
        {
            var lines = header.Split(new[] { "\r\n" }, StringSplitOptions.RemoveEmptyEntries);
            var status = lines.Length > 0 ? lines[0].Split(' ') : Array.Empty<string>();
            if (status.Length < 2 || !status[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(status[1], out int code))
                throw new WebSocketUpgradeException(null, "the server's answer to the WebSocket handshake is not HTTP");
            if (code != 101) throw new WebSocketUpgradeException(code, $"the server answered HTTP {code} instead of switching to WebSocket");

            string? accept = null, extensions = null, upgrade = null, connection = null;
            for (int i = 1; i < lines.Length; i++)
            {
                int colon = lines[i].IndexOf(':');
                if (colon <= 0) continue;
                var name = lines[i].Substring(0, colon).Trim();
                var value = lines[i].Substring(colon + 1).Trim();
                if (name.Equals("Sec-WebSocket-Accept", StringComparison.OrdinalIgnoreCase)) accept = value;
                else if (name.Equals("Sec-WebSocket-Extensions", StringComparison.OrdinalIgnoreCase)) extensions = value;
                else if (name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase)) upgrade = value;
                else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase)) connection = value;
            }
            // RFC 6455 §4.1: the 101 must name the websocket upgrade.
            if (!string.Equals(upgrade, "websocket", StringComparison.OrdinalIgnoreCase)
                || connection == null || connection.IndexOf("upgrade", StringComparison.OrdinalIgnoreCase) < 0)
                throw new WebSocketUpgradeException(null, "the server's 101 answer does not upgrade to websocket");
            using (var sha1 = SHA1.Create())
            {
                var expected = Convert.ToBase64String(sha1.ComputeHash(Encoding.ASCII.GetBytes(key + AcceptGuid)));
                if (!string.Equals(accept, expected, StringComparison.Ordinal))
                    throw new WebSocketUpgradeException(null, "the server's Sec-WebSocket-Accept does not match the key");
            }
            // We offered no extension, so the server must not have picked one (RFC 6455 §9.1).
            if (!string.IsNullOrEmpty(extensions))
                throw new WebSocketUpgradeException(null, "the server enabled a WebSocket extension that was not offered");
        }
    }

    /// <summary>The HTTP upgrade to WebSocket did not happen (Status: the HTTP status when there was one).</summary>
    internal sealed class WebSocketUpgradeException : Exception
    {
        public WebSocketUpgradeException(int? status, string message) : base(message) { Status = status; }
        public int? Status { get; }
    }
}
