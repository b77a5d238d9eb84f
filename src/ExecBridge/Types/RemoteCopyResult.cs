using System;
using ExecBridge.Client.Copy;

namespace ExecBridge
{
    /// <summary>One copied file or folder (-PassThru of Copy-RemoteItem and Get-RemoteFile -Destination).</summary>
    public sealed class RemoteCopyResult
    {
        internal RemoteCopyResult(CopyResult result)
        {
            Source = result.Source;
            SourceStore = result.SourceStore;
            Destination = result.Destination;
            DestinationStore = result.DestinationStore;
            IsDirectory = result.IsDirectory;
            Length = result.Length;
            Sha256 = result.Sha256;
            Elapsed = result.Elapsed;
        }

        public string Source { get; }

        /// <summary>"local" or the executor id.</summary>
        public string SourceStore { get; }
        public string Destination { get; }
        public string DestinationStore { get; }
        public bool IsDirectory { get; }
        public long Length { get; }

        /// <summary>The verified SHA-256 (lower-case hex) of the bytes; null for folders.</summary>
        public string? Sha256 { get; }
        public TimeSpan Elapsed { get; }
        public double MBPerSecond => Elapsed.TotalSeconds > 0 ? Length / 1048576.0 / Elapsed.TotalSeconds : 0;

        public override string ToString() => $"{SourceStore}:{Source} -> {DestinationStore}:{Destination}";
    }

    /// <summary>How Copy-RemoteItem moves bytes between two executors.</summary>
    public enum CopyTransport
    {
        /// <summary>Relay when relay settings exist, else Pump (also when curl is missing or the relay is full).</summary>
        Auto,
        /// <summary>The executors move the bytes between them through a gateway relay ticket.</summary>
        Relay,
        /// <summary>The bytes stream through this machine.</summary>
        Pump,
    }

    /// <summary>Whether a connection is open; a Disconnected one is redialed on next use.</summary>
    public enum ConnectionState
    {
        Disconnected,
        Connected,
        Closed,
    }
}
