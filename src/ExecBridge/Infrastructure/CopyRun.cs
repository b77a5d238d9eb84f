using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Client.Relay;

namespace ExecBridge.Infrastructure
{
    /// <summary>Which way one Copy-RemoteItem moves its items, seen from this machine.</summary>
    internal enum CopyDirection
    {
        ToExecutor,
        FromExecutor,
        Within,
        Between,
    }

    /// <summary>Where one executor's copy reports; called from the copy's own (background) thread.</summary>
    internal interface ICopySink
    {
        void Result(CopyRun run, CopyResult result);
        void Error(CopyRun run, ErrorRecord record);
    }

    /// <summary>What every executor of one Copy-RemoteItem does: the same direction, destination and options.</summary>
    internal sealed class CopyRequest
    {
        public CopyDirection Direction { get; set; }

        /// <summary>A remote path as the user gave it (resolved on each executor), or a local one already resolved.</summary>
        public string Destination { get; set; } = "";

        /// <summary>Many executors to this machine: each executor's items land in Destination/&lt;ExecutorId&gt;/ (as Ansible's fetch).</summary>
        public bool PerExecutorFolder { get; set; }

        public CopyOptions Options { get; set; } = new CopyOptions();
        public Client.Copy.CopyTransport Transport { get; set; }
        public RelaySettings? RelaySettings { get; set; }
        public bool PassThru { get; set; }

        /// <summary>Error targets: the item for one executor (as always), the executor when there are several.</summary>
        public bool TargetIsExecutor { get; set; }
    }

    /// <summary>
    /// The items of one Copy-RemoteItem on one executor, one after the other: each failure is reported and the next item
    /// goes on. A cancel (Ctrl+C, Stop-Job, another executor failing under -ErrorAction Stop) ends the copy under way,
    /// which removes its .partial file before the task ends. Runs on a background thread; it never touches a pipeline.
    /// </summary>
    internal sealed class CopyRun
    {
        private readonly CopyRequest _request;
        private readonly IReadOnlyList<string> _sources;

        /// <param name="client">The executor of this run (the destination one for Between).</param>
        /// <param name="other">The source executor for Between (one source, many destinations).</param>
        /// <param name="sources">Local paths already resolved (ToExecutor), remote paths as given otherwise.</param>
        public CopyRun(ExecutorClient client, ExecutorClient? other, int index, CopyRequest request, IReadOnlyList<string> sources)
        {
            Client = client;
            Other = other;
            Index = index;
            _request = request;
            _sources = sources;
        }

        public ExecutorClient Client { get; }
        public ExecutorClient? Other { get; }
        public int Index { get; }
        public string ExecutorId => Client.ExecutorId;
        public TransferProgress Progress { get; } = new TransferProgress();

        public bool Failed { get; private set; }
        public bool Stopped { get; private set; }
        public int Copied { get; private set; }

        /// <summary>Never throws: failures go to the sink, a cancel sets Stopped.</summary>
        public async Task RunAsync(ICopySink sink, CancellationToken token)
        {
            foreach (var source in _sources)
            {
                if (token.IsCancellationRequested) { Stopped = true; return; }
                try
                {
                    await CopyOneAsync(source, sink, token).ConfigureAwait(false);
                }
                catch (Exception) when (token.IsCancellationRequested)
                {
                    Stopped = true;
                    return;
                }
                catch (Exception ex)
                {
                    Report(sink, ex, source);
                }
            }
        }

        private async Task CopyOneAsync(string source, ICopySink sink, CancellationToken token)
        {
            Action<CopyResult> onResult = r =>
            {
                if (!r.IsDirectory) Copied++;
                if (_request.PassThru) sink.Result(this, r);
            };
            Action<Exception, string> onItemError = (e, path) => Report(sink, e, path);
            switch (_request.Direction)
            {
                case CopyDirection.ToExecutor:
                {
                    var destination = await Client.ResolvePathAsync(_request.Destination, token).ConfigureAwait(false);
                    await CopyEngine.CopyItemAsync(LocalStore.Instance, source, new RemoteStore(Client), destination, _request.Options, Progress,
                        onResult, onItemError, token).ConfigureAwait(false);
                    break;
                }
                case CopyDirection.FromExecutor:
                {
                    var path = await Client.ResolvePathAsync(source, token).ConfigureAwait(false);
                    var destination = _request.PerExecutorFolder ? ExecutorFolder() : _request.Destination;
                    await CopyEngine.CopyItemAsync(new RemoteStore(Client), path, LocalStore.Instance, destination, _request.Options, Progress,
                        onResult, onItemError, token).ConfigureAwait(false);
                    break;
                }
                case CopyDirection.Within:
                {
                    var path = await Client.ResolvePathAsync(source, token).ConfigureAwait(false);
                    var destination = await Client.ResolvePathAsync(_request.Destination, token).ConfigureAwait(false);
                    onResult(await WithinExecutorCopy.CopyAsync(Client, path, destination, _request.Options, Progress, token).ConfigureAwait(false));
                    break;
                }
                case CopyDirection.Between:
                {
                    var path = await Other!.ResolvePathAsync(source, token).ConfigureAwait(false);
                    var destination = await Client.ResolvePathAsync(_request.Destination, token).ConfigureAwait(false);
                    var options = new CrossExecutorCopyOptions
                    {
                        Transport = _request.Transport,
                        Recurse = _request.Options.Recurse,
                        Force = _request.Options.Force,
                        RelaySettings = _request.RelaySettings,
                        Progress = Progress,
                        OnResult = onResult,
                        OnItemError = onItemError,
                    };
                    await CrossExecutorCopy.CopyAsync(Other, path, Client, destination, options, token).ConfigureAwait(false);
                    break;
                }
            }
        }

        /// <summary>Destination/&lt;ExecutorId&gt;, created (with Destination) when missing.</summary>
        private string ExecutorFolder()
        {
            var id = ExecutorId;
            // The id becomes a folder name: one that could climb out of -Destination is refused.
            if (id == "." || id == ".." || id.IndexOfAny(new[] { '/', '\\', '\0' }) >= 0)
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument,
                    $"Executor id '{LocalErrors.Shown(id)}' cannot be used as a folder name below -Destination; copy from it on its own.");
            var folder = System.IO.Path.Combine(_request.Destination, id);
            try
            {
                Directory.CreateDirectory(folder);
            }
            catch (Exception ex) when (LocalErrors.IsLocal(ex))
            {
                throw LocalErrors.Translate(ex, folder, "create the folder");
            }
            return folder;
        }

        private void Report(ICopySink sink, Exception ex, string item)
        {
            Failed = true;
            var record = ErrorMapping.ToErrorRecord(ex, item);
            if (_request.TargetIsExecutor) record = Retarget(record);
            sink.Error(this, record);
        }

        /// <summary>With several executors the executor is the target, and the message names it.</summary>
        private ErrorRecord Retarget(ErrorRecord record)
        {
            var moved = new ErrorRecord(record.Exception, record.FullyQualifiedErrorId, record.CategoryInfo.Category, ExecutorId);
            var message = record.ErrorDetails?.Message ?? record.Exception.Message;
            if (message.IndexOf($"'{ExecutorId}'", StringComparison.OrdinalIgnoreCase) < 0) message = $"[{ExecutorId}] {message}";
            moved.ErrorDetails = new ErrorDetails(message);
            return moved;
        }
    }

    /// <summary>Copy-RemoteItem -AsJob: one executor's copies, reporting into its child job.</summary>
    internal sealed class CopyJobWork : IJobWork, ICopySink
    {
        private readonly CopyRun _run;
        private ExecBridgeChildJob? _child;

        public CopyJobWork(CopyRun run) { _run = run; }

        public string ExecutorId => _run.ExecutorId;

        public async Task RunAsync(ExecBridgeChildJob child, CancellationToken token)
        {
            _child = child;
            await _run.RunAsync(this, token).ConfigureAwait(false);
            child.Status = $"{_run.Copied} file(s) copied";
            child.End(_run.Stopped ? JobState.Stopped : _run.Failed ? JobState.Failed : JobState.Completed);
        }

        void ICopySink.Result(CopyRun run, CopyResult result) => _child!.Output.Add(new PSObject(new RemoteCopyResult(result)));

        void ICopySink.Error(CopyRun run, ErrorRecord record) => _child!.Error.Add(record);
    }
}
