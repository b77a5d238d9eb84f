using System;
using System.Collections.Generic;
using System.Text;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Infrastructure;

namespace ExecBridge
{
    public enum RemoteProcessState { Running, Exited, Failed }

    /// <summary>A process started on an executor. Receive-RemoteOutput, Send-RemoteInput and Stop-RemoteProcess take it from the pipeline.</summary>
    public sealed class RemoteProcess
    {
        private readonly Dictionary<OutputStreamKind, LineDecoder> _decoders = new Dictionary<OutputStreamKind, LineDecoder>();

        internal RemoteProcess(RemoteProcessHandle handle, string commandLine, bool tty, bool interactive)
        {
            Handle = handle;
            CommandLine = commandLine;
            Tty = tty;
            Interactive = interactive;
            StartTime = DateTime.Now;
            handle.Tag = this;
        }

        internal RemoteProcessHandle Handle { get; }
        internal ExecutorClient Client => Handle.Owner;
        internal object SyncRoot { get; } = new object();
        internal bool FailureReported { get; set; }

        // Output taken from the handle but held back until the chunks before it arrive (OutputReader).
        internal List<OutputChunk> Held { get; set; } = new List<OutputChunk>();
        internal HashSet<long> HeldOnce { get; } = new HashSet<long>();

        public string ExecutorId => Handle.Owner.ExecutorId;
        public string ProcessId => Handle.ProcessId;
        public string CommandLine { get; }
        public bool Tty { get; }
        public bool Interactive { get; }

        public RemoteProcessState State
        {
            get
            {
                Refresh();
                return Handle.Failure != null ? RemoteProcessState.Failed
                    : Handle.Exited || Handle.Closed ? RemoteProcessState.Exited : RemoteProcessState.Running;
            }
        }

        public int? ExitCode => Handle.ExitCode;
        public DateTime StartTime { get; }
        public DateTime? EndTime { get; private set; }

        /// <summary>Whether output is waiting for Receive-RemoteOutput.</summary>
        public bool HasMoreData => Handle.HasUnread;

        /// <summary>Why output or the exit code could not be obtained, when that happened.</summary>
        public string? FailureReason => Handle.Failure?.Message;

        internal void Refresh()
        {
            if (EndTime == null && (Handle.Exited || Handle.IsFinished)) EndTime = DateTime.Now;
        }

        internal LineDecoder DecoderFor(OutputStreamKind stream)
        {
            if (!_decoders.TryGetValue(stream, out var d)) _decoders[stream] = d = new LineDecoder(Client.Endpoint.MaxLineLength);
            return d;
        }

        internal IEnumerable<KeyValuePair<OutputStreamKind, LineDecoder>> Decoders => _decoders;

        public override string ToString() => $"{ExecutorId}/{ProcessId}: {CommandLine}";
    }

    /// <summary>UTF-8 decoding across chunk boundaries (a character may be split) and line reassembly (LineAssembler).</summary>
    internal sealed class LineDecoder
    {
        private readonly Decoder _decoder = new UTF8Encoding(false, false).GetDecoder();
        private readonly LineAssembler _lines;
        private char[] _chars = new char[8192];

        public LineDecoder(int maxLineLength)
        {
            _lines = new LineAssembler(maxLineLength);
        }

        public IEnumerable<string> Push(byte[] data)
        {
            int needed = _decoder.GetCharCount(data, 0, data.Length, false);
            if (_chars.Length < needed) _chars = new char[needed];
            int n = _decoder.GetChars(data, 0, data.Length, _chars, 0, false);
            var lines = new List<string>();
            _lines.Push(_chars, 0, n, lines.Add);
            return lines;
        }

        /// <summary>The unterminated last line (in parts when over-long), once the stream has ended.</summary>
        public IEnumerable<string> Finish()
        {
            int n = _decoder.GetChars(Array.Empty<byte>(), 0, 0, _chars, 0, true);
            var lines = new List<string>();
            _lines.Push(_chars, 0, n, lines.Add);
            var rest = _lines.Finish();
            if (rest != null) lines.Add(rest);
            return lines;
        }
    }
}
