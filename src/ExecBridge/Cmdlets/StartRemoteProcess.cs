using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Starts a process on an executor and returns it at once; read its output with Receive-RemoteOutput.</para>
    /// </summary>
    // Like Invoke-RemoteCommand: the first positional argument is a command line (Start-RemoteProcess 'echo hi'); a
    // program without a shell is named with -FilePath.
    [Cmdlet(VerbsLifecycle.Start, "RemoteProcess", DefaultParameterSetName = "Command")]
    [OutputType(typeof(RemoteProcess))]
    public sealed class StartRemoteProcess : ExecBridgeCmdlet
    {
        // Names or wildcards; bound by property name, so a piped RemoteProcess or connection brings its executor.
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[]? ExecutorId { get; set; }

        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public ExecBridgeConnection[]? Connection { get; set; }

        // Several executors: the starts run at once, at most this many at a time.
        [Parameter]
        [ValidateRange(1, 4096)]
        public int ThrottleLimit { get; set; } = 32;

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
        public SwitchParameter Interactive { get; set; }

        protected override void ProcessRecord()
        {
            CheckEnvironment(this, Environment);
            var targets = ExecutorTargets.Resolve(ExecutorId ?? Array.Empty<string>(), Connection ?? Array.Empty<ExecBridgeConnection>());
            if (!targets.IsFanOut && targets.Errors.Count > 0) ThrowTerminatingError(targets.Errors[0]);
            if (targets.IsFanOut)
            {
                StartMany(targets);
                return;
            }
            var client = targets.Clients[0];
            var spec = BuildSpec();
            try
            {
                var handle = Await(client.StartProcessAsync(spec, StopToken));
                WriteObject(new RemoteProcess(handle, DescribeCommand(), Tty, Interactive));
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                var named = StartFailure.Explain(client, ex, FilePath, WorkingDirectory, StopToken);
                if (named != null) ThrowTerminatingError(named);
                ThrowFailure(ex, (object?)FilePath ?? Command);
            }
        }

        /// <summary>One process per executor, started at once; a start that fails is that executor's error (target: its id).</summary>
        private void StartMany(ExecutorTargets targets)
        {
            foreach (var error in targets.Errors) WriteError(error);
            var spec = BuildSpec();
            var started = new object?[targets.Clients.Count];
            int next = 0;
            using var fan = new FanOut<ExecutorClient>(ThrottleLimit, StopToken);
            fan.Start(targets.Clients, async (client, index, token) =>
            {
                try
                {
                    var handle = await client.StartProcessAsync(spec, token).ConfigureAwait(false);
                    fan.Post(new KeyValuePair<int, object>(index, new RemoteProcess(handle, DescribeCommand(), Tty, Interactive)));
                }
                catch (Exception ex) when (IsClientFailure(ex) && !token.IsCancellationRequested)
                {
                    var record = StartFailure.Explain(client, ex, FilePath, WorkingDirectory, token) ?? ErrorMapping.ToErrorRecord(ex, client.ExecutorId);
                    fan.Post(new KeyValuePair<int, object>(index, new ErrorRecord(record.Exception, record.FullyQualifiedErrorId, record.CategoryInfo.Category, client.ExecutorId)));
                }
            });
            while (!fan.IsDrained)
            {
                if (StopToken.IsCancellationRequested) throw new PipelineStoppedException();
                if (!fan.TryTake(out var item, 50)) { FlushLog(); continue; }
                if (!(item is KeyValuePair<int, object> pair)) continue;
                started[pair.Key] = pair.Value;
                // In the order the executors were named.
                for (; next < started.Length && started[next] != null; next++)
                {
                    if (started[next] is ErrorRecord error) WriteError(error);
                    else WriteObject(started[next]);
                }
            }
        }

        private ProcessStartSpec BuildSpec() => BuildSpec(FilePath, ArgumentList, Command, WorkingDirectory, Environment, Tty, Interactive);

        internal static ProcessStartSpec BuildSpec(string? filePath, string[]? args, string? command, string? cwd, Hashtable? env, bool tty, bool interactive)
        {
            var spec = new ProcessStartSpec
            {
                Command = command,
                WorkingDirectory = cwd,
                Tty = tty,
                PipeStdin = interactive,
            };
            if (filePath != null)
                spec.Argv = new[] { filePath }.Concat(args ?? Array.Empty<string>()).ToList();
            if (env != null)
            {
                var d = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (DictionaryEntry e in env) d[e.Key.ToString()!] = e.Value?.ToString() ?? "";
                spec.Environment = d;
            }
            return spec;
        }

        /// <summary>
        /// A name that is empty or holds '=' (or NUL) cannot be one variable: the executor would set something else
        /// or nothing at all, silently. Refused before anything starts.
        /// </summary>
        internal static void CheckEnvironment(PSCmdlet cmdlet, Hashtable? env)
        {
            if (env == null) return;
            foreach (DictionaryEntry e in env)
            {
                var name = e.Key?.ToString() ?? "";
                if (name.Trim().Length > 0 && name.IndexOfAny(new[] { '=', '\0' }) < 0) continue;
                cmdlet.ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                    $"-Environment name '{name}' is not valid: a variable name must not be empty or contain '='."),
                    "InvalidArgument", ErrorCategory.InvalidArgument, name));
            }
        }

        private string DescribeCommand() => Describe(FilePath, ArgumentList, Command);

        internal static string Describe(string? filePath, string[]? args, string? command) =>
            command ?? string.Join(" ", new[] { filePath! }.Concat(args ?? Array.Empty<string>())
                .Select(a => a.Length == 0 || a.IndexOfAny(new[] { ' ', '"', '\'' }) >= 0 ? "'" + a.Replace("'", "''") + "'" : a));
    }
}
