using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>
    /// <para type="synopsis">Reads a file on an executor: emits its lines (or bytes), or streams it to a local file.</para>
    /// <para type="description">With -Destination the file is streamed to disk with bounded memory, verified with SHA-256
    /// against sha256sum on the executor, written to a .partial file and renamed into place. -Offset/-Length read a slice.
    /// Without -Destination the content is emitted as lines (-Raw: one string; -AsByteStream: one byte[]).
    /// Several executors (-ExecutorId a,b / web-* / -Connection list / piped connections with -Path) are read at once, at most
    /// -ThrottleLimit at a time: content tagged with its ExecutorId, downloads to &lt;Destination&gt;/&lt;ExecutorId&gt;/&lt;name&gt;.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "RemoteFile", DefaultParameterSetName = ContentLiteralSet)]
    [OutputType(typeof(string), ParameterSetName = new[] { ContentSet, ContentLiteralSet })]
    [OutputType(typeof(byte[]), ParameterSetName = new[] { ContentSet, ContentLiteralSet })]
    [OutputType(typeof(RemoteCopyResult), ParameterSetName = new[] { DestinationSet, DestinationLiteralSet })]
    public sealed partial class GetRemoteFile : FileFanOutCmdlet
    {
        private const string ContentSet = "Content";
        private const string DestinationSet = "Destination";
        private const string ContentLiteralSet = "ContentLiteralPath";
        private const string DestinationLiteralSet = "DestinationLiteralPath";

        [Parameter(Mandatory = true, Position = 0, ParameterSetName = ContentSet)]
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = DestinationSet)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Path { get; set; }

        [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = ContentLiteralSet)]
        [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = DestinationLiteralSet)]
        [Alias("FullName", "LP")]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? LiteralPath { get; set; }

        [Parameter(Mandatory = true, Position = 1, ParameterSetName = DestinationSet)]
        [Parameter(Mandatory = true, Position = 1, ParameterSetName = DestinationLiteralSet)]
        [ValidateNotNullOrEmpty]
        public string? Destination { get; set; }

        [Parameter]
        [ValidateRange(0, long.MaxValue)]
        public long Offset { get; set; }

        [Parameter]
        [ValidateRange(0, long.MaxValue)]
        public long Length { get; set; } = -1;

        [Parameter(ParameterSetName = ContentSet)]
        [Parameter(ParameterSetName = ContentLiteralSet)]
        [ArgumentCompleter(typeof(EncodingCompleter))]
        public string? Encoding { get; set; }

        [Parameter(ParameterSetName = ContentSet)]
        [Parameter(ParameterSetName = ContentLiteralSet)]
        public SwitchParameter AsByteStream { get; set; }

        [Parameter(ParameterSetName = ContentSet)]
        [Parameter(ParameterSetName = ContentLiteralSet)]
        public SwitchParameter Raw { get; set; }

        // Get-Content's: the first N lines (reading stops there), or the last N (the file is read through, N lines kept).
        [Parameter(ParameterSetName = ContentSet)]
        [Parameter(ParameterSetName = ContentLiteralSet)]
        [Alias("First", "Head")]
        [ValidateRange(0, long.MaxValue)]
        public long TotalCount { get; set; } = -1;

        [Parameter(ParameterSetName = ContentSet)]
        [Parameter(ParameterSetName = ContentLiteralSet)]
        [Alias("Last")]
        [ValidateRange(0, int.MaxValue)]
        public int Tail { get; set; } = -1;

        private long _emitted;
        private Queue<string>? _tail;

        [Parameter(ParameterSetName = DestinationSet)]
        [Parameter(ParameterSetName = DestinationLiteralSet)]
        public SwitchParameter Force { get; set; }

        [Parameter(ParameterSetName = DestinationSet)]
        [Parameter(ParameterSetName = DestinationLiteralSet)]
        public SwitchParameter PassThru { get; set; }

        // Names or wildcards on connected executors. Binds by property name, so piped RemoteItems (and lines tagged by a
        // fan-out) are read from the executor they came from, record by record.
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public new string[]? ExecutorId { get; set; }

        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public new ExecBridgeConnection[]? Connection { get; set; }

        [Parameter]
        [ValidateRange(1, 4096)]
        public int ThrottleLimit { get; set; } = 32;

        private long? SliceLength => Length < 0 ? (long?)null : Length;

        protected override void BeginProcessing()
        {
            base.BeginProcessing();
            ValidateEncoding(Encoding);
            bool counted = TotalCount >= 0 || Tail >= 0;
            if (counted && (Raw || AsByteStream || (TotalCount >= 0 && Tail >= 0)))
                ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                    "-TotalCount and -Tail count lines: use one of them, and not with -Raw or -AsByteStream."),
                    "InvalidArgument", ErrorCategory.InvalidArgument, TotalCount >= 0 ? (object)TotalCount : Tail));
        }

        private bool Downloading => ParameterSetName == DestinationSet || ParameterSetName == DestinationLiteralSet;

        protected override void ProcessRecord()
        {
            var ids = ExecutorId ?? Array.Empty<string>();
            var connections = Connection ?? Array.Empty<ExecBridgeConnection>();
            // With -Path, piped objects can only choose executors (connections, items): gather them for one fan-out.
            if ((ParameterSetName == ContentSet || ParameterSetName == DestinationSet) && MyInvocation.ExpectingInput)
            {
                Gather(ids, connections);
                return;
            }
            if (IsSingle(ids, connections)) ReadOne(ResolveClient(ids.FirstOrDefault(), connections.FirstOrDefault()));
            else RunFanOut(ids, connections);
        }

        protected override void EndProcessing()
        {
            if (_gathered) RunGathered();
            base.EndProcessing();
        }

        private void ReadOne(ExecutorClient client)
        {
            bool download = Downloading;
            foreach (var p in LiteralPath ?? Path!)
            {
                try
                {
                    foreach (var one in ExpandPath(client, p, LiteralPath != null))
                    {
                        if (download) Download(client, one);
                        else EmitContent(client, one);
                    }
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    WriteFailure(ex, p);
                }
            }
        }

        private void Download(ExecutorClient client, string remotePath)
        {
            var local = ResolveLocalPath(Destination!);
            if (System.IO.Directory.Exists(local)) local = System.IO.Path.Combine(local, Client.Files.RemotePath.GetName(remotePath));
            var progress = new TransferProgress();
            var source = new RemoteFileSource(client, remotePath, Offset, SliceLength);
            var sink = new LocalFileSink(local, Force);
            var task = Task.Run(async () =>
            {
                var length = await source.OpenAsync(StopToken).ConfigureAwait(false);
                progress.AddPlanned(length, 1);
                // CopyFileAsync opens the source again: cheap (one metadata call) and keeps the engine self-contained.
                return await CopyEngine.CopyFileAsync(source, client.ExecutorId, sink, "local", progress, StopToken).ConfigureAwait(false);
            });
            RunTransfer(task, progress, $"Downloading {remotePath} from {client.ExecutorId}");
            var result = Await(task);
            if (PassThru) WriteObject(new RemoteCopyResult(result));
        }

        private void EmitContent(ExecutorClient client, string remotePath)
        {
            // The reader runs in the background; at most 8 chunks wait here, so memory stays bounded.
            var queue = new ConcurrentQueue<byte[]>();
            var space = new SemaphoreSlim(8, 8);
            var ready = new SemaphoreSlim(0, int.MaxValue);
            _emitted = 0;
            _tail = Tail >= 0 ? new Queue<string>() : null;
            // Cancelled when the pipeline side stops early (-TotalCount reached, or a failure), so the reader never
            // waits for space for ever.
            using var reading = CancellationTokenSource.CreateLinkedTokenSource(StopToken);
            var task = Task.Run(async () =>
            {
                try
                {
                    await client.ReadStreamAsync(remotePath, Offset, SliceLength, async (chunk, ct) =>
                    {
                        await space.WaitAsync(ct).ConfigureAwait(false);
                        queue.Enqueue(chunk.ToArray());
                        ready.Release();
                    }, reading.Token).ConfigureAwait(false);
                }
                finally
                {
                    ready.Release();
                }
            });

            var content = new ContentDecoder(ResolveEncoding(Encoding), AsByteStream, Raw, client.Endpoint.MaxLineLength, remotePath);
            try
            {
                while (true)
                {
                    while (!ready.Wait(100)) FlushLog();
                    // Each chunk is queued before its signal; the one signal without a chunk is the reader's last.
                    if (!queue.TryDequeue(out var chunk)) break;
                    space.Release();
                    content.Add(chunk, Emit);
                    if (Done) { reading.Cancel(); break; }
                }
            }
            catch
            {
                reading.Cancel();
                _ = task.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                throw;
            }
            FlushLog();
            if (Done)
            {
                // -TotalCount reached: the reader was told to stop; its cancellation is not a failure.
                try { task.Wait(); } catch (AggregateException) when (!StopToken.IsCancellationRequested) { }
                return;
            }
            Await(task);
            content.Finish(Emit);
            if (_tail != null) foreach (var line in _tail) WriteObject(line);
        }

        private bool Done => TotalCount >= 0 && _emitted >= TotalCount;

        /// <summary>Lines go through -TotalCount / -Tail; a -Raw string or a byte[] is written as it is.</summary>
        private void Emit(object item)
        {
            if (!(item is string line) || Raw) { WriteObject(item, false); return; }
            if (Done) return;
            _emitted++;
            if (_tail == null) { WriteObject(line); return; }
            if (Tail == 0) return;
            if (_tail.Count == Tail) _tail.Dequeue();
            _tail.Enqueue(line);
        }
    }
}
