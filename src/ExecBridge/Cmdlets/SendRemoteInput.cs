using System;
using System.Management.Automation;
using System.Text;
using ExecBridge.Client;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Writes to the stdin of a process started with -Interactive or -Tty.</para>
    /// <para type="description">Strings are sent as UTF-8 followed by a newline (use -NoNewline to send them as they are); byte arrays
    /// are sent unchanged. The exec-server protocol has no way to close stdin (send EOF): a program that reads until end of input,
    /// such as cat or wc, ends only when it is told to in-band (for example an 'exit' command to a shell, a quit command, or a
    /// byte count it knows in advance such as head -c N) or when Stop-RemoteProcess kills it.</para>
    /// </summary>
    [Cmdlet(VerbsCommunications.Send, "RemoteInput")]
    [OutputType(typeof(void))]
    public sealed class SendRemoteInput : ExecBridgeCmdlet
    {
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNull]
        public RemoteProcess? Process { get; set; }

        [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true)]
        [AllowEmptyString]
        public object? InputObject { get; set; }

        [Parameter]
        public SwitchParameter NoNewline { get; set; }

        protected override void ProcessRecord()
        {
            var value = InputObject is PSObject pso ? pso.BaseObject : InputObject;
            byte[] bytes = value is byte[] b ? b : Encoding.UTF8.GetBytes((value?.ToString() ?? "") + (NoNewline ? "" : "\n"));
            try
            {
                // Chunks stay far below the server's 16 MiB frame limit once base64-encoded.
                const int maxChunk = 4 * 1024 * 1024;
                for (int offset = 0; offset < bytes.Length || offset == 0; offset += maxChunk)
                {
                    int n = Math.Min(maxChunk, bytes.Length - offset);
                    var status = Await(Process!.Client.WriteInputAsync(Process.Handle, new ArraySegment<byte>(bytes, offset, n), StopToken));
                    if (status == "stdinClosed")
                    {
                        WriteError(new ErrorRecord(new InvalidOperationException(
                            $"Process '{Process.ProcessId}' has no open stdin; start it with -Interactive or -Tty."),
                            "RemoteStdinClosed", ErrorCategory.InvalidOperation, Process));
                        return;
                    }
                    if (status == "unknownProcess")
                    {
                        WriteError(new ErrorRecord(new InvalidOperationException(
                            $"Executor '{Process.ExecutorId}' no longer knows process '{Process.ProcessId}'."),
                            "RemoteProcessNotFound", ErrorCategory.ObjectNotFound, Process));
                        return;
                    }
                    if (bytes.Length == 0) break;
                }
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                WriteFailure(ex, Process);
            }
        }
    }
}
