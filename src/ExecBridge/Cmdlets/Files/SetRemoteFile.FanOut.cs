using System;
using System.Collections.Generic;
using System.Linq;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    // Set-RemoteFile on several executors: the content is collected once (or -InputFile opened once) and every executor
    // reads it through its own reader at the same time; each write is verified and renamed into place on its executor.
    public sealed partial class SetRemoteFile
    {
        private void WriteToMany(IReadOnlyList<string> ids, IReadOnlyList<ExecBridgeConnection> connections)
        {
            var targets = ExecutorTargets.Resolve(ids, connections);
            foreach (var error in targets.Errors) WriteError(error);
            Func<IFileSource> sourceFor;
            long length;
            if (InputFile != null)
            {
                // A bad -InputFile is one error about the input, not one per executor.
                string local;
                try
                {
                    local = ResolveLocalPath(InputFile);
                    length = Await(new LocalFileSource(local, 0, null).OpenAsync(StopToken));
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    WriteFailure(ex, InputFile);
                    return;
                }
                sourceFor = () => new LocalFileSource(local, 0, null);
            }
            else
            {
                var spool = _spool!;
                length = spool.Length;
                sourceFor = spool.OpenShared;
            }
            // One ShouldProcess per executor, on the pipeline thread, before anything is written.
            var chosen = targets.Clients.Where(c => ShouldProcess($"{Path} on executor '{c.ExecutorId}'", $"Write {length} bytes")).ToList();
            if (chosen.Count == 0) return;
            var progress = new TransferProgress();
            using var fan = new FanOut<ExecutorClient>(ThrottleLimit, StopToken);
            fan.Start(chosen, (client, index, token) => Guard(fan, client, token, async () =>
            {
                var path = await client.ResolvePathAsync(Path, token).ConfigureAwait(false);
                progress.AddPlanned(length, 1);
                var sink = new RemoteFileSink(client, path, overwrite: true, createParents: Force);
                await CopyEngine.CopyFileAsync(sourceFor(), "local", sink, client.ExecutorId, progress, token).ConfigureAwait(false);
                if (PassThru) fan.Post(new FanOutObject(ToItem(client, await client.GetMetadataAsync(path, token).ConfigureAwait(false))));
            }));
            Drain(fan, chosen, _ => { }, progress, $"Writing {Path} on {chosen.Count} executors");
        }
    }
}
