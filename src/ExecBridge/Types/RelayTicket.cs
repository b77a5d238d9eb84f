using System;
using System.Security;
using ExecBridge.Client.Relay;

namespace ExecBridge
{
    /// <summary>
    /// A single-use relay ticket between two executors. The ticket is a bearer secret, held the way PSCredential
    /// holds a password: Ticket is a SecureString and GetTicket() returns the plain text, so Format-List *,
    /// ConvertTo-Json and Export-Clixml never show it. UploadUri/DownloadUri are shown with the ticket masked;
    /// GetUploadUri()/GetDownloadUri() give the real ones (which contain it).
    /// </summary>
    public sealed class RelayTicket
    {
        private readonly SecureString _ticket;

        internal RelayTicket(RelayTicketInfo info)
        {
            Info = info;
            _ticket = new SecureString();
            foreach (var c in info.Ticket) _ticket.AppendChar(c);
            _ticket.MakeReadOnly();
        }

        internal RelayTicketInfo Info { get; }

        /// <summary>The bearer secret ("rly_…"). Pass it to curl through a config or header file, never on a command line.</summary>
        public SecureString Ticket => _ticket;

        /// <summary>The upload URL with the ticket masked (for display).</summary>
        public string UploadUri => Info.SafeUploadUri;

        /// <summary>The download URL with the ticket masked (for display).</summary>
        public string DownloadUri => Info.SafeDownloadUri;

        public DateTimeOffset ExpiresAt => Info.ExpiresAt;
        public string SourceExecutorId => Info.SourceExecutorId;
        public string DestinationExecutorId => Info.DestinationExecutorId;
        public long MaxBytes => Info.MaxBytes;

        /// <summary>The first characters of the ticket, e.g. "rly_ab…".</summary>
        public string MaskedTicket => Info.MaskedTicket;
        public bool IsExpired => Info.IsExpired;

        /// <summary>The ticket in plain text, for a curl config or an Authorization header.</summary>
        public string GetTicket() => Info.Ticket;

        /// <summary>The real upload URL; it contains the ticket.</summary>
        public Uri GetUploadUri() => Info.UploadUri;

        /// <summary>The real download URL; it contains the ticket.</summary>
        public Uri GetDownloadUri() => Info.DownloadUri;

        public override string ToString() => Info.ToString();
    }
}
