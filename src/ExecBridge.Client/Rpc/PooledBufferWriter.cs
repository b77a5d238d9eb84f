using System;
using System.Buffers;

namespace ExecBridge.Client.Rpc
{
    /// <summary>A growable IBufferWriter over pooled arrays, so request bodies are built without intermediate strings.</summary>
    internal sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
    {
        private byte[] _buffer;
        private int _written;

        public PooledBufferWriter(int initialCapacity = 4096)
        {
            _buffer = MessageBuffers.Rent(initialCapacity);
        }

        public int WrittenCount => _written;
        public ReadOnlyMemory<byte> WrittenMemory => new ReadOnlyMemory<byte>(_buffer, 0, _written);
        public ArraySegment<byte> WrittenSegment => new ArraySegment<byte>(_buffer, 0, _written);

        public void Advance(int count) => _written += count;

        /// <summary>Empties the writer for reuse; false when its array grew beyond maxRetained (dispose it instead).</summary>
        public bool Reset(int maxRetained)
        {
            _written = 0;
            return _buffer.Length <= maxRetained;
        }

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            Ensure(sizeHint);
            return _buffer.AsMemory(_written);
        }

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            Ensure(sizeHint);
            return _buffer.AsSpan(_written);
        }

        private void Ensure(int sizeHint)
        {
            if (sizeHint < 1) sizeHint = 256;
            if (_buffer.Length - _written >= sizeHint) return;
            long wanted = Math.Max((long)_buffer.Length * 2, (long)_written + sizeHint);
            if (wanted > int.MaxValue - 64) wanted = int.MaxValue - 64;
            var next = MessageBuffers.Rent((int)wanted);
            Buffer.BlockCopy(_buffer, 0, next, 0, _written);
            MessageBuffers.Return(_buffer);
            _buffer = next;
        }

        public void Dispose()
        {
            var b = _buffer;
            _buffer = Array.Empty<byte>();
            MessageBuffers.Return(b);
        }
    }
}
