using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
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
    /// Without -Destination the content is emitted as lines (-Raw: one string; -AsByteStream: one byte[]).</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "RemoteFile", DefaultParameterSetName = ContentSet)]
    [OutputType(typeof(string), ParameterSetName = new[] { ContentSet })]
    [OutputType(typeof(byte[]), ParameterSetName = new[] { ContentSet })]
    [OutputType(typeof(RemoteCopyResult), ParameterSetName = new[] { DestinationSet })]
    public sealed class GetRemoteFile : FileCmdletBase
    {
        private const string ContentSet = "Content";
        private const string DestinationSet = "Destination";

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName")]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = Array.Empty<string>();

        [Parameter(Mandatory = true, Position = 1, ParameterSetName = DestinationSet)]
        [ValidateNotNullOrEmpty]
        public string? Destination { get; set; }

        [Parameter]
        [ValidateRange(0, long.MaxValue)]
        public long Offset { get; set; }

        [Parameter]
        [ValidateRange(0, long.MaxValue)]
        public long Length { get; set; } = -1;

        [Parameter(ParameterSetName = ContentSet)]
        public string? Encoding { get; set; }

        [Parameter(ParameterSetName = ContentSet)]
        public SwitchParameter AsByteStream { get; set; }

        [Parameter(ParameterSetName = ContentSet)]
        public SwitchParameter Raw { get; set; }

        [Parameter(ParameterSetName = DestinationSet)]
        public SwitchParameter Force { get; set; }

        [Parameter(ParameterSetName = DestinationSet)]
        public SwitchParameter PassThru { get; set; }

        private long? SliceLength => Length < 0 ? (long?)null : Length;

        protected override void ProcessRecord()
        {
            var client = ResolveClient();
            foreach (var p in Path)
            {
                try
                {
                    if (ParameterSetName == DestinationSet) Download(client, p);
                    else EmitContent(client, p);
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
            // Cancelled when the pipeline side stops early (a limit below), so the reader never waits for space for ever.
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
                }
            }
            catch
            {
                reading.Cancel();
                _ = task.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                throw;
            }
            FlushLog();
            Await(task);
            content.Finish(Emit);
        }

        private void Emit(object item) => WriteObject(item, false);
    }
}
