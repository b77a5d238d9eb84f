using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Cmdlets
{
    /// <summary>wss:// through a real TLS endpoint (Kestrel) in front of a real exec-server: refusals explain themselves.</summary>
    public sealed class TlsTests
    {
        private const string Connect = "Connect-ExecBridge -Uri $args[0] -ExecutorId tls -TimeoutSec 10";

        private static void AssertRefused(PsResult r, string reason, System.Security.Cryptography.X509Certificates.X509Certificate2 cert)
        {
            var e = r.AllErrors.Single();
            Assert.Equal("CertificateValidationFailed,ExecBridge.Cmdlets.ConnectExecBridge", e.FullyQualifiedErrorId);
            Assert.Equal(System.Management.Automation.ErrorCategory.SecurityError, e.CategoryInfo.Category);
            Assert.True(e.Exception.Message.Contains(reason), e.Exception.Message);
            Assert.Contains(cert.Thumbprint, e.Exception.Message);
            Assert.Contains(cert.Subject, e.Exception.Message);
        }

        [Fact]
        public async Task SelfSignedUntrustedRootAndNameMismatchEachSayWhyAndWhichCertificate()
        {
            using var server = await ExecServer.StartAsync(Peers.Current);
            var ca = TlsProxy.NewCa("ExecBridge Test Root " + Guid.NewGuid().ToString("N").Substring(0, 6));
            using var ps = new PsHost();

            var selfSigned = TlsProxy.NewServer("127.0.0.1", null);
            await using (var p = await TlsProxy.StartAsync(selfSigned, server.Uri))
                AssertRefused(ps.Run(Connect, p.Uri), "self-signed", selfSigned);

            var byCa = TlsProxy.NewServer("127.0.0.1", ca);
            await using (var p = await TlsProxy.StartAsync(byCa, server.Uri, ca))
                AssertRefused(ps.Run(Connect, p.Uri), "root that is not trusted", byCa);

            var otherName = TlsProxy.NewServer("other.example", ca);
            await using (var p = await TlsProxy.StartAsync(otherName, server.Uri, ca))
                AssertRefused(ps.Run(Connect, p.Uri), "not issued for the name '127.0.0.1'", otherName);
        }

        [Fact]
        public async Task ThumbprintTrustsOneCertificateAndSkipWarns()
        {
            using var server = await ExecServer.StartAsync(Peers.Current);
            var cert = TlsProxy.NewServer("127.0.0.1", null);
            await using var p = await TlsProxy.StartAsync(cert, server.Uri);
            using var ps = new PsHost();

            var pinned = ps.Run(Connect + " -CertificateThumbprint $args[1]; Invoke-RemoteCommand -ExecutorId tls 'echo over-tls'",
                p.Uri, string.Join(":", cert.Thumbprint.Chunk(2).Select(c => new string(c)))).AssertOk();
            Assert.Equal("over-tls", pinned.Output.Last().ToString());
            Assert.Empty(pinned.Warnings);

            var other = TlsProxy.NewServer("127.0.0.1", null);
            AssertRefused(ps.Run(Connect + " -Force -CertificateThumbprint $args[1]", p.Uri, other.Thumbprint), "-CertificateThumbprint", cert);

            var bad = ps.Run(Connect + " -Force -CertificateThumbprint nothex", p.Uri).AllErrors.Single();
            Assert.Equal("InvalidArgument,ExecBridge.Cmdlets.ConnectExecBridge", bad.FullyQualifiedErrorId);

            var skipped = ps.Run(Connect + " -Force -SkipCertificateCheck; Invoke-RemoteCommand -ExecutorId tls 'echo skipped'", p.Uri).AssertOk();
            Assert.Equal("skipped", skipped.Output.Last().ToString());
            Assert.Contains(skipped.Warnings, w => w.Contains("SkipCertificateCheck") && w.Contains("not checked"));
        }

        [Fact]
        public async Task ThroughAGatewayTheCertificateIsCheckedAndCanBePinned()
        {
            using var server = await ExecServer.StartAsync(Peers.Legacy);
            await using var gateway = await ExecBridge.Tests.Gateway.GatewayFixture.StartNewAsync();
            gateway.RegisterExecutor("exe-tls", server.Uri);
            var cert = TlsProxy.NewServer("127.0.0.1", null);
            await using var p = await TlsProxy.StartAsync(cert, gateway.BridgeBaseUri);
            using var ps = new PsHost();
            var gw = new Uri(p.Uri, "bridge");
            const string Gw = "$t = [System.Net.NetworkCredential]::new('', $args[1]).SecurePassword; Connect-ExecBridge -GatewayUri $args[0] -ExecutorId exe-tls -Token $t -TimeoutSec 10";
            AssertRefused(ps.Run(Gw, gw, gateway.WorkspaceToken), "self-signed", cert);
            var ok = ps.Run(Gw + " -CertificateThumbprint $args[2]; Invoke-RemoteCommand -ExecutorId exe-tls 'echo via-gateway'", gw, gateway.WorkspaceToken, cert.Thumbprint).AssertOk();
            Assert.Equal("via-gateway", ok.Output.Last().ToString());
        }

        [Fact]
        public async Task SslCertFileTrustsAPrivateRootInANewProcess()
        {
            using var server = await ExecServer.StartAsync(Peers.Current);
            var ca = TlsProxy.NewCa("ExecBridge Test Root " + Guid.NewGuid().ToString("N").Substring(0, 6));
            var cert = TlsProxy.NewServer("127.0.0.1", ca);
            await using var p = await TlsProxy.StartAsync(cert, server.Uri);
            var dir = Path.Combine(Path.GetTempPath(), "eb-tls-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(dir);
            try
            {
                var caFile = Path.Combine(dir, "ca.pem");
                File.WriteAllText(caFile, TlsProxy.Pem(ca));
                var script = Path.Combine(dir, "tls.ps1");
                File.WriteAllText(script, "Import-Module $env:EB_MODULE; $null = Connect-ExecBridge -Uri $env:EB_URI -ExecutorId tls -TimeoutSec 10 -ErrorAction Stop; Invoke-RemoteCommand 'echo trusted-by-file'");
                var env = new Dictionary<string, string> { ["EB_MODULE"] = Peers.ModuleManifest, ["EB_URI"] = p.Uri.ToString(), ["SSL_CERT_FILE"] = caFile };
                var (exit, stdout, stderr) = RealPwsh.RunFile(script, env, TimeSpan.FromMinutes(2));
                Assert.True(stdout.Contains("trusted-by-file"), $"exit {exit}: {stderr}{stdout}");

                // SSL_CERT_DIR: a folder of PEM files (no hashed names needed by .NET).
                var certDir = Path.Combine(dir, "certs");
                Directory.CreateDirectory(certDir);
                File.Copy(caFile, Path.Combine(certDir, "test-root.pem"));
                env.Remove("SSL_CERT_FILE");
                env["SSL_CERT_DIR"] = certDir;
                (exit, stdout, stderr) = RealPwsh.RunFile(script, env, TimeSpan.FromMinutes(2));
                Assert.True(stdout.Contains("trusted-by-file"), $"SSL_CERT_DIR: exit {exit}: {stderr}{stdout}");

                // And without either, the same root is refused: the variables are what made it trusted.
                env.Remove("SSL_CERT_DIR");
                (exit, stdout, stderr) = RealPwsh.RunFile(script, env, TimeSpan.FromMinutes(2));
                Assert.DoesNotContain("trusted-by-file", stdout);
                Assert.Contains("was refused", stdout + stderr);
            }
            finally { try { Directory.Delete(dir, true); } catch { } }
        }
    }
}
