using System;
using ExecBridge.Client.Relay;

namespace ExecBridge
{
    /// <summary>
    /// A single-use relay ticket between two executors. Ticket (and the URLs, which contain it) is a bearer
    /// secret: the default view and ToString show only MaskedTicket.
    /// </summary>
    public sealed class RelayTicket
    {
        internal RelayTicket(RelayTicketInfo info)
        {
            Info = info;
        }

        internal RelayTicketInfo Info { get; }

        /// <summary>The bearer secret ("rly_…"). Pass it to curl through a config or header file, never on a command line.</summary>
        public string Ticket => Info.Ticket;
        public Uri UploadUri => Info.UploadUri;
        public Uri DownloadUri => Info.DownloadUri;
        public DateTimeOffset ExpiresAt => Info.ExpiresAt;
        public string SourceExecutorId => Info.SourceExecutorId;
        public string DestinationExecutorId => Info.DestinationExecutorId;
        public long MaxBytes => Info.MaxBytes;

        /// <summary>The first characters of the ticket, e.g. "rly_ab…".</summary>
        public string MaskedTicket => Info.MaskedTicket;
        public bool IsExpired => Info.IsExpired;

        public override string ToString() => Info.ToString();
    }
}
