using System.Management.Automation;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// Output lines tagged with their executor, as Invoke-Command tags with PSComputerName: the string stays a string
    /// (comparisons, -match, ConvertTo-Json see only the text) and carries an ExecutorId note property. When a call
    /// involves several executors the type name ExecBridge.ExecutorOutput is put first, so the default view shows the
    /// executor beside each line; with one executor the line looks exactly as before.
    /// </summary>
    internal static class TaggedOutput
    {
        public const string TypeName = "ExecBridge.ExecutorOutput";

        public static PSObject Line(string text, string executorId, bool fanOut)
        {
            var line = new PSObject(text);
            line.Properties.Add(new PSNoteProperty("ExecutorId", executorId));
            if (fanOut) line.TypeNames.Insert(0, TypeName);
            return line;
        }

        /// <summary>A stderr line as an error record; with several executors it names its executor (target and message).</summary>
        public static ErrorRecord Stderr(string text, string executorId, object? target, bool fanOut)
        {
            var record = StderrWriter.NewRecord(text, fanOut ? executorId : target);
            if (fanOut) record.ErrorDetails = new ErrorDetails($"[{executorId}] {text}");
            return record;
        }

        public static InformationRecord StderrInformation(string text, string executorId, bool fanOut)
        {
            // The PSHOST tag makes the host show it like Write-Host while it stays capturable as information.
            var record = new InformationRecord(fanOut ? $"[{executorId}] {text}" : text, fanOut ? executorId : "ExecBridge");
            record.Tags.Add("PSHOST");
            record.Tags.Add("stderr");
            return record;
        }
    }
}
