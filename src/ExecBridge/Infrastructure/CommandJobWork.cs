using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Processes;

namespace ExecBridge.Infrastructure
{
    internal sealed class ExecBridgeJobOptions
    {
        public ExecBridgeJobOptions(bool fanOut, bool stderrToInformation) { FanOut = fanOut; StderrToInformation = stderrToInformation; }
        public bool FanOut { get; }
        public bool StderrToInformation { get; }
    }

    /// <summary>Invoke-RemoteCommand -AsJob: one executor's command, reporting into its child job.</summary>
    internal sealed class CommandJobWork : IJobWork
    {
        private readonly RemoteCommandRun _run;
        private readonly ExecBridgeJobOptions _options;

        public CommandJobWork(RemoteCommandRun run, ExecBridgeJobOptions options)
        {
            _run = run;
            _options = options;
        }

        public string ExecutorId => _run.ExecutorId;

        public Task RunAsync(ExecBridgeChildJob child, CancellationToken token) => _run.RunAsync(new ChildSink(child, _options), token);

        private sealed class ChildSink : IRemoteCommandSink
        {
            private readonly ExecBridgeChildJob _child;
            private readonly ExecBridgeJobOptions _options;

            public ChildSink(ExecBridgeChildJob child, ExecBridgeJobOptions options)
            {
                _child = child;
                _options = options;
            }

            public void Line(RemoteCommandRun run, OutputStreamKind stream, string text)
            {
                if (stream != OutputStreamKind.Stderr) _child.Output.Add(TaggedOutput.Line(text, run.ExecutorId, _options.FanOut));
                else if (_options.StderrToInformation) _child.Information.Add(TaggedOutput.StderrInformation(text, run.ExecutorId, _options.FanOut));
                else _child.Error.Add(TaggedOutput.Stderr(text, run.ExecutorId, run.Target, _options.FanOut));
            }

            public void Error(RemoteCommandRun run, ErrorRecord record, bool fatal) => _child.Error.Add(record);

            public void Started(RemoteCommandRun run, RemoteProcess process) { }

            public void Ended(RemoteCommandRun run, RemoteCommandSummary summary)
            {
                _child.ExitCode = summary.ExitCode;
                var failure = run.ExitFailure(summary);
                if (failure != null) _child.Error.Add(failure);
                if (summary.Error == "stopped") _child.End(JobState.Stopped);
                else if (summary.Succeeded) _child.End(JobState.Completed);
                else _child.End(JobState.Failed); // the reason is in the child's Error stream
            }
        }
    }
}
