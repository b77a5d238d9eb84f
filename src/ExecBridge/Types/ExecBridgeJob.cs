using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Processes;
using ExecBridge.Infrastructure;

namespace ExecBridge
{
    internal sealed class ExecBridgeJobOptions
    {
        public ExecBridgeJobOptions(bool fanOut, bool stderrToInformation) { FanOut = fanOut; StderrToInformation = stderrToInformation; }
        public bool FanOut { get; }
        public bool StderrToInformation { get; }
    }

    /// <summary>
    /// Invoke-RemoteCommand -AsJob: a job in the session's job repository with one child job per executor, so Get-Job,
    /// Receive-Job (-Keep), Wait-Job (-Any), Stop-Job and Remove-Job work as for Invoke-Command -AsJob. The runs go on
    /// on the thread pool after the command that started them has returned; they write only into the child jobs'
    /// collections, which Receive-Job drains on its own pipeline thread. State: Running while any child runs; then
    /// Stopped if it was stopped, Failed if any child failed, else Completed (as Invoke-Command derives it).
    /// </summary>
    public sealed class ExecBridgeJob : Job
    {
        private readonly FanOut<RemoteCommandRun> _fan;
        private readonly List<RemoteCommandRun> _runs;
        private readonly ExecBridgeChildJob[] _children;
        private int _finished;
        private volatile bool _stopping;

        internal ExecBridgeJob(string command, List<RemoteCommandRun> runs, int throttleLimit, ExecBridgeJobOptions options)
            : base(command, null)
        {
            PSJobTypeName = "ExecBridgeJob";
            _runs = runs;
            _fan = new FanOut<RemoteCommandRun>(throttleLimit, CancellationToken.None);
            _children = runs.Select(r => new ExecBridgeChildJob(command, r, options)).ToArray();
            foreach (var child in _children)
            {
                ChildJobs.Add(child);
                child.ParentJob.Add(this);
                child.StateChanged += OnChildStateChanged;
            }
        }

        public override bool HasMoreData => _children.Any(c => c.HasMoreData);
        public override string Location => string.Join(", ", _children.Select(c => c.Location));
        public override string StatusMessage => $"{_finished} of {_children.Length} executors done";

        internal void Start()
        {
            SetJobState(JobState.Running);
            _fan.Start(_runs, (run, index, token) =>
            {
                _children[index].MarkRunning();
                return run.RunAsync(_children[index], token);
            });
            // Children a stop kept from starting end as Stopped (they never ran).
            _fan.Completion.ContinueWith(_ =>
            {
                foreach (var child in _children) child.EndIfNotStarted();
            }, TaskScheduler.Default);
        }

        public override void StopJob()
        {
            _stopping = true;
            // Each running child kills its remote process before its task ends (bounded by the kill's own timeout).
            _fan.CancelAndWait(TimeSpan.FromSeconds(10));
            foreach (var child in _children) child.EndIfNotStarted();
        }

        private void OnChildStateChanged(object? sender, JobStateEventArgs e)
        {
            if (!IsFinished(e.JobStateInfo.State)) return;
            if (Interlocked.Increment(ref _finished) != _children.Length) return;
            var states = _children.Select(c => c.JobStateInfo.State).ToList();
            SetJobState(_stopping || states.Contains(JobState.Stopped) ? JobState.Stopped
                : states.Contains(JobState.Failed) ? JobState.Failed : JobState.Completed);
        }

        internal static bool IsFinished(JobState state) => state == JobState.Completed || state == JobState.Failed || state == JobState.Stopped;

        protected override void Dispose(bool disposing)
        {
            if (disposing && !IsFinished(JobStateInfo.State)) _fan.CancelAndWait(TimeSpan.FromSeconds(10));
            base.Dispose(disposing);
        }
    }

    /// <summary>One executor's part of an ExecBridgeJob; its Location is the executor id.</summary>
    public sealed class ExecBridgeChildJob : Job, IRemoteCommandSink
    {
        private readonly RemoteCommandRun _run;
        private readonly ExecBridgeJobOptions _options;
        private int _ended;

        internal ExecBridgeChildJob(string command, RemoteCommandRun run, ExecBridgeJobOptions options) : base(command, null)
        {
            PSJobTypeName = "ExecBridgeJob";
            _run = run;
            _options = options;
        }

        public string ExecutorId => _run.ExecutorId;

        /// <summary>The remote exit code once the command ended there.</summary>
        public int? ExitCode { get; private set; }

        public override bool HasMoreData => Output.Count > 0 || Error.Count > 0 || Information.Count > 0 || Warning.Count > 0 || Verbose.Count > 0;
        public override string Location => _run.ExecutorId;
        public override string StatusMessage => ExitCode is int code ? $"exit {code}" : "";

        // A child is stopped through its parent (one fan-out owns all runs); Stop-Job on a child stops the whole job.
        public override void StopJob()
        {
            foreach (var parent in ParentJob) parent.StopJob();
        }

        // Set by ExecBridgeJob (the base class has no parent link).
        internal List<Job> ParentJob { get; } = new List<Job>();

        internal void MarkRunning() => SetJobState(JobState.Running);

        internal void EndIfNotStarted()
        {
            if (JobStateInfo.State == JobState.NotStarted && Interlocked.Exchange(ref _ended, 1) == 0) SetJobState(JobState.Stopped);
        }

        void IRemoteCommandSink.Line(RemoteCommandRun run, OutputStreamKind stream, string text)
        {
            if (stream != OutputStreamKind.Stderr) Output.Add(TaggedOutput.Line(text, run.ExecutorId, _options.FanOut));
            else if (_options.StderrToInformation) Information.Add(TaggedOutput.StderrInformation(text, run.ExecutorId, _options.FanOut));
            else Error.Add(TaggedOutput.Stderr(text, run.ExecutorId, run.Target, _options.FanOut));
        }

        void IRemoteCommandSink.Error(RemoteCommandRun run, ErrorRecord record, bool fatal) => Error.Add(record);

        void IRemoteCommandSink.Started(RemoteCommandRun run, RemoteProcess process) { }

        void IRemoteCommandSink.Ended(RemoteCommandRun run, RemoteCommandSummary summary)
        {
            ExitCode = summary.ExitCode;
            var failure = run.ExitFailure(summary);
            if (failure != null) Error.Add(failure);
            if (Interlocked.Exchange(ref _ended, 1) != 0) return;
            if (summary.Error == "stopped") SetJobState(JobState.Stopped);
            else if (summary.Succeeded) SetJobState(JobState.Completed);
            else SetJobState(JobState.Failed); // the reason is in the child's Error stream (this SetJobState has no reason overload here)
        }
    }
}
