using System;
using System.Buffers;
using System.Text.Json;

namespace ExecBridge.Client.Rpc
{
    /// <summary>
    /// One received JSON-RPC message. It owns the pooled receive buffer its JsonDocument points into,
    /// so a 300 MiB fs/readFile answer is parsed in place and never copied into a string.
    /// </summary>
    public sealed class RpcMessage : IDisposable
    {
        private JsonDocument? _document;
        private byte[]? _rented;

        internal RpcMessage(JsonDocument document, byte[] rented)
        {
            _document = document;
            _rented = rented;
        }

        public JsonElement Root => (_document ?? throw new ObjectDisposedException(nameof(RpcMessage))).RootElement;

        /// <summary>The "result" member of a response.</summary>
        public JsonElement Result => Root.TryGetProperty("result", out var r) ? r : default;

        public void Dispose()
        {
            _document?.Dispose();
            _document = null;
            var rented = _rented;
            _rented = null;
            if (rented != null) ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
