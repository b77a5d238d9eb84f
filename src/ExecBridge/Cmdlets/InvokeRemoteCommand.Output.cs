using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ExecBridge.Client.Processes;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    // The pipeline-thread half of Invoke-RemoteCommand: every executor's run posts to one queue; only this thread writes.
    public sealed partial class InvokeRemoteCommand
    {
        private sealed class LineEvent
        {
            public LineEvent(RemoteCommandRun run, OutputStreamKind stream, string text) { Run = run; Stream = stream; Text = text; }
            public RemoteCommandRun Run { get; }
            public OutputStreamKind Stream { get; }
            public string Text { get; }
        }

        private sealed class ErrorEvent
        {
            public ErrorEvent(RemoteCommandRun run, ErrorRecord record, bool fatal) { Run = run; Record = record; Fatal = fatal; }
            public RemoteCommandRun Run { get; }
            public ErrorRecord Record { get; }
            public bool Fatal { get; }
        }

        private sealed class EndedEvent
        {
            public EndedEvent(RemoteCommandRun run, RemoteCommandSummary summary) { Run = run; Summary = summary; }
            public RemoteCommandRun Run { get; }
            public RemoteCommandSummary Summary { get; }
        }

        /// <summary>Posts what a run reports to the fan-out's queue (runs on the runs' threads).</summary>
        private sealed class QueueSink : IRemoteCommandSink
        {
            private readonly FanOut<RemoteCommandRun> _fan;
            public QueueSink(FanOut<RemoteCommandRun> fan) { _fan = fan; }
            public void Line(RemoteCommandRun run, OutputStreamKind stream, string text) => _fan.Post(new LineEvent(run, stream, text));
            public void Error(RemoteCommandRun run, ErrorRecord record, bool fatal) => _fan.Post(new ErrorEvent(run, record, fatal));
            public void Started(RemoteCommandRun run, RemoteProcess process) { }
            public void Ended(RemoteCommandRun run, RemoteCommandSummary summary) => _fan.Post(new EndedEvent(run, summary));
        }

        private bool _fanOut;

        private void RunHere(List<RemoteCommandRun> runs, ExecutorTargets targets, bool fanOut)
        {
            _fanOut = fanOut;
            foreach (var error in targets.Errors) WriteError(error);
            var summaries = new RemoteCommandSummary?[runs.Count];
            using (var fan = new FanOut<RemoteCommandRun>(ThrottleLimit, StopToken))
            {
                var sink = new QueueSink(fan);
                fan.Start(runs, (run, _, token) => run.RunAsync(sink, token));
                // Disposing the fan-out (however this loop ends: Ctrl+C, -ErrorAction Stop, a fatal error) kills what still runs.
                while (!fan.IsDrained)
                {
                    if (StopToken.IsCancellationRequested)
                    {
                        fan.CancelAndWait(TimeSpan.FromSeconds(10));
                        throw new PipelineStoppedException();
                    }
                    if (!fan.TryTake(out var item, 50))
                    {
                        FlushLog();
                        continue;
                    }
                    switch (item)
                    {
                        case LineEvent line: EmitLine(line); break;
                        case ErrorEvent error: EmitError(error); break;
                        case EndedEvent ended:
                            summaries[ended.Run.Index] = ended.Summary;
                            EmitEnd(ended);
                            break;
                        case FanOutCrashed crash: WriteFailure(crash.Error, runs[crash.Index].ExecutorId); break;
                    }
                }
            }
            FlushLog();
            if (!_fanOut) return;

            var all = runs.Select((run, i) => summaries[i] ?? new RemoteCommandSummary(run.ExecutorId, null, null, TimeSpan.Zero, "not run", run.CommandLine))
                .Concat(targets.Errors.Where(e => e.TargetObject is string).Select(e =>
                    new RemoteCommandSummary((string)e.TargetObject, null, null, TimeSpan.Zero, e.Exception.Message, runs.FirstOrDefault()?.CommandLine ?? CommandLineGiven())))
                .ToList();
            // 0 when every executor succeeded; else the first failing executor's exit code, in the order they were named (1 without one).
            var failed = all.FirstOrDefault(s => !s.Succeeded);
            SessionState.PSVariable.Set("global:LASTEXITCODE", failed == null ? 0 : failed.ExitCode is int c && c != 0 ? c : 1);
            if (Summary)
                foreach (var s in all) WriteObject(s);
        }

        private string CommandLineGiven() => StartRemoteProcess.Describe(FilePath, ArgumentList, Command);

        private void EmitLine(LineEvent e)
        {
            if (e.Stream != OutputStreamKind.Stderr)
            {
                WriteObject(TaggedOutput.Line(e.Text, e.Run.ExecutorId, _fanOut));
                return;
            }
            if (!StderrToInformation && StderrWriter.TryWrite(this, TaggedOutput.Stderr(e.Text, e.Run.ExecutorId, e.Run.Target, _fanOut))) return;
            WriteInformation(TaggedOutput.StderrInformation(e.Text, e.Run.ExecutorId, _fanOut));
        }

        private void EmitError(ErrorEvent e)
        {
            // One executor: what could not go on ends the command, as it always did. Several: the others go on.
            if (e.Fatal && !_fanOut) ThrowTerminatingError(e.Record);
            WriteError(e.Record);
        }

        private void EmitEnd(EndedEvent e)
        {
            var summary = e.Summary;
            if (!_fanOut && !summary.TimedOut && summary.ExitCode is int code)
                SessionState.PSVariable.Set("global:LASTEXITCODE", code);
            if (PassThru && summary.Process != null) WriteObject(summary.Process);
            var failure = e.Run.ExitFailure(summary);
            if (failure != null) WriteError(failure);
        }
    }
}
