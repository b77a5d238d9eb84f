using ExecBridge.Client.Processes;

namespace ExecBridge
{
    public enum RemoteStream { Stdout, Stderr, Pty }

    /// <summary>One line of a remote process's output; ToString gives the text alone.</summary>
    public sealed class RemoteOutputLine
    {
        internal RemoteOutputLine(string executorId, string processId, OutputStreamKind stream, string line)
        {
            ExecutorId = executorId;
            ProcessId = processId;
            Stream = (RemoteStream)stream;
            Line = line;
        }

        public string ExecutorId { get; }
        public string ProcessId { get; }
        public RemoteStream Stream { get; }
        public string Line { get; }
        public bool IsError => Stream == RemoteStream.Stderr;

        public override string ToString() => Line;
    }

    /// <summary>One raw output chunk (-Raw): the bytes exactly as the process wrote them.</summary>
    public sealed class RemoteOutputChunk
    {
        internal RemoteOutputChunk(string executorId, string processId, OutputChunk chunk)
        {
            ExecutorId = executorId;
            ProcessId = processId;
            Stream = (RemoteStream)chunk.Stream;
            Seq = chunk.Seq;
            Data = chunk.Data;
        }

        public string ExecutorId { get; }
        public string ProcessId { get; }
        public RemoteStream Stream { get; }
        public long Seq { get; }
        public byte[] Data { get; }
        public int Length => Data.Length;

        public override string ToString() => $"{Stream} #{Seq} ({Data.Length} bytes)";
    }
}
