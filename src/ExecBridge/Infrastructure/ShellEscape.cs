using System;
using System.IO;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// The ssh-style escape of Enter-RemoteShell: '~' typed first on a line (after Enter, or as the session's first key)
    /// is held back; '~.' then ends the session, '~~' sends one '~', and '~' followed by anything else sends both.
    /// </summary>
    internal sealed class ShellEscape
    {
        public const byte EscapeChar = (byte)'~';
        private bool _lineStart = true;
        private bool _pending;

        /// <summary>The bytes to send for what was typed; escaped is true when '~.' was seen (nothing after it is sent).</summary>
        public byte[] Push(byte[] data, int count, out bool escaped)
        {
            escaped = false;
            var output = new MemoryStream(count + 1);
            for (int i = 0; i < count; i++)
            {
                byte b = data[i];
                if (_pending)
                {
                    _pending = false;
                    if (b == (byte)'.') { escaped = true; break; }
                    output.WriteByte(EscapeChar);
                    if (b == EscapeChar) { _lineStart = false; continue; }
                }
                else if (_lineStart && b == EscapeChar)
                {
                    _pending = true;
                    continue;
                }
                output.WriteByte(b);
                _lineStart = b == (byte)'\r' || b == (byte)'\n';
            }
            return output.ToArray();
        }
    }

    /// <summary>
    /// Takes the pty name the start wrapper announces first (ESC _ EBTTY;/dev/pts/N ESC \, an APC string terminals ignore)
    /// out of the output, so a local resize can be applied to the remote pty from a side process.
    /// </summary>
    internal sealed class TtyNameFilter
    {
        private static readonly byte[] Start = { 0x1b, (byte)'_', (byte)'E', (byte)'B', (byte)'T', (byte)'T', (byte)'Y', (byte)';' };
        private static readonly byte[] End = { 0x1b, (byte)'\\' };
        private readonly DateTime _deadline = DateTime.UtcNow.AddSeconds(5);
        private MemoryStream? _held = new MemoryStream();

        /// <summary>The remote pty (/dev/pts/N) once announced; null when unknown.</summary>
        public string? TtyName { get; private set; }

        public bool Searching => _held != null;

        /// <summary>What to show of this chunk (the announcement removed); empty while still looking for it.</summary>
        public byte[] Push(byte[] data)
        {
            if (_held == null) return data;
            _held.Write(data, 0, data.Length);
            var buf = _held.ToArray();
            int s = IndexOf(buf, Start, 0);
            if (s >= 0)
            {
                int e = IndexOf(buf, End, s + Start.Length);
                if (e >= 0)
                {
                    var name = System.Text.Encoding.ASCII.GetString(buf, s + Start.Length, e - s - Start.Length).Trim();
                    if (name.StartsWith("/dev/", StringComparison.Ordinal) && name.IndexOfAny(new[] { '\'', '\n', '\r' }) < 0) TtyName = name;
                    _held = null;
                    var rest = new byte[buf.Length - (e + End.Length - s)];
                    Buffer.BlockCopy(buf, 0, rest, 0, s);
                    Buffer.BlockCopy(buf, e + End.Length, rest, s, buf.Length - e - End.Length);
                    return rest;
                }
            }
            return GiveUpIfLate(buf.Length > 8192);
        }

        /// <summary>Called on idle ticks: after 5 s without an announcement, show what was held and stop looking.</summary>
        public byte[] GiveUpIfLate(bool force = false)
        {
            if (_held == null || (!force && DateTime.UtcNow < _deadline)) return Array.Empty<byte>();
            var buf = _held.ToArray();
            _held = null;
            return buf;
        }

        internal static int IndexOf(byte[] haystack, byte[] needle, int from)
        {
            for (int i = from; i <= haystack.Length - needle.Length; i++)
            {
                int j = 0;
                while (j < needle.Length && haystack[i + j] == needle[j]) j++;
                if (j == needle.Length) return i;
            }
            return -1;
        }
    }
}
