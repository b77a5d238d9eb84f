using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text;
using ExecBridge.Client;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Runs a command on one or many executors, streams their output live and waits for it to end.</para>
    /// <para type="description">Stdout lines are written to the pipeline as strings carrying an ExecutorId note property; stderr lines to
    /// the error stream as non-terminating RemoteStderr records, like a native command's in pwsh 7.4+ (2>$null, 2>&amp;1 work; they never fail
    /// $? or stop the command by themselves); -StderrToInformation keeps them on the information stream. $LASTEXITCODE is set to the exit code. A non-zero exit
    /// writes a RemoteProcessFailed error, so -ErrorAction Stop makes a runbook fail fast. Ctrl+C kills the remote process.
    /// Several executors (-ExecutorId a,b / web-* / piped connections) run at once, at most -ThrottleLimit at a time.</para>
    /// </summary>
    [Cmdlet(VerbsLifecycle.Invoke, "RemoteCommand", DefaultParameterSetName = "Command")]
    [OutputType(typeof(string))]
    [OutputType(typeof(RemoteProcess))]
    [OutputType(typeof(RemoteCommandSummary))]
    [OutputType(typeof(ExecBridgeJob))]
    public sealed partial class InvokeRemoteCommand : ExecBridgeCmdlet
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

        // Names or wildcards, matched against connected executors. Not bound from the pipeline: piped strings are stdin and
        // piped connections come in through -InputObject, so a tagged line piped from another call never picks the executor.
        [Parameter]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[]? ExecutorId { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public ExecBridgeConnection[]? Connection { get; set; }

        // Connections choose executors; anything else (strings, byte arrays) is the command's stdin.
        [Parameter(ValueFromPipeline = true)]
        [AllowNull]
        [AllowEmptyString]
        public object? InputObject { get; set; }

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

        [Parameter]
        [ValidateRange(1, 4096)]
        public int ThrottleLimit { get; set; } = 32;

        [Parameter]
        public SwitchParameter Summary { get; set; }

        [Parameter]
        public SwitchParameter AsJob { get; set; }

        private readonly List<ExecBridgeConnection> _pipedConnections = new List<ExecBridgeConnection>();
        private MemoryStream? _stdin;

        protected override void ProcessRecord()
        {
            if (!MyInvocation.BoundParameters.ContainsKey(nameof(InputObject))) return;
            var value = InputObject is PSObject pso ? pso.BaseObject : InputObject;
            if (value == null) return;
            if (value is ExecBridgeConnection c)
            {
                _pipedConnections.Add(c);
                return;
            }
            _stdin ??= new MemoryStream();
            // Bytes as they are; anything else as a line of UTF-8 text, as pwsh pipes strings to a native command.
            var bytes = value is byte[] b ? b : Encoding.UTF8.GetBytes(LanguagePrimitives.ConvertTo<string>(value) + "\n");
            _stdin.Write(bytes, 0, bytes.Length);
        }

        protected override void EndProcessing()
        {
            try
            {
                Run();
            }
            finally
            {
                base.EndProcessing();
            }
        }

        private void Run()
        {
            StartRemoteProcess.CheckEnvironment(this, Environment);
            if (Tty && _stdin != null)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                    "Pipeline input cannot be sent to a -Tty command: a terminal has no end of input. Drop -Tty, or use Start-RemoteProcess -Tty with Send-RemoteInput."),
                    "InvalidArgument", ErrorCategory.InvalidArgument, InputObject));
            var connections = (Connection ?? Array.Empty<ExecBridgeConnection>()).Concat(_pipedConnections).ToList();
            var targets = ExecutorTargets.Resolve(ExecutorId ?? Array.Empty<string>(), connections);
            bool fanOut = targets.IsFanOut || AsJob;
            // One executor named or implied: as it always was, not being connected ends the command.
            if (!targets.IsFanOut && targets.Errors.Count > 0) ThrowTerminatingError(targets.Errors[0]);

            var spec = StartRemoteProcess.BuildSpec(FilePath, ArgumentList, Command, WorkingDirectory, Environment, Tty, false);
            var request = new RemoteCommandRequest(spec, StartRemoteProcess.Describe(FilePath, ArgumentList, Command), FilePath, WorkingDirectory)
            {
                Tty = Tty,
                TimeoutSec = TimeoutSec,
                Stdin = _stdin?.ToArray(),
                TargetIsExecutor = targets.IsFanOut,
            };
            var runs = targets.Clients.Select((client, i) => new RemoteCommandRun(client, i, request)).ToList();
            if (AsJob)
            {
                foreach (var error in targets.Errors) WriteError(error);
                if (runs.Count == 0) return;
                var options = new ExecBridgeJobOptions(targets.IsFanOut, StderrToInformation);
                var job = new ExecBridgeJob(MyInvocation.Line?.Trim() ?? request.CommandLine,
                    runs.Select(r => (IJobWork)new CommandJobWork(r, options)).ToList(), ThrottleLimit);
                JobRepository.Add(job);
                job.Start();
                WriteObject(job);
                return;
            }
            RunHere(runs, targets, fanOut);
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
