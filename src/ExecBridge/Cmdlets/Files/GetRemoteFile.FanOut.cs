using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    // Get-RemoteFile on several executors: each executor's reader runs in the fan-out and posts chunks (at most 8 waiting
    // per executor, so memory stays bounded); the pipeline thread decodes them per executor and writes tagged lines.
    public sealed partial class GetRemoteFile
    {
        private readonly List<string> _gatheredIds = new List<string>();
        private readonly List<ExecBridgeConnection> _gatheredConnections = new List<ExecBridgeConnection>();
        private bool _gathered;

        private void Gather(IReadOnlyList<string> ids, IReadOnlyList<ExecBridgeConnection> connections)
        {
            _gathered = true;
            foreach (var id in ids)
                if (!_gatheredIds.Contains(id, StringComparer.OrdinalIgnoreCase)) _gatheredIds.Add(id);
            foreach (var c in connections)
                if (!_gatheredConnections.Contains(c)) _gatheredConnections.Add(c);
        }

        private void RunGathered()
        {
            if (IsSingle(_gatheredIds, _gatheredConnections))
                ReadOne(ResolveClient(_gatheredIds.FirstOrDefault(), _gatheredConnections.FirstOrDefault()));
            else RunFanOut(_gatheredIds, _gatheredConnections);
        }

        private sealed class PathStarted
        {
            public PathStarted(int index, string path, CancellationTokenSource read) { Index = index; Path = path; Read = read; }
            public int Index { get; }
            public string Path { get; }
            public CancellationTokenSource Read { get; }
        }

        private sealed class ChunkRead
        {
            public ChunkRead(int index, byte[] data, SemaphoreSlim space) { Index = index; Data = data; Space = space; }
            public int Index { get; }
            public byte[] Data { get; }
            public SemaphoreSlim Space { get; }
        }

        private sealed class PathEnded
        {
            public PathEnded(int index, bool complete) { Index = index; Complete = complete; }
            public int Index { get; }
            public bool Complete { get; }
        }

        /// <summary>What the pipeline thread keeps for the file an executor is being read from.</summary>
        private sealed class FileState
        {
            public FileState(PathStarted started, ContentDecoder decoder, bool tail) { Started = started; Decoder = decoder; Tail = tail ? new Queue<string>() : null; }
            public PathStarted Started { get; }
            public ContentDecoder Decoder { get; }
            public Queue<string>? Tail { get; }
            public long Emitted { get; set; }
            /// <summary>-TotalCount reached, or the file failed to decode: the rest of its chunks are dropped.</summary>
            public bool Finished { get; set; }
        }

        private void RunFanOut(IReadOnlyList<string> ids, IReadOnlyList<ExecBridgeConnection> connections)
        {
            var targets = ExecutorTargets.Resolve(ids, connections);
            foreach (var error in targets.Errors) WriteError(error);
            if (targets.Clients.Count == 0) return;
            var clients = targets.Clients;
            var paths = LiteralPath ?? Path!;
            bool literal = LiteralPath != null;
            using var fan = new FanOut<ExecutorClient>(ThrottleLimit, StopToken);
            if (Downloading)
            {
                var root = DestinationFolder();
                var progress = new TransferProgress();
                fan.Start(clients, (client, index, token) => Guard(fan, client, token, () => DownloadAll(fan, client, root, paths, literal, progress, token)));
                Drain(fan, clients, _ => { }, progress, $"Downloading from {clients.Count} executors");
                return;
            }
            var files = new FileState?[clients.Count];
            var encoding = ResolveEncoding(Encoding);
            fan.Start(clients, (client, index, token) => Guard(fan, client, token, () => ReadAll(fan, client, index, paths, literal, token)));
            Drain(fan, clients, item =>
            {
                switch (item)
                {
                    case PathStarted started:
                        var client = clients[started.Index];
                        files[started.Index] = new FileState(started, new ContentDecoder(encoding, AsByteStream, Raw, client.Endpoint.MaxLineLength, started.Path), Tail >= 0);
                        break;
                    case ChunkRead chunk:
                        chunk.Space.Release();
                        Decode(files[chunk.Index], clients[chunk.Index].ExecutorId, (decoder, emit) => decoder.Add(chunk.Data, emit));
                        break;
                    case PathEnded ended:
                        var file = files[ended.Index];
                        files[ended.Index] = null;
                        if (file == null || !ended.Complete || file.Finished) break;
                        var id = clients[ended.Index].ExecutorId;
                        Decode(file, id, (decoder, emit) => decoder.Finish(emit));
                        if (file.Tail != null) foreach (var line in file.Tail) WriteObject(TaggedOutput.Line(line, id, true));
                        break;
                }
            }, null, "");
        }

        /// <summary>Feeds one file's decoder; stops reading that file once -TotalCount is reached or it cannot be decoded.</summary>
        private void Decode(FileState? file, string executorId, Action<ContentDecoder, Action<object>> step)
        {
            if (file == null || file.Finished) return;
            try
            {
                step(file.Decoder, item => EmitTagged(file, executorId, item));
            }
            catch (ExecBridgeException ex)
            {
                file.Finished = true;
                StopReading(file);
                WriteError(ExecutorError(ex, executorId));
                return;
            }
            if (TotalCount >= 0 && file.Emitted >= TotalCount && !file.Finished)
            {
                file.Finished = true;
                StopReading(file);
            }
        }

        private static void StopReading(FileState file)
        {
            try { file.Started.Read.Cancel(); } catch (ObjectDisposedException) { }
        }

        /// <summary>As Emit does for one executor, per executor and file, each object tagged with its executor.</summary>
        private void EmitTagged(FileState file, string executorId, object item)
        {
            if (item is byte[] bytes)
            {
                var tagged = new PSObject(bytes);
                tagged.Properties.Add(new PSNoteProperty("ExecutorId", executorId));
                WriteObject(tagged, false);
                return;
            }
            var text = (string)item;
            if (Raw) { WriteObject(TaggedOutput.Line(text, executorId, true)); return; }
            if (TotalCount >= 0 && file.Emitted >= TotalCount) return;
            file.Emitted++;
            if (file.Tail == null) { WriteObject(TaggedOutput.Line(text, executorId, true)); return; }
            if (Tail == 0) return;
            if (file.Tail.Count == Tail) file.Tail.Dequeue();
            file.Tail.Enqueue(text);
        }

        /// <summary>One executor's reads, file after file; a file that fails is its error and the next one is read.</summary>
        private async Task ReadAll(FanOut<ExecutorClient> fan, ExecutorClient client, int index, string[] paths, bool literal, CancellationToken token)
        {
            // Not disposed: the pipeline thread may still release it for chunks it takes after this reader ended.
            var space = new SemaphoreSlim(8, 8);
            foreach (var p in paths)
            {
                IReadOnlyList<string> found;
                try { found = await RemoteWildcard.ExpandAsync(client, p, literal, token).ConfigureAwait(false); }
                catch (Exception ex) when (!token.IsCancellationRequested) { fan.Post(new FanOutError(ExecutorError(ex, client.ExecutorId))); continue; }
                foreach (var one in found)
                {
                    using var read = CancellationTokenSource.CreateLinkedTokenSource(token);
                    fan.Post(new PathStarted(index, one, read));
                    bool complete = false;
                    try
                    {
                        await client.ReadStreamAsync(one, Offset, SliceLength, async (chunk, ct) =>
                        {
                            await space.WaitAsync(ct).ConfigureAwait(false);
                            fan.Post(new ChunkRead(index, chunk.ToArray(), space));
                        }, read.Token).ConfigureAwait(false);
                        complete = true;
                    }
                    catch (Exception) when (read.IsCancellationRequested && !token.IsCancellationRequested)
                    {
                        // The pipeline side had what it wanted (-TotalCount): not a failure.
                    }
                    catch (Exception ex) when (!token.IsCancellationRequested)
                    {
                        fan.Post(new FanOutError(ExecutorError(ex, client.ExecutorId)));
                    }
                    fan.Post(new PathEnded(index, complete));
                }
            }
        }

        /// <summary>-Destination with several executors is a folder (created when missing): one subfolder per executor.</summary>
        private string DestinationFolder()
        {
            string root;
            try
            {
                root = ResolveLocalPath(Destination!);
                if (File.Exists(root))
                    throw new LocalFileException(ExecBridgeErrorKind.InvalidArgument,
                        $"With several executors -Destination is a folder (each executor's files go to <Destination>/<ExecutorId>/), but '{root}' is a file.", Destination!, null);
                Directory.CreateDirectory(root);
            }
            catch (Exception ex) when (IsClientFailure(ex) || ex is ArgumentException || ex is NotSupportedException)
            {
                ThrowFailure(ex, Destination);
                throw;
            }
            return root;
        }

        /// <summary>One executor's downloads to &lt;root&gt;/&lt;ExecutorId&gt;/&lt;name&gt;, each verified and renamed into place.</summary>
        private async Task DownloadAll(FanOut<ExecutorClient> fan, ExecutorClient client, string root, string[] paths, bool literal, TransferProgress progress, CancellationToken token)
        {
            var id = client.ExecutorId;
            if (id == "." || id == ".." || id.IndexOfAny(new[] { '/', '\\', '\0' }) >= 0)
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, $"Executor id '{id}' cannot be used as a local folder name.");
            var folder = System.IO.Path.Combine(root, id);
            foreach (var p in paths)
            {
                try
                {
                    foreach (var one in await RemoteWildcard.ExpandAsync(client, p, literal, token).ConfigureAwait(false))
                    {
                        try
                        {
                            Directory.CreateDirectory(folder);
                            var source = new RemoteFileSource(client, one, Offset, SliceLength);
                            progress.AddPlanned(await source.OpenAsync(token).ConfigureAwait(false), 1);
                            var sink = new LocalFileSink(System.IO.Path.Combine(folder, Client.Files.RemotePath.GetName(one)), Force);
                            var result = await CopyEngine.CopyFileAsync(source, id, sink, "local", progress, token).ConfigureAwait(false);
                            if (PassThru) fan.Post(new FanOutObject(new RemoteCopyResult(result)));
                        }
                        catch (Exception ex) when (!token.IsCancellationRequested)
                        {
                            fan.Post(new FanOutError(ExecutorError(ex, id)));
                        }
                    }
                }
                catch (Exception ex) when (!token.IsCancellationRequested)
                {
                    fan.Post(new FanOutError(ExecutorError(ex, id)));
                }
            }
        }
    }
}
