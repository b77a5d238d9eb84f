using System;
using System.Linq;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ExecBridge.Tests.Infrastructure
{
    /// <summary>
    /// A TLS-terminating WebSocket proxy (Kestrel, a certificate the test made) in front of a real ws:// endpoint:
    /// wss://127.0.0.1:port/path is relayed frame by frame to upstream + path, with the Authorization header.
    /// </summary>
    public sealed class TlsProxy : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private TlsProxy(WebApplication app, int port) { _app = app; Port = port; }

        public int Port { get; }
        public Uri Uri => new Uri($"wss://127.0.0.1:{Port}/");

        /// <summary>Serves 'certificate' (and 'issuer' in the handshake, so the client sees the whole chain).</summary>
        public static async Task<TlsProxy> StartAsync(X509Certificate2 certificate, Uri upstream, X509Certificate2? issuer = null)
        {
            // Polling instead of an inotify watcher for the (absent) config files: the user's 128 inotify instances are
            // shared by everything on the machine, and when they run out the fixture would not start.
            System.Environment.SetEnvironmentVariable("DOTNET_USE_POLLING_FILE_WATCHER", "true");
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(TlsProxy).Assembly.GetName().Name });
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, l => l.UseHttps(h =>
            {
                h.ServerCertificate = certificate;
                if (issuer != null) h.ServerCertificateChain = new X509Certificate2Collection(issuer);
            })));
            var app = builder.Build();
            app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
            app.Run(async ctx =>
            {
                if (!ctx.WebSockets.IsWebSocketRequest) { ctx.Response.StatusCode = 400; return; }
                using var up = new ClientWebSocket();
                if (ctx.Request.Headers.Authorization.Count > 0) up.Options.SetRequestHeader("Authorization", ctx.Request.Headers.Authorization.ToString());
                var target = new Uri(upstream.GetLeftPart(UriPartial.Authority) + ctx.Request.Path);
                try { await up.ConnectAsync(target, ctx.RequestAborted); }
                catch (WebSocketException) { ctx.Response.StatusCode = 502; return; }
                using var down = await ctx.WebSockets.AcceptWebSocketAsync();
                using var cts = new CancellationTokenSource();
                var a = PumpAsync(down, up, cts.Token);
                var b = PumpAsync(up, down, cts.Token);
                await Task.WhenAny(a, b);
                cts.Cancel();
            });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new TlsProxy(app, new Uri(address).Port);
        }

        private static async Task PumpAsync(WebSocket from, WebSocket to, CancellationToken ct)
        {
            var buffer = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    var r = await from.ReceiveAsync(buffer, ct);
                    if (r.MessageType == WebSocketMessageType.Close) return;
                    await to.SendAsync(new ArraySegment<byte>(buffer, 0, r.Count), r.MessageType, r.EndOfMessage, ct);
                }
            }
            catch (Exception) { }
        }

        public async ValueTask DisposeAsync()
        {
            try { await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(3)).Token); } catch { }
            await _app.DisposeAsync();
        }

        // ---- certificates --------------------------------------------------------------------------------

        public static X509Certificate2 NewCa(string name)
        {
            using var key = RSA.Create(2048);
            var req = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
            return req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        }

        /// <summary>A server certificate for the DNS name or IP; signed by 'issuer', or self-signed when it is null.</summary>
        public static X509Certificate2 NewServer(string name, X509Certificate2? issuer)
        {
            using var key = RSA.Create(2048);
            var req = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var san = new SubjectAlternativeNameBuilder();
            if (IPAddress.TryParse(name, out var ip)) san.AddIpAddress(ip); else san.AddDnsName(name);
            req.CertificateExtensions.Add(san.Build());
            req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
            X509Certificate2 cert;
            if (issuer == null) cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
            else
            {
                var serial = new byte[12];
                RandomNumberGenerator.Fill(serial);
                using var signed = req.Create(issuer, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), serial);
                cert = signed.CopyWithPrivateKey(key);
            }
            // Kestrel on Linux wants a key it can use after export/import (an ephemeral key is fine in PFX form).
            return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
        }

        public static string Pem(X509Certificate2 cert) => cert.ExportCertificatePem();
    }
}
