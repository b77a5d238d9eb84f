using System;

namespace ExecBridge
{
    /// <summary>How a command ended on one executor (Invoke-RemoteCommand -Summary): one per executor, after all output.</summary>
    public sealed class RemoteCommandSummary
    {
        internal RemoteCommandSummary(string executorId, string? processId, int? exitCode, TimeSpan duration, string? error, string commandLine)
        {
            ExecutorId = executorId;
            ProcessId = processId;
            ExitCode = exitCode;
            Duration = duration;
            Error = error;
            CommandLine = commandLine;
        }

        public string ExecutorId { get; }
        public string? ProcessId { get; }

        /// <summary>Null when the command did not start, was stopped before it ended, or its executor was lost.</summary>
        public int? ExitCode { get; }
        public TimeSpan Duration { get; }

        /// <summary>Why there is no normal end (did not start, timed out, stopped, connection lost); null otherwise.</summary>
        public string? Error { get; internal set; }
        public string CommandLine { get; }

        /// <summary>Exited with code 0 and nothing went wrong.</summary>
        public bool Succeeded => ExitCode == 0 && Error == null;

        internal bool TimedOut { get; set; }
        internal RemoteProcess? Process { get; set; }

        public override string ToString() => $"{ExecutorId}: {(ExitCode is int c ? "exit " + c : Error ?? "no exit code")}";
    }
}
