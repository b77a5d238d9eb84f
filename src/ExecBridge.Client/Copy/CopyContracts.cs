using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Client.Copy
{
    /// <summary>
    /// One side of a copy: the local file system or one executor. The engine copies between any two stores, so a
    /// cross-executor copy is a RemoteStore on each side (the bytes are pumped through this client), and a relay
    /// that moves bytes between executors directly can be added as another store pair or engine.
    /// </summary>
    public interface IItemStore
    {
        /// <summary>"local" or the executor id; used in messages and results.</summary>
        string Name { get; }
        bool IsLocal { get; }

        /// <summary>Null when the path does not exist.</summary>
        Task<StoreItem?> GetItemAsync(string path, CancellationToken ct);
        Task<IReadOnlyList<StoreItem>> ListAsync(string directory, CancellationToken ct);
        Task CreateDirectoryAsync(string path, CancellationToken ct);

        /// <summary>A reader of [offset, offset+length) of a file (length null = to the end).</summary>
        IFileSource OpenSource(string path, long offset = 0, long? length = null);

        /// <summary>A writer that replaces 'path' only once all bytes arrived and were verified.</summary>
        IFileSink CreateSink(string path, bool overwrite);

        string Combine(string directory, string name);
        string GetName(string path);
        string GetParent(string path);
    }

    /// <summary>A source that knows the file's permission bits (07777): set by OpenAsync or ComputeSha256Async; null when unknown.</summary>
    public interface IFileModeSource
    {
        int? Mode { get; }
    }

    /// <summary>A sink that gives a file it creates (not one it replaces: that keeps its own) the source's permission bits, less the umask, as cp does.</summary>
    public interface IFileModeSink
    {
        int? NewFileMode { get; set; }
    }

    public sealed class StoreItem
    {
        public StoreItem(string path, string name, bool isDirectory, long? length)
        {
            Path = path;
            Name = name;
            IsDirectory = isDirectory;
            Length = length;
        }

        public string Path { get; }
        public string Name { get; }
        public bool IsDirectory { get; }
        public long? Length { get; }
    }

    /// <summary>Produces the bytes of one file, in order.</summary>
    public interface IFileSource
    {
        string Location { get; }

        /// <summary>Checks the file and returns the number of bytes ReadAsync will deliver.</summary>
        Task<long> OpenAsync(CancellationToken ct);

        /// <summary>Hands every byte to 'sink' in order; the memory is valid only during the call. Returns the count.</summary>
        Task<long> ReadAsync(Func<ReadOnlyMemory<byte>, CancellationToken, Task> sink, CancellationToken ct);

        /// <summary>The source's own SHA-256 (lower-case hex) computed where the file lives, or null when the bytes read are the reference.</summary>
        Task<string?> ComputeSha256Async(CancellationToken ct);
    }

    /// <summary>Consumes the bytes of one file and puts them in place only on CommitAsync.</summary>
    public interface IFileSink
    {
        string Location { get; }
        Task OpenAsync(long length, CancellationToken ct);
        Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct);

        /// <summary>Verifies the stored bytes against 'sha256' where it can, then moves them into place.</summary>
        Task CommitAsync(string sha256, CancellationToken ct);

        /// <summary>Removes anything written so far. Never throws.</summary>
        Task AbortAsync();
    }

    /// <summary>Counters the copy updates from any thread and the cmdlet reads on the pipeline thread.</summary>
    public sealed class TransferProgress
    {
        private long _bytesDone;
        private long _bytesTotal;
        private int _filesDone;
        private int _filesTotal;
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public long BytesDone => Interlocked.Read(ref _bytesDone);
        public long BytesTotal => Interlocked.Read(ref _bytesTotal);
        public int FilesDone => Volatile.Read(ref _filesDone);
        public int FilesTotal => Volatile.Read(ref _filesTotal);
        public TimeSpan Elapsed => _clock.Elapsed;
        public string? CurrentItem { get; set; }

        public void AddPlanned(long bytes, int files)
        {
            Interlocked.Add(ref _bytesTotal, bytes);
            Interlocked.Add(ref _filesTotal, files);
        }

        public void AddBytes(long n) => Interlocked.Add(ref _bytesDone, n);
        public void FileDone() => Interlocked.Increment(ref _filesDone);

        /// <summary>Bytes per second so far.</summary>
        public double Rate => Elapsed.TotalSeconds > 0.05 ? BytesDone / Elapsed.TotalSeconds : 0;

        /// <summary>Estimated time left, when it can be estimated.</summary>
        public TimeSpan? Remaining
        {
            get
            {
                double rate = Rate;
                long left = BytesTotal - BytesDone;
                return rate > 0 && left >= 0 ? TimeSpan.FromSeconds(left / rate) : (TimeSpan?)null;
            }
        }
    }

    /// <summary>One copied file (or folder copied by the executor itself).</summary>
    public sealed class CopyResult
    {
        public CopyResult(string source, string sourceStore, string destination, string destinationStore, bool isDirectory, long length,
            string? sha256, TimeSpan elapsed)
        {
            Source = source;
            SourceStore = sourceStore;
            Destination = destination;
            DestinationStore = destinationStore;
            IsDirectory = isDirectory;
            Length = length;
            Sha256 = sha256;
            Elapsed = elapsed;
        }

        public string Source { get; }
        /// <summary>"local" or the executor id.</summary>
        public string SourceStore { get; }
        public string Destination { get; }
        public string DestinationStore { get; }
        public bool IsDirectory { get; }
        public long Length { get; }
        /// <summary>Verified SHA-256 (lower-case hex) of the bytes; null for folders.</summary>
        public string? Sha256 { get; }
        public TimeSpan Elapsed { get; }
        public double MBPerSecond => Elapsed.TotalSeconds > 0 ? Length / 1048576.0 / Elapsed.TotalSeconds : 0;

        public override string ToString() => $"{SourceStore}:{Source} -> {DestinationStore}:{Destination}";
    }

    public sealed class CopyOptions
    {
        public bool Recurse { get; set; }
        /// <summary>Overwrite existing files (and merge into existing folders).</summary>
        public bool Force { get; set; }
    }
}
