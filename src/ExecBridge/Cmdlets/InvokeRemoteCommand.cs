using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Threading;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Runs a command on an executor, streams its output live and waits for it to end.</para>
    /// <para type="description">Stdout lines are written to the pipeline as strings; stderr lines to the error stream as
    /// non-terminating RemoteStderr records, like a native command's in pwsh 7.4+ (2>$null, 2>&amp;1 work; they never fail
    /// $? or stop the command by themselves); -StderrToInformation keeps them on the information stream. $LASTEXITCODE is set to the exit code. A non-zero exit
    /// writes a RemoteProcessFailed error, so -ErrorAction Stop makes a runbook fail fast. Ctrl+C kills the remote process.</para>
    /// </summary>
    [Cmdlet(VerbsLifecycle.Invoke, "RemoteCommand", DefaultParameterSetName = "Command")]
    [OutputType(typeof(string))]
    [OutputType(typeof(RemoteProcess))]
    public sealed class InvokeRemoteCommand : ExecutorCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Command")]
        [ValidateNotNullOrEmpty]
        public string? Command { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = "FilePath")]
        [ValidateNotNullOrEmpty]
        public string? FilePath { get; set; }

        [Parameter(Position = 1, ParameterSetName = "FilePath")]
        [AllowEmptyString]
        public string[]? ArgumentList { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? WorkingDirectory { get; set; }

        [Parameter]
        public Hashtable? Environment { get; set; }

        [Parameter]
        public SwitchParameter Tty { get; set; }

        [Parameter]
        public SwitchParameter PassThru { get; set; }

        // Today's stderr-as-information, for scripts that read it with -InformationVariable or 6>&1.
        [Parameter]
        public SwitchParameter StderrToInformation { get; set; }

        // 0: no limit. On expiry the remote process group is killed and OperationTimeout written.
        [Parameter]
        [ValidateRange(0, int.MaxValue)]
        public int TimeoutSec { get; set; }

        private string? _commandLine;

        protected override void ProcessRecord()
        {
            StartRemoteProcess.CheckEnvironment(this, Environment);
            var client = ResolveClient();
            var spec = StartRemoteProcess.BuildSpec(FilePath, ArgumentList, Command, WorkingDirectory, Environment, Tty, false);
            var commandLine = StartRemoteProcess.Describe(FilePath, ArgumentList, Command);
            _commandLine = commandLine;
            RemoteProcess process;
            try
            {
                process = new RemoteProcess(Await(client.StartProcessAsync(spec, StopToken)), commandLine, Tty, false);
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                var named = StartFailure.Explain(client, ex, FilePath, WorkingDirectory, StopToken);
                if (named != null) ThrowTerminatingError(named);
                ThrowFailure(ex, commandLine);
                return;
            }

            bool finished = false, timedOut = false;
            var deadline = TimeoutSec > 0 ? DateTime.UtcNow.AddSeconds(TimeoutSec) : DateTime.MaxValue;
            try
            {
                while (true)
                {
                    bool done = OutputReader.Drain(process, false, EmitLine, _ => { }, e => WriteFailure(e, process));
                    if (done) { finished = true; break; }
                    var left = deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) { timedOut = true; break; }
                    var wait = left < TimeSpan.FromMilliseconds(500) ? left : TimeSpan.FromMilliseconds(500);
                    Await(client.WaitForOutputAsync(process.Handle, wait, StopToken));
                }
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                OutputReader.Drain(process, false, EmitLine, _ => { }, _ => { });
                ThrowFailure(ex, commandLine);
            }
            finally
            {
                if (!finished) KillQuietly(process);
                client.Forget(process.Handle);
            }

            if (timedOut)
            {
                // Killed in the finally above; what it printed until then was already written.
                WriteError(new ErrorRecord(new TimeoutException(
                    $"'{commandLine}' on executor '{process.ExecutorId}' did not end within {TimeoutSec} s (-TimeoutSec); it was stopped."),
                    "OperationTimeout", ErrorCategory.OperationTimeout, commandLine));
                if (PassThru) WriteObject(process);
                return;
            }
            if (process.ExitCode is int code)
            {
                SessionState.PSVariable.Set("global:LASTEXITCODE", code);
                if (PassThru) WriteObject(process);
                if (code != 0)
                {
                    var ex = new RemoteProcessFailedException(commandLine, process.ExecutorId, code);
                    WriteError(new ErrorRecord(ex, "RemoteProcessFailed", ErrorCategory.InvalidResult, commandLine));
                }
            }
            else if (PassThru)
            {
                WriteObject(process);
            }
        }

        private void EmitLine(OutputStreamKind stream, string text)
        {
            if (stream != OutputStreamKind.Stderr)
            {
                WriteObject(text);
                return;
            }
            if (!StderrToInformation && StderrWriter.TryWrite(this, StderrWriter.NewRecord(text, _commandLine))) return;
            // The PSHOST tag makes the host show it like Write-Host while it stays capturable as information.
            var record = new InformationRecord(text, "ExecBridge");
            record.Tags.Add("PSHOST");
            record.Tags.Add("stderr");
            WriteInformation(record);
        }

        /// <summary>Ctrl+C or a failure: the process must not outlive the command (best effort, bounded).</summary>
        private static void KillQuietly(RemoteProcess process)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                process.Client.TerminateAsync(process.Handle, cts.Token).Wait(TimeSpan.FromSeconds(3));
            }
            catch { /* the connection may be gone; the server reaps the session's processes */ }
        }
    }

    /// <summary>A remote command ended with a non-zero exit code.</summary>
    public sealed class RemoteProcessFailedException : Exception
    {
        public RemoteProcessFailedException(string commandLine, string executorId, int exitCode)
            : base($"'{commandLine}' on executor '{executorId}' exited with code {exitCode}.")
        {
            CommandLine = commandLine;
            ExecutorId = executorId;
            ExitCode = exitCode;
        }

        public string CommandLine { get; }
        public string ExecutorId { get; }
        public int ExitCode { get; }
    }
}
