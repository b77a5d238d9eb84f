using System;
using System.Text;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// Joins decoded text into lines ("\n" or "\r\n"). Each character is scanned and appended once: the unfinished line
    /// is never re-copied when the next chunk comes (a 64 MiB one-line file used to be copied once per chunk). A line
    /// longer than the bound is emitted in parts of that many characters rather than failing: nothing is lost, and
    /// memory stays at one part however long the line (a 1 GiB line ended in OutOfMemoryException before).
    /// </summary>
    internal sealed class LineAssembler
    {
        private readonly StringBuilder _pending = new StringBuilder();
        private readonly int _max;

        public LineAssembler(int maxLineLength)
        {
            _max = Math.Max(1, maxLineLength);
        }

        /// <summary>Characters of the unfinished line held so far.</summary>
        public int PendingLength => _pending.Length;

        /// <summary>Adds characters; 'emit' gets every finished line and every full part of an over-long one.</summary>
        public void Push(char[] chars, int offset, int count, Action<string> emit)
        {
            int start = offset, end = offset + count;
            for (int i = offset; i < end; i++)
            {
                if (chars[i] != '\n') continue;
                Append(chars, start, i - start, emit);
                if (_pending.Length > 0 && _pending[_pending.Length - 1] == '\r') _pending.Length--;
                emit(_pending.ToString());
                _pending.Clear();
                start = i + 1;
            }
            Append(chars, start, end - start, emit);
        }

        /// <summary>The unterminated last line, if any, once the text has ended.</summary>
        public string? Finish()
        {
            if (_pending.Length == 0) return null;
            var s = _pending.ToString();
            _pending.Clear();
            return s;
        }

        private void Append(char[] chars, int start, int count, Action<string> emit)
        {
            while (count > 0)
            {
                // A '\r' right after a full part may end the line with the next '\n': held (one over) so no empty line follows.
                bool lastIsCr = count == 1 && chars[start] == '\r' && _pending.Length == _max;
                if (_pending.Length >= _max && !lastIsCr)
                {
                    emit(_pending.ToString());
                    _pending.Clear();
                }
                int n = Math.Min(Math.Max(_max - _pending.Length, 1), count);
                _pending.Append(chars, start, n);
                start += n;
                count -= n;
            }
        }
    }
}
