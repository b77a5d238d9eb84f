using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Management.Automation;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Client.Relay;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    // Several executors on one side (-ToExecutor a,b / -FromExecutor web-*), and -AsJob: the items are collected while
    // they are piped in, then every executor copies them on the thread pool (at most -ThrottleLimit at once) while this
    // thread writes their results, errors and one progress bar for all of them.
    public sealed partial class CopyRemoteItem
    {
        private sealed class FanOutPlan
        {
            public CopyDirection Direction;
            public List<ExecutorClient> Clients = new List<ExecutorClient>();
            public ExecutorClient? Other;
            public bool Many;
            public string Destination = "";
            public readonly List<string> Sources = new List<string>();
        }

        private sealed class RunEnded
        {
        }

        private sealed class QueueSink : ICopySink
        {
            private readonly FanOut<CopyRun> _fan;
            public QueueSink(FanOut<CopyRun> fan) { _fan = fan; }
            // Client types never reach the pipeline: the result is converted here, on the run's thread (no Write*).
            public void Result(CopyRun run, CopyResult result) => _fan.Post(new FanOutObject(new RemoteCopyResult(result)));
            public void Error(CopyRun run, ErrorRecord record) => _fan.Post(new FanOutError(record));
        }

        private FanOutPlan? _fanOut;

        /// <summary>Decides whether this call fans out (or runs as a job); one executor without -AsJob stays on the single path.</summary>
        private void BeginFanOut()
        {
            var none = Array.Empty<ExecBridgeConnection>();
            var from = FromExecutor != null ? ExecutorTargets.Resolve(FromExecutor, none) : null;
            var to = ToExecutor != null ? ExecutorTargets.Resolve(ToExecutor, none) : null;
            bool manyFrom = from?.IsFanOut == true, manyTo = to?.IsFanOut == true;
            // One executor to many is a fan-out over the destinations; many into one executor (or many to many) has no
            // layout a user would guess, so it is refused.
            if (from != null && to != null && manyFrom)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                    "A copy to another executor takes one -FromExecutor; this one names several (a list or a wildcard). " +
                    "Copy them to this machine first (-FromExecutor a,b -Destination <folder>), or run one copy per source executor."),
                    "ManyToManyCopy", ErrorCategory.InvalidArgument, FromExecutor));
            if (!manyFrom && !manyTo && !AsJob) return;
            // One executor named (a job): not being connected ends the command, as it always did.
            foreach (var side in new[] { from, to })
                if (side != null && !side.IsFanOut && side.Errors.Count > 0) ThrowTerminatingError(side.Errors[0]);

            var plan = new FanOutPlan();
            if (from != null && to != null)
            {
                // One run per destination executor, each reading from the one source.
                plan.Direction = CopyDirection.Between;
                plan.Clients = to.Clients;
                plan.Other = from.Clients[0];
                plan.Many = manyTo;
                foreach (var error in to.Errors) WriteError(error);
            }
            else if (from != null || to != null)
            {
                var side = (from ?? to)!;
                plan.Direction = from != null ? CopyDirection.FromExecutor : CopyDirection.ToExecutor;
                plan.Clients = side.Clients;
                plan.Many = side.IsFanOut;
                foreach (var error in side.Errors) WriteError(error);
            }
            else
            {
                plan.Direction = CopyDirection.Within;
                plan.Clients = new List<ExecutorClient> { ResolveClient() };
            }
            plan.Destination = Destination;
            if (plan.Direction == CopyDirection.FromExecutor)
            {
                try { plan.Destination = ResolveLocalPath(Destination); }
                catch (Exception ex) when (IsClientFailure(ex)) { ThrowFailure(ex, Destination); }
                if (plan.Many && File.Exists(plan.Destination))
                    ThrowTerminatingError(ErrorMapping.ToErrorRecord(new ExecBridgeException(ExecBridgeErrorKind.DestinationExists,
                        $"-Destination '{Destination}' is a file; with several executors it is a folder that receives one folder per executor (<Destination>/<ExecutorId>/)."),
                        Destination));
            }
            _fanOut = plan;
        }

        /// <summary>Per piped record: local sources are resolved (and checked) here, once for all executors.</summary>
        private void CollectSources()
        {
            foreach (var raw in Path)
            {
                if (_fanOut!.Direction != CopyDirection.ToExecutor)
                {
                    _fanOut.Sources.Add(raw);
                    continue;
                }
                try
                {
                    var local = ResolveLocalPath(raw);
                    if (!File.Exists(local) && !Directory.Exists(local))
                        throw new ExecBridgeException(ExecBridgeErrorKind.LocalPathNotFound, $"Local path '{LocalErrors.Shown(local)}' does not exist.");
                    _fanOut.Sources.Add(local);
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    WriteFailure(ex, raw);
                }
            }
        }

        protected override void EndProcessing()
        {
            try
            {
                if (_fanOut != null) RunFanOut(_fanOut);
            }
            finally
            {
                base.EndProcessing();
            }
        }

        private void RunFanOut(FanOutPlan plan)
        {
            var request = new CopyRequest
            {
                Direction = plan.Direction,
                Destination = plan.Destination,
                PerExecutorFolder = plan.Many && plan.Direction == CopyDirection.FromExecutor,
                Options = new CopyOptions { Recurse = Recurse, Force = Force },
                Transport = (ExecBridge.Client.Copy.CopyTransport)(int)Transport,
                RelaySettings = SessionPool.Current.RelaySettings as RelaySettings,
                PassThru = PassThru,
                TargetIsExecutor = plan.Many,
            };
            var runs = new List<CopyRun>();
            foreach (var client in plan.Clients)
            {
                // One ShouldProcess per executor per item: -Confirm can leave out single executors.
                var chosen = plan.Sources.Where(s => ShouldProcess(DescribeFor(plan, client, s), "Copy")).ToList();
                if (chosen.Count > 0) runs.Add(new CopyRun(client, plan.Other, runs.Count, request, chosen));
            }
            if (runs.Count == 0) return;
            if (AsJob)
            {
                var job = new ExecBridgeJob(MyInvocation.Line?.Trim() ?? "Copy-RemoteItem", runs.Select(r => (IJobWork)new CopyJobWork(r)).ToList(), ThrottleLimit);
                JobRepository.Add(job);
                job.Start();
                WriteObject(job);
                return;
            }
            RunHere(runs, plan);
        }

        private string DescribeFor(FanOutPlan plan, ExecutorClient client, string source)
        {
            switch (plan.Direction)
            {
                case CopyDirection.ToExecutor: return $"'{source}' to '{plan.Destination}' on executor '{client.ExecutorId}'";
                case CopyDirection.FromExecutor:
                    var where = plan.Many ? System.IO.Path.Combine(plan.Destination, client.ExecutorId) : plan.Destination;
                    return $"'{source}' on executor '{client.ExecutorId}' to '{where}'";
                case CopyDirection.Within: return $"'{source}' to '{plan.Destination}' on executor '{client.ExecutorId}'";
                default: return $"'{source}' on executor '{plan.Other!.ExecutorId}' to '{plan.Destination}' on executor '{client.ExecutorId}'";
            }
        }

        private void RunHere(List<CopyRun> runs, FanOutPlan plan)
        {
            string activity = plan.Direction == CopyDirection.FromExecutor ? $"Copying from {runs.Count} executors"
                : plan.Direction == CopyDirection.Between ? $"Copying from executor '{plan.Other!.ExecutorId}' to {runs.Count} executors"
                : $"Copying to {runs.Count} executors";
            var clock = Stopwatch.StartNew();
            int done = 0;
            // Disposing the fan-out (however this ends: Ctrl+C, -ErrorAction Stop) cancels every copy and waits for them to
            // remove their .partial files.
            using var fan = new FanOut<CopyRun>(ThrottleLimit, StopToken);
            var sink = new QueueSink(fan);
            fan.Start(runs, async (run, _, token) =>
            {
                try { await run.RunAsync(sink, token).ConfigureAwait(false); }
                finally { fan.Post(new RunEnded()); }
            });
            Drain(fan, index => runs[index].ExecutorId, item => { if (item is RunEnded) done++; },
                id => MakeFanOutRecord(id, activity, runs, done, clock.Elapsed), activity);
        }

        /// <summary>Bytes over every executor and how many are done.</summary>
        private static ProgressRecord MakeFanOutRecord(int id, string activity, List<CopyRun> runs, int done, TimeSpan elapsed)
        {
            long bytes = runs.Sum(r => r.Progress.BytesDone), total = runs.Sum(r => r.Progress.BytesTotal);
            double rate = elapsed.TotalSeconds > 0.05 ? bytes / elapsed.TotalSeconds : 0;
            var status = (total > 0 ? $"{Mb(bytes)} of {Mb(total)}" : Mb(bytes)) + $" at {Mb((long)rate)}/s, {done} of {runs.Count} executors done";
            var record = new ProgressRecord(id, activity, status)
            {
                PercentComplete = total > 0 ? (int)Math.Min(100, bytes * 100 / total) : done * 100 / runs.Count,
            };
            var current = runs.FirstOrDefault(r => r.Progress.CurrentItem != null && r.Progress.BytesDone < r.Progress.BytesTotal);
            if (current != null) record.CurrentOperation = $"{current.ExecutorId}: {current.Progress.CurrentItem}";
            return record;
        }
    }
}
