using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Infrastructure;

namespace ExecBridge
{
    /// <summary>
    /// One executor's work inside an ExecBridgeJob (a remote command, a copy): runs on the thread pool and reports only
    /// into its child job's collections. It ends its child itself (ExecBridgeChildJob.End); ending without doing so
    /// completes the child, and a stop or an unexpected failure ends it as Stopped or Failed.
    /// </summary>
    internal interface IJobWork
    {
        string ExecutorId { get; }
        Task RunAsync(ExecBridgeChildJob child, CancellationToken token);
    }

    /// <summary>
    /// -AsJob of Invoke-RemoteCommand and Copy-RemoteItem: a job in the session's job repository with one child job per
    /// executor, so Get-Job, Receive-Job (-Keep), Wait-Job (-Any), Stop-Job and Remove-Job work as for Invoke-Command
    /// -AsJob. The work goes on on the thread pool after the command that started it has returned; it writes only into
    /// the child jobs' collections, which Receive-Job drains on its own pipeline thread. State: Running while any child
    /// runs; then Stopped if it was stopped, Failed if any child failed, else Completed (as Invoke-Command derives it).
    /// </summary>
    public sealed class ExecBridgeJob : Job
    {
        private readonly FanOut<ExecBridgeChildJob> _fan;
        private readonly ExecBridgeChildJob[] _children;
        private int _finished;
        private volatile bool _stopping;

        internal ExecBridgeJob(string command, IReadOnlyList<IJobWork> work, int throttleLimit)
            : base(command, null)
        {
            PSJobTypeName = "ExecBridgeJob";
            _fan = new FanOut<ExecBridgeChildJob>(throttleLimit, CancellationToken.None);
            _children = work.Select(w => new ExecBridgeChildJob(command, w)).ToArray();
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
            _fan.Start(_children, (child, _, token) => child.RunAsync(token));
            // Children a stop kept from starting end as Stopped (they never ran).
            _fan.Completion.ContinueWith(_ =>
            {
                foreach (var child in _children) child.EndIfNotStarted();
            }, TaskScheduler.Default);
        }

        public override void StopJob()
        {
            _stopping = true;
            // Each running child cleans up (kills its remote process, removes its .partial files) before its task ends.
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
    public sealed class ExecBridgeChildJob : Job
    {
        private readonly IJobWork _work;
        private int _ended;

        internal ExecBridgeChildJob(string command, IJobWork work) : base(command, null)
        {
            PSJobTypeName = "ExecBridgeJob";
            _work = work;
        }

        public string ExecutorId => _work.ExecutorId;

        /// <summary>The remote exit code once a command ended there (null for copies).</summary>
        public int? ExitCode { get; internal set; }

        public override bool HasMoreData => Output.Count > 0 || Error.Count > 0 || Information.Count > 0 || Warning.Count > 0 || Verbose.Count > 0;
        public override string Location => _work.ExecutorId;
        public override string StatusMessage => Status ?? (ExitCode is int code ? $"exit {code}" : "");

        /// <summary>What the work says about itself (e.g. files copied); overrides the exit code line.</summary>
        internal string? Status { get; set; }

        // A child is stopped through its parent (one fan-out owns all of them); Stop-Job on a child stops the whole job.
        public override void StopJob()
        {
            foreach (var parent in ParentJob) parent.StopJob();
        }

        // Set by ExecBridgeJob (the base class has no parent link).
        internal List<Job> ParentJob { get; } = new List<Job>();

        internal async Task RunAsync(CancellationToken token)
        {
            SetJobState(JobState.Running);
            try
            {
                await _work.RunAsync(this, token).ConfigureAwait(false);
                End(JobState.Completed);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                End(JobState.Stopped);
            }
            catch (Exception ex)
            {
                // The work reports its own failures; this is the last resort so a bug cannot leave the job Running forever.
                Error.Add(ErrorMapping.ToErrorRecord(ex, ExecutorId));
                End(JobState.Failed);
            }
        }

        /// <summary>Ends the child once (later calls do nothing): Completed, Failed (the reason is in its Error stream) or Stopped.</summary>
        internal void End(JobState state)
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0) SetJobState(state);
        }

        internal void EndIfNotStarted()
        {
            if (JobStateInfo.State == JobState.NotStarted) End(JobState.Stopped);
        }
    }
}
