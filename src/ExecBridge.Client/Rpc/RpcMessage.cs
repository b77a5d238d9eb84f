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

        private readonly int _length;

        internal RpcMessage(JsonDocument document, byte[] rented, int length)
        {
            _document = document;
            _rented = rented;
            _length = length;
        }

        /// <summary>
        /// Decodes the base64 string member 'property' of "result" straight from the received bytes into
        /// 'destination' (no intermediate string or array). Returns the decoded length, or -1 when the member is
        /// missing, escaped or larger than 'destination' (callers then fall back to JsonElement).
        /// </summary>
        public int DecodeResultBase64(string property, Span<byte> destination)
        {
            var bytes = _rented ?? throw new ObjectDisposedException(nameof(RpcMessage));
            var reader = new Utf8JsonReader(new ReadOnlySpan<byte>(bytes, 0, _length));
            bool inResult = false;
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName) continue;
                if (reader.CurrentDepth == 1)
                {
                    inResult = reader.ValueTextEquals("result");
                    if (!inResult) reader.Skip();
                    continue;
                }
                if (!inResult || reader.CurrentDepth != 2) continue;
                if (!reader.ValueTextEquals(property)) { reader.Skip(); continue; }
                if (!reader.Read() || reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped) return -1;
                var status = System.Buffers.Text.Base64.DecodeFromUtf8(reader.ValueSpan, destination, out _, out int written);
                return status == System.Buffers.OperationStatus.Done ? written : -1;
            }
            return -1;
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
            if (rented != null) MessageBuffers.Return(rented);
        }
    }
}
