using System.Collections.Generic;

namespace ExecBridge.Client.Processes
{
    public sealed class ProcessStartSpec
    {
        /// <summary>argv; when null, Command is run by the executor's shell.</summary>
        public IList<string>? Argv { get; set; }
        public string? Command { get; set; }
        public string? WorkingDirectory { get; set; }

        /// <summary>Added over the default environment (PATH, HOME, LANG); the server inherits nothing itself.</summary>
        public IDictionary<string, string>? Environment { get; set; }

        /// <summary>When true, replaces the default environment instead of extending it.</summary>
        public bool ReplaceEnvironment { get; set; }
        public bool Tty { get; set; }
        public bool PipeStdin { get; set; }
    }
}
