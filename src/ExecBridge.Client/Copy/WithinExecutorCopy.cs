using System;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Files;

namespace ExecBridge.Client.Copy
{
    /// <summary>
    /// Copies inside one executor with fs/copy, guarding its defaults (it overwrites files and merges folders):
    /// the destination is checked first, files are copied to a partial sibling, hashed on both ends and renamed
    /// into place. Folders are copied by fs/copy in one call (merged into an existing folder only with Force).
    /// </summary>
    public static class WithinExecutorCopy
    {
        public static async Task<CopyResult> CopyAsync(ExecutorClient client, string sourcePath, string destinationPath, CopyOptions options,
            TransferProgress progress, CancellationToken ct)
        {
            sourcePath = RemotePath.Normalize(sourcePath);
            destinationPath = RemotePath.Normalize(destinationPath);
            var started = DateTime.UtcNow;
            var store = new RemoteStore(client);
            var source = await client.GetMetadataAsync(sourcePath, ct).ConfigureAwait(false);
            if (source.IsDirectory && !options.Recurse)
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, $"'{sourcePath}' is a folder; use -Recurse to copy folders.");
            var target = await CopyEngine.ResolveTargetAsync(store, destinationPath, source.Name, ct).ConfigureAwait(false);
            if (source.IsDirectory && RemotePath.IsSameOrBelow(target, sourcePath))
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, $"Cannot copy the folder '{sourcePath}' into itself ('{target}').");
            var existing = await client.TryGetMetadataAsync(target, ct, needLength: false).ConfigureAwait(false);
            CopyEngine.CheckExistingDestination(existing?.IsDirectory, source.IsDirectory, options.Force, target, $" on executor '{client.ExecutorId}'");
            progress.CurrentItem = sourcePath;

            if (source.IsDirectory)
            {
                progress.AddPlanned(0, 1);
                await client.CopyRawAsync(sourcePath, target, recursive: true, ct).ConfigureAwait(false);
                progress.FileDone();
                return new CopyResult(sourcePath, client.ExecutorId, target, client.ExecutorId, true, 0, null, DateTime.UtcNow - started);
            }

            long length = source.Length ?? 0;
            progress.AddPlanned(length, 1);
            var partial = PartialName.ForRemote(target);
            try
            {
                var sourceHash = client.Sha256Async(sourcePath, ct);
                await client.CopyRawAsync(sourcePath, partial, recursive: false, ct).ConfigureAwait(false);
                // After fs/copy (not known to write into an existing file), alongside the hash: no round trip in series.
                var janitor = PartialJanitor.StartAsync(client, partial);
                string copyHash;
                try { copyHash = await client.Sha256Async(partial, ct).ConfigureAwait(false); }
                finally { await janitor.ConfigureAwait(false); }
                var expected = await sourceHash.ConfigureAwait(false);
                if (!string.Equals(expected, copyHash, StringComparison.Ordinal))
                    throw new ExecBridgeException(ExecBridgeErrorKind.IntegrityCheckFailed,
                        $"The copy of '{sourcePath}' on executor '{client.ExecutorId}' does not match its source (SHA-256 {copyHash} vs {expected}); it was discarded.");
                if (existing == null && await client.TryGetMetadataAsync(target, ct, needLength: false).ConfigureAwait(false) != null)
                    throw new ExecBridgeException(ExecBridgeErrorKind.DestinationExists, $"Destination '{target}' on executor '{client.ExecutorId}' appeared during the copy; use -Force to overwrite it.");
                await client.MoveAsync(partial, target, ct).ConfigureAwait(false);
                progress.AddBytes(length);
                progress.FileDone();
                return new CopyResult(sourcePath, client.ExecutorId, target, client.ExecutorId, false, length, copyHash, DateTime.UtcNow - started);
            }
            catch
            {
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    await client.RemoveAsync(partial, recursive: false, force: true, cts.Token).ConfigureAwait(false);
                }
                catch { }
                throw;
            }
        }
    }
}
