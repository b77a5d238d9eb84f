using System;
using System.Runtime.InteropServices;
using System.Security;

namespace ExecBridge.Client.Relay
{
    /// <summary>
    /// Where and as whom to mint relay tickets: the gateway's internal base URL, the workspace and the internal
    /// secret. The secret is held privately and never appears in ToString, messages or logs.
    /// </summary>
    public sealed class RelaySettings
    {
        public RelaySettings(Uri internalBaseUri, string workspaceId, string secret)
        {
            if (internalBaseUri == null) throw new ArgumentNullException(nameof(internalBaseUri));
            if (!internalBaseUri.IsAbsoluteUri || (internalBaseUri.Scheme != Uri.UriSchemeHttp && internalBaseUri.Scheme != Uri.UriSchemeHttps))
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument,
                    $"The relay API base '{AuthenticationFailedException.SafeUri(internalBaseUri)}' must be an absolute http(s) URI.");
            if (string.IsNullOrWhiteSpace(workspaceId))
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "A workspace id is required for relay tickets.");
            if (string.IsNullOrEmpty(secret))
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, "The relay internal secret is empty.");
            InternalBaseUri = internalBaseUri;
            WorkspaceId = workspaceId;
            Secret = secret;
        }

        /// <summary>Copies the secret out of a SecureString (the PowerShell-facing form).</summary>
        public RelaySettings(Uri internalBaseUri, string workspaceId, SecureString secret)
            : this(internalBaseUri, workspaceId, Unprotect(secret))
        {
        }

        /// <summary>Reads the secret from a named environment variable; the error names the variable, never the value.</summary>
        public static RelaySettings FromEnvironment(Uri internalBaseUri, string workspaceId, string variableName)
        {
            var value = Environment.GetEnvironmentVariable(variableName);
            if (string.IsNullOrEmpty(value))
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument,
                    $"The environment variable '{variableName}' that should hold the relay secret is not set or empty.");
            return new RelaySettings(internalBaseUri, workspaceId, value!);
        }

        public Uri InternalBaseUri { get; }
        public string WorkspaceId { get; }
        public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

        internal string Secret { get; }

        /// <summary>Replaces every occurrence of the secret in a text (for server error bodies quoted in messages).</summary>
        internal string Scrub(string text) =>
            string.IsNullOrEmpty(text) ? text : text.Replace(Secret, "***");

        public override string ToString() => $"relay API {AuthenticationFailedException.SafeUri(InternalBaseUri)} (workspace {WorkspaceId})";

        private static string Unprotect(SecureString secret)
        {
            if (secret == null) throw new ArgumentNullException(nameof(secret));
            IntPtr p = IntPtr.Zero;
            try
            {
                p = Marshal.SecureStringToGlobalAllocUnicode(secret);
                return Marshal.PtrToStringUni(p, secret.Length);
            }
            finally
            {
                if (p != IntPtr.Zero) Marshal.ZeroFreeGlobalAllocUnicode(p);
            }
        }
    }
}
