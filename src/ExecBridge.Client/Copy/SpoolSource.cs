using System;
using System.Buffers;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Client.Copy
{
    /// <summary>
    /// Collects bytes produced piece by piece (e.g. pipeline input) in memory up to a limit and in a temporary
    /// file beyond it, then serves them as a copy source. Dispose deletes the temporary file. A byte[] given whole as the
    /// only input is served as it is, never copied (a 64 MiB array used to go through the temporary file).
    /// </summary>
    public sealed class SpoolSource : IFileSource, IDisposable
    {
        private const int MemoryLimit = 8 * 1024 * 1024;
        private Stream _stream = new MemoryStream();
        private string? _tempFile;

        public SpoolSource(string description)
        {
            Location = description;
        }

        public string Location { get; }
        public long Length => _held?.Length ?? _stream.Length;

        private byte[]? _held;

        /// <summary>Adds a whole array; when it is the first input it is only referenced (the caller must not change it).</summary>
        public void AppendWhole(byte[] data)
        {
            if (_held == null && _stream.Length == 0) { _held = data; return; }
            Append(data, 0, data.Length);
        }

        public void Append(byte[] data, int offset, int count)
        {
            if (_held != null)
            {
                var held = _held;
                _held = null;
                Append(held, 0, held.Length);
            }
            if (_tempFile == null && _stream.Length + count > MemoryLimit)
            {
                _tempFile = Path.Combine(Path.GetTempPath(), "execbridge-spool-" + Guid.NewGuid().ToString("N"));
                var file = new FileStream(_tempFile, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
                _stream.Position = 0;
                _stream.CopyTo(file);
                _stream.Dispose();
                _stream = file;
            }
            _stream.Write(data, offset, count);
        }

        public Task<long> OpenAsync(CancellationToken ct) => Task.FromResult(Length);

        public async Task<long> ReadAsync(Func<ReadOnlyMemory<byte>, CancellationToken, Task> sink, CancellationToken ct)
        {
            if (_held != null)
            {
                for (int at = 0; at < _held.Length; at += 1 << 20)
                    await sink(new ReadOnlyMemory<byte>(_held, at, Math.Min(1 << 20, _held.Length - at)), ct).ConfigureAwait(false);
                return _held.Length;
            }
            _stream.Position = 0;
            var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                long total = 0;
                int n;
                while ((n = await _stream.ReadAsync(buffer, 0, buffer.Length, ct).ConfigureAwait(false)) > 0)
                {
                    await sink(new ReadOnlyMemory<byte>(buffer, 0, n), ct).ConfigureAwait(false);
                    total += n;
                }
                return total;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        public Task<string?> ComputeSha256Async(CancellationToken ct) => Task.FromResult<string?>(null);

        /// <summary>
        /// A source over the same bytes that can be read at the same time as other shared readers (one per executor of
        /// a fan-out): each keeps its own position. Valid until this spool is disposed; appending after that is not allowed.
        /// </summary>
        public IFileSource OpenShared() => new SharedReader(this);

        private readonly object _readGate = new object();

        private sealed class SharedReader : IFileSource
        {
            private readonly SpoolSource _spool;
            public SharedReader(SpoolSource spool) { _spool = spool; }
            public string Location => _spool.Location;
            public Task<long> OpenAsync(CancellationToken ct) => Task.FromResult(_spool.Length);
            public Task<string?> ComputeSha256Async(CancellationToken ct) => Task.FromResult<string?>(null);

            public async Task<long> ReadAsync(Func<ReadOnlyMemory<byte>, CancellationToken, Task> sink, CancellationToken ct)
            {
                if (_spool._held != null || _spool._stream is MemoryStream)
                {
                    // In memory: every reader walks the one buffer (never copied).
                    byte[] data = _spool._held ?? ((MemoryStream)_spool._stream).GetBuffer();
                    long length = _spool.Length;
                    for (long at = 0; at < length; at += 1 << 20)
                        await sink(new ReadOnlyMemory<byte>(data, (int)at, (int)Math.Min(1 << 20, length - at)), ct).ConfigureAwait(false);
                    return length;
                }
                // Spooled to the temporary file: seek and read under a lock (the stream is shared), write outside it.
                var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
                try
                {
                    long total = 0;
                    while (true)
                    {
                        ct.ThrowIfCancellationRequested();
                        int n;
                        lock (_spool._readGate)
                        {
                            _spool._stream.Position = total;
                            n = _spool._stream.Read(buffer, 0, buffer.Length);
                        }
                        if (n <= 0) return total;
                        await sink(new ReadOnlyMemory<byte>(buffer, 0, n), ct).ConfigureAwait(false);
                        total += n;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }

        public void Dispose()
        {
            _stream.Dispose();
            if (_tempFile != null) { try { File.Delete(_tempFile); } catch { } }
        }
    }
}
