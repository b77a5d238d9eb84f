using System;
using System.Linq;
using System.Net.Security;
using System.Net.WebSockets;
using System.Reflection;
using System.Security.Cryptography.X509Certificates;

namespace ExecBridge.Client.Rpc
{
    /// <summary>
    /// How a wss:// server's certificate is checked: the system's trust (which SSL_CERT_FILE / SSL_CERT_DIR extend
    /// on Linux), one pinned certificate by SHA-1 thumbprint, or nothing at all (the caller warns). A rejection is
    /// remembered so the connect failure can say why and which certificate it was.
    /// </summary>
    public sealed class TlsPolicy
    {
        public static readonly TlsPolicy Default = new TlsPolicy(false, null);

        public TlsPolicy(bool skipCertificateCheck, string? certificateThumbprint)
        {
            SkipCertificateCheck = skipCertificateCheck;
            CertificateThumbprint = Normalize(certificateThumbprint);
        }

        public bool SkipCertificateCheck { get; }
        public string? CertificateThumbprint { get; }

        public static string? Normalize(string? thumbprint) =>
            string.IsNullOrWhiteSpace(thumbprint) ? null : new string(thumbprint!.Where(Uri.IsHexDigit).ToArray()).ToUpperInvariant();

        /// <summary>One check per connect attempt: it records what it rejected.</summary>
        internal sealed class Check
        {
            private readonly TlsPolicy _policy;
            private readonly string _host;

            public Check(TlsPolicy policy, string host)
            {
                _policy = policy;
                _host = host;
            }

            public string? Rejection { get; private set; }

            public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
            {
                if (_policy.SkipCertificateCheck) return true;
                var cert = certificate == null ? null : new X509Certificate2(certificate);
                if (_policy.CertificateThumbprint != null)
                {
                    if (cert != null && string.Equals(cert.Thumbprint, _policy.CertificateThumbprint, StringComparison.OrdinalIgnoreCase)) return true;
                    Rejection = $"its thumbprint is not the one given with -CertificateThumbprint ({_policy.CertificateThumbprint})" + Describe(cert);
                    return false;
                }
                if (errors == SslPolicyErrors.None) return true;
                Rejection = Reason(errors, cert, chain) + Describe(cert);
                return false;
            }

            private string Reason(SslPolicyErrors errors, X509Certificate2? cert, X509Chain? chain)
            {
                var reasons = new System.Collections.Generic.List<string>();
                if ((errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0) reasons.Add("the server sent no certificate");
                if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) reasons.Add($"it is not issued for the name '{_host}'");
                if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
                {
                    bool selfSigned = cert != null && cert.SubjectName.RawData.SequenceEqual(cert.IssuerName.RawData);
                    var statuses = chain?.ChainStatus.Select(s => s.Status).Where(s => s != X509ChainStatusFlags.NoError).Distinct().ToList();
                    if (selfSigned) reasons.Add("it is self-signed and not trusted here");
                    else if (statuses != null && statuses.Contains(X509ChainStatusFlags.UntrustedRoot)) reasons.Add("it was issued by a root that is not trusted here");
                    else if (statuses != null && statuses.Contains(X509ChainStatusFlags.PartialChain)) reasons.Add("it was issued by a root that is not trusted here (no trusted root completes its chain)");
                    if (statuses != null && statuses.Contains(X509ChainStatusFlags.NotTimeValid)) reasons.Add("it has expired or is not valid yet");
                    if (statuses != null && statuses.Contains(X509ChainStatusFlags.Revoked)) reasons.Add("it has been revoked");
                    var rest = statuses?.Where(s => s != X509ChainStatusFlags.UntrustedRoot && s != X509ChainStatusFlags.PartialChain
                        && s != X509ChainStatusFlags.NotTimeValid && s != X509ChainStatusFlags.Revoked).ToList();
                    if (rest != null && rest.Count > 0 && !selfSigned) reasons.Add("chain: " + string.Join(", ", rest));
                    if (reasons.Count == 0) reasons.Add("its chain could not be validated");
                }
                return string.Join("; ", reasons);
            }

            private static string Describe(X509Certificate2? cert) =>
                cert == null ? "" : $" (subject '{cert.Subject}', thumbprint {cert.Thumbprint})";
        }

        private static readonly PropertyInfo? CallbackProperty =
            typeof(ClientWebSocketOptions).GetProperty("RemoteCertificateValidationCallback");

        /// <summary>Installs the check on a ClientWebSocket (.NET Core 2.1+; Windows PowerShell keeps the system check).</summary>
        internal static Check? Apply(ClientWebSocket socket, TlsPolicy policy, Uri uri)
        {
            if (CallbackProperty == null) return null;
            var check = new Check(policy, uri.Host);
            CallbackProperty.SetValue(socket.Options, new RemoteCertificateValidationCallback(check.Validate));
            return check;
        }
    }
}
