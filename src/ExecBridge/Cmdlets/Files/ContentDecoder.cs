using System;
using System.IO;
using System.Text;
using ExecBridge.Client;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>
    /// Get-RemoteFile's content path: chunks in, lines (or one string with -Raw, one byte[] with -AsByteStream) out.
    /// Decoded characters go to a LineAssembler, so a long line is not re-copied per chunk and is emitted in parts.
    /// </summary>
    internal sealed class ContentDecoder
    {
        /// <summary>-Raw is one string: bounded well below .NET's ~1 Gi character limit, so it fails clearly instead of OutOfMemory.</summary>
        private const int MaxRawChars = 256 * 1024 * 1024;

        /// <summary>-AsByteStream is one byte[]: bounded below the 2 GiB array limit.</summary>
        private const long MaxWholeBytes = 1L << 30;

        private readonly Encoding _encoding;
        private readonly Decoder _decoder;
        private readonly string _path;
        private readonly MemoryStream? _bytes;
        private readonly StringBuilder? _raw;
        private readonly LineAssembler _lines;
        private char[] _chars = Array.Empty<char>();
        private bool _first = true;

        public ContentDecoder(Encoding encoding, bool asBytes, bool raw, int maxLineLength, string path)
        {
            _encoding = encoding;
            _decoder = encoding.GetDecoder();
            _path = path;
            _bytes = asBytes ? new MemoryStream() : null;
            _raw = raw && !asBytes ? new StringBuilder() : null;
            _lines = new LineAssembler(maxLineLength);
        }

        /// <summary>Takes one chunk; finished lines go to 'emit'.</summary>
        public void Add(byte[] chunk, Action<object> emit)
        {
            if (_bytes != null)
            {
                if (_bytes.Length + chunk.Length > MaxWholeBytes) throw TooBig("-AsByteStream", $"{MaxWholeBytes} bytes");
                _bytes.Write(chunk, 0, chunk.Length);
                return;
            }
            int start = 0;
            if (_first)
            {
                _first = false;
                var preamble = _encoding.GetPreamble();
                if (preamble.Length > 0 && chunk.Length >= preamble.Length && chunk.AsSpan(0, preamble.Length).SequenceEqual(preamble)) start = preamble.Length;
            }
            int needed = _decoder.GetCharCount(chunk, start, chunk.Length - start, false);
            if (_chars.Length < needed) _chars = new char[needed];
            int n = _decoder.GetChars(chunk, start, chunk.Length - start, _chars, 0, false);
            Text(_chars, n, emit);
        }

        /// <summary>Emits what is left: the last line, the whole string or the byte[].</summary>
        public void Finish(Action<object> emit)
        {
            if (_bytes != null)
            {
                emit(_bytes.ToArray());
                return;
            }
            var tail = new char[_decoder.GetCharCount(Array.Empty<byte>(), 0, 0, true)];
            _decoder.GetChars(Array.Empty<byte>(), 0, 0, tail, 0, true);
            Text(tail, tail.Length, emit);
            if (_raw != null)
            {
                emit(_raw.ToString());
                return;
            }
            var rest = _lines.Finish();
            if (rest != null) emit(rest);
        }

        private void Text(char[] chars, int count, Action<object> emit)
        {
            if (_raw == null)
            {
                _lines.Push(chars, 0, count, emit);
                return;
            }
            if (_raw.Length + count > MaxRawChars) throw TooBig("-Raw", $"{MaxRawChars} characters");
            _raw.Append(chars, 0, count);
        }

        private ExecBridgeException TooBig(string how, string limit) =>
            new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument,
                $"'{_path}' is too large to return as one object with {how} (limit {limit}); read it as lines, or stream it to a local file with -Destination.");
    }
}
