using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Files;

namespace ExecBridge.Client.Copy
{
    /// <summary>
    /// Copies files and folder trees between two stores (local ↔ executor, or executor ↔ executor through this
    /// client). Every file is streamed with bounded memory, hashed on the way (SHA-256) and compared with the hash
    /// computed where the source lives and where the destination lives; the destination only appears after that.
    /// Destination semantics follow cp/Copy-Item: an existing folder as destination receives the item inside it.
    /// </summary>
    public static class CopyEngine
    {
        /// <summary>Chunks from this size on are hashed in parallel with the write; smaller ones inline (a task costs more).</summary>
        private const int ParallelHashFrom = 256 * 1024;

        private static void Hash(IncrementalHash hasher, ReadOnlyMemory<byte> chunk)
        {
            if (MemoryMarshal.TryGetArray(chunk, out var seg)) hasher.AppendData(seg.Array!, seg.Offset, seg.Count);
            else hasher.AppendData(chunk.ToArray());
        }

        /// <summary>Copies one file. On any failure or cancellation the sink is aborted (no partial file is left).</summary>
        public static async Task<CopyResult> CopyFileAsync(IFileSource source, string sourceStore, IFileSink sink, string sinkStore,
            TransferProgress progress, CancellationToken ct)
        {
            var started = DateTime.UtcNow;
            long length = await source.OpenAsync(ct).ConfigureAwait(false);
            progress.CurrentItem = source.Location;
            using var hashCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Task<string?>? sourceHash = null;
            long counted = 0;
            try
            {
                await sink.OpenAsync(length, ct).ConfigureAwait(false);
                // The source hash runs where the file lives, in parallel with the transfer.
                sourceHash = source.ComputeSha256Async(hashCts.Token);
                using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                long n = await source.ReadAsync(async (chunk, token) =>
                {
                    if (chunk.Length < ParallelHashFrom)
                    {
                        Hash(hasher, chunk);
                        await sink.WriteAsync(chunk, token).ConfigureAwait(false);
                    }
                    else
                    {
                        // Large blocks are hashed on another core while the sink takes them (~0.5 ms per MiB each);
                        // the chunk is only valid during this call, so both finish before it returns.
                        var hashing = Task.Run(() => Hash(hasher, chunk));
                        try { await sink.WriteAsync(chunk, token).ConfigureAwait(false); }
                        finally { await hashing.ConfigureAwait(false); }
                    }
                    counted += chunk.Length;
                    progress.AddBytes(chunk.Length);
                }, ct).ConfigureAwait(false);
                if (n != length)
                    throw new ExecBridgeException(ExecBridgeErrorKind.IntegrityCheckFailed,
                        $"'{source.Location}' delivered {n} bytes instead of {length} (it changed during the copy?); the copy was discarded.");
                string actual = ToHex(hasher.GetHashAndReset());
                string? expected = await sourceHash.ConfigureAwait(false);
                if (expected != null && !string.Equals(expected, actual, StringComparison.OrdinalIgnoreCase))
                    throw new ExecBridgeException(ExecBridgeErrorKind.IntegrityCheckFailed,
                        $"The bytes received from '{source.Location}' do not match the source (SHA-256 {actual} received, {expected} at the source); the copy was discarded.");
                if (source is IFileModeSource ms && sink is IFileModeSink mk) mk.NewFileMode = ms.Mode;
                await sink.CommitAsync(actual, ct).ConfigureAwait(false);
                progress.FileDone();
                return new CopyResult(source.Location, sourceStore, sink.Location, sinkStore, false, n, actual, DateTime.UtcNow - started);
            }
            catch
            {
                hashCts.Cancel();
                if (sourceHash != null) { try { await sourceHash.ConfigureAwait(false); } catch { } }
                await sink.AbortAsync().ConfigureAwait(false);
                progress.AddBytes(-counted);
                throw;
            }
        }

        /// <summary>
        /// Copies a file or (with Recurse) a folder tree. 'onResult' gets each copied file; 'onItemError' gets
        /// per-file failures inside a tree (the rest continue); failures of the whole operation are thrown.
        /// </summary>
        public static async Task CopyItemAsync(IItemStore from, string fromPath, IItemStore to, string toPath, CopyOptions options,
            TransferProgress progress, Action<CopyResult> onResult, Action<Exception, string> onItemError, CancellationToken ct)
        {
            var item = await from.GetItemAsync(fromPath, ct).ConfigureAwait(false)
                       ?? throw new ExecBridgeException(from.IsLocal ? ExecBridgeErrorKind.LocalPathNotFound : ExecBridgeErrorKind.RemotePathNotFound,
                           from.IsLocal ? $"Local path '{fromPath}' does not exist." : $"Remote path '{fromPath}' does not exist on executor '{from.Name}'.");
            if (item.IsDirectory && !options.Recurse)
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, $"'{fromPath}' is a folder; use -Recurse to copy folders.");

            var target = await ResolveTargetAsync(to, toPath, item.Name, ct).ConfigureAwait(false);
            var existing = await to.GetItemAsync(target, ct).ConfigureAwait(false);
            CheckExistingDestination(existing?.IsDirectory, item.IsDirectory, options.Force, target, Where(to));

            if (!item.IsDirectory)
            {
                progress.AddPlanned(item.Length ?? 0, 1);
                var result = await CopyFileAsync(from.OpenSource(item.Path), from.Name, to.CreateSink(target, options.Force), to.Name, progress, ct)
                    .ConfigureAwait(false);
                onResult(result);
                return;
            }

            // Plan first (sizes for the progress bar), then copy file by file.
            var plan = new List<(StoreItem Item, string Target)>();
            await PlanAsync(from, item, to, target, plan, ct).ConfigureAwait(false);
            progress.AddPlanned(plan.Where(p => !p.Item.IsDirectory).Sum(p => p.Item.Length ?? 0), plan.Count(p => !p.Item.IsDirectory));
            var started = DateTime.UtcNow;
            if (existing == null) await to.CreateDirectoryAsync(target, ct).ConfigureAwait(false);
            foreach (var (entry, entryTarget) in plan)
            {
                ct.ThrowIfCancellationRequested();
                try
                {
                    if (entry.IsDirectory)
                    {
                        var there = await to.GetItemAsync(entryTarget, ct).ConfigureAwait(false);
                        if (there == null) await to.CreateDirectoryAsync(entryTarget, ct).ConfigureAwait(false);
                        else if (!there.IsDirectory)
                            throw new ExecBridgeException(ExecBridgeErrorKind.DestinationExists, $"Destination '{entryTarget}'{Where(to)} is a file, not a folder.");
                        continue;
                    }
                    var result = await CopyFileAsync(from.OpenSource(entry.Path), from.Name, to.CreateSink(entryTarget, options.Force), to.Name, progress, ct)
                        .ConfigureAwait(false);
                    onResult(result);
                }
                catch (ExecBridgeException ex) when (IsPerItem(ex) && !ct.IsCancellationRequested)
                {
                    onItemError(ex, entry.Path);
                }
            }
            onResult(new CopyResult(item.Path, from.Name, target, to.Name, true, plan.Where(p => !p.Item.IsDirectory).Sum(p => p.Item.Length ?? 0), null,
                DateTime.UtcNow - started));
        }

        private static bool IsPerItem(ExecBridgeException ex) =>
            ex.Kind == ExecBridgeErrorKind.RemotePathNotFound || ex.Kind == ExecBridgeErrorKind.LocalPathNotFound
            || ex.Kind == ExecBridgeErrorKind.RemotePermissionDenied || ex.Kind == ExecBridgeErrorKind.RemotePathIsDirectory
            || ex.Kind == ExecBridgeErrorKind.DestinationExists || ex.Kind == ExecBridgeErrorKind.IntegrityCheckFailed;

        /// <summary>The cp/Copy-Item rules for a destination that exists: the same kind as the source, and only with Force.</summary>
        internal static void CheckExistingDestination(bool? existingIsDirectory, bool sourceIsDirectory, bool force, string target, string where)
        {
            if (existingIsDirectory is not bool existingDir) return;
            if (existingDir != sourceIsDirectory)
                throw new ExecBridgeException(ExecBridgeErrorKind.DestinationExists,
                    $"Destination '{target}'{where} is a {(existingDir ? "folder" : "file")} and the source is a {(sourceIsDirectory ? "folder" : "file")}.");
            if (!force)
                throw new ExecBridgeException(ExecBridgeErrorKind.DestinationExists,
                    $"Destination '{target}'{where} already exists; use -Force to overwrite{(sourceIsDirectory ? " (merge into)" : "")} it.");
        }

        private static string Where(IItemStore store) => store.IsLocal ? "" : $" on executor '{store.Name}'";

        /// <summary>An existing folder as destination receives the item inside it (like cp and Copy-Item).</summary>
        public static async Task<string> ResolveTargetAsync(IItemStore to, string toPath, string sourceName, CancellationToken ct)
        {
            var dest = await to.GetItemAsync(toPath, ct).ConfigureAwait(false);
            if (dest != null && dest.IsDirectory) return to.Combine(toPath, sourceName);
            var parent = to.GetParent(toPath);
            var parentItem = await to.GetItemAsync(parent, ct).ConfigureAwait(false);
            if (parentItem == null || !parentItem.IsDirectory)
                throw new ExecBridgeException(to.IsLocal ? ExecBridgeErrorKind.LocalPathNotFound : ExecBridgeErrorKind.RemotePathNotFound,
                    $"The destination folder '{parent}'{Where(to)} does not exist.");
            return toPath;
        }

        private static async Task PlanAsync(IItemStore from, StoreItem dir, IItemStore to, string target, List<(StoreItem, string)> plan, CancellationToken ct)
        {
            foreach (var child in await from.ListAsync(dir.Path, ct).ConfigureAwait(false))
            {
                var childTarget = to.Combine(target, child.Name);
                plan.Add((child, childTarget));
                if (child.IsDirectory) await PlanAsync(from, child, to, childTarget, plan, ct).ConfigureAwait(false);
            }
        }

        public static string ToHex(byte[] hash)
        {
            var c = new char[hash.Length * 2];
            const string digits = "0123456789abcdef";
            for (int i = 0; i < hash.Length; i++)
            {
                c[2 * i] = digits[hash[i] >> 4];
                c[2 * i + 1] = digits[hash[i] & 15];
            }
            return new string(c);
        }
    }
}
