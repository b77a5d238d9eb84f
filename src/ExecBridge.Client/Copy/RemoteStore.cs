using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Files;

namespace ExecBridge.Client.Copy
{
    /// <summary>One executor's file system, seen through its client.</summary>
    public sealed class RemoteStore : IItemStore
    {
        public RemoteStore(ExecutorClient client)
        {
            Client = client;
        }

        public ExecutorClient Client { get; }
        public string Name => Client.ExecutorId;
        public bool IsLocal => false;

        public async Task<StoreItem?> GetItemAsync(string path, CancellationToken ct)
        {
            var info = await Client.TryGetMetadataAsync(path, ct).ConfigureAwait(false);
            return info == null ? null : new StoreItem(info.Path, info.Name, info.IsDirectory, info.Length);
        }

        public async Task<IReadOnlyList<StoreItem>> ListAsync(string directory, CancellationToken ct)
        {
            var list = await Client.ListDirectoryAsync(directory, ct).ConfigureAwait(false);
            return list.Select(i => new StoreItem(i.Path, i.Name, i.IsDirectory, i.Length)).ToList();
        }

        public Task CreateDirectoryAsync(string path, CancellationToken ct) => Client.CreateDirectoryAsync(path, recursive: false, ct);

        public IFileSource OpenSource(string path, long offset = 0, long? length = null) => new RemoteFileSource(Client, path, offset, length);

        public IFileSink CreateSink(string path, bool overwrite) => new RemoteFileSink(Client, path, overwrite, createParents: false);

        public string Combine(string directory, string name) => RemotePath.Combine(directory, name);
        public string GetName(string path) => RemotePath.GetName(path);
        public string GetParent(string path) => RemotePath.GetParent(path);
    }

    /// <summary>Streams a remote file (or slice) and has the executor hash the same bytes with sha256sum.</summary>
    public sealed class RemoteFileSource : IFileSource, IFileModeSource
    {
        private readonly ExecutorClient _client;
        private readonly long _offset;
        private readonly long? _length;
        private long _count;

        public RemoteFileSource(ExecutorClient client, string path, long offset, long? length)
        {
            _client = client;
            Location = RemotePath.Normalize(path);
            _offset = offset;
            _length = length;
        }

        public string Location { get; }

        /// <summary>The file's mode bits, learned by the hash helper (whole files only: a slice is new content).</summary>
        public int? Mode { get; private set; }

        public async Task<long> OpenAsync(CancellationToken ct)
        {
            var info = await _client.GetMetadataAsync(Location, ct).ConfigureAwait(false);
            if (info.IsDirectory)
                throw new ExecBridgeException(ExecBridgeErrorKind.RemotePathIsDirectory,
                    $"Remote path '{Location}' on executor '{_client.ExecutorId}' is a folder, not a file; use -Recurse to copy folders.");
            long size = info.Length ?? 0;
            long available = Math.Max(0, size - _offset);
            _count = _length == null ? available : Math.Min(available, _length.Value);
            return _count;
        }

        public Task<long> ReadAsync(Func<ReadOnlyMemory<byte>, CancellationToken, Task> sink, CancellationToken ct) =>
            _client.ReadStreamAsync(Location, _offset, _count, sink, ct);

        public async Task<string?> ComputeSha256Async(CancellationToken ct)
        {
            if (_offset != 0 || _length != null) return await _client.Sha256Async(Location, ct, _offset, _count).ConfigureAwait(false);
            var (sha, mode) = await _client.Sha256AndModeAsync(Location, ct).ConfigureAwait(false);
            Mode = mode;
            return sha;
        }
    }

    /// <summary>A RemoteFileWriter behind the sink contract.</summary>
    public sealed class RemoteFileSink : IFileSink, IFileModeSink
    {
        private readonly ExecutorClient _client;
        private readonly bool _overwrite;
        private readonly bool _createParents;
        private RemoteFileWriter? _writer;

        public RemoteFileSink(ExecutorClient client, string path, bool overwrite, bool createParents)
        {
            _client = client;
            Location = RemotePath.Normalize(path);
            _overwrite = overwrite;
            _createParents = createParents;
        }

        public string Location { get; }
        public int? NewFileMode { get; set; }

        /// <summary>The partial file being written (for tests and diagnostics).</summary>
        public string? PartialPath => _writer?.PartialPath;

        public async Task OpenAsync(long length, CancellationToken ct)
        {
            _writer = await RemoteFileWriter.CreateAsync(_client, Location, length, _overwrite, _createParents, ct).ConfigureAwait(false);
        }

        public Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct) => _writer!.WriteAsync(data, ct);

        public async Task CommitAsync(string sha256, CancellationToken ct)
        {
            _writer!.NewFileMode = NewFileMode;
            await _writer.CommitAsync(sha256, ct).ConfigureAwait(false);
        }

        public Task AbortAsync() => _writer?.AbortAsync() ?? Task.CompletedTask;
    }
}
