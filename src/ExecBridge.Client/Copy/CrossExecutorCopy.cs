using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client.Relay;
using Microsoft.Extensions.Logging;

namespace ExecBridge.Client.Copy
{
    /// <summary>How bytes move between two executors.</summary>
    public enum CopyTransport
    {
        /// <summary>Relay when relay settings exist and the relay works; otherwise Pump (said in the log).</summary>
        Auto,
        /// <summary>The executors move the bytes themselves through a gateway relay ticket (curl on both).</summary>
        Relay,
        /// <summary>The bytes stream through this client (read on the source, write on the destination).</summary>
        Pump,
    }

    public sealed class CrossExecutorCopyOptions
    {
        public CopyTransport Transport { get; set; } = CopyTransport.Auto;
        public bool Recurse { get; set; }
        /// <summary>Overwrite an existing file; merge into an existing folder.</summary>
        public bool Force { get; set; }

        /// <summary>Where to mint relay tickets; null = no relay (Auto pumps, Relay fails with RelayNotConfigured).</summary>
        public RelaySettings? RelaySettings { get; set; }

        /// <summary>Counters for the whole copy; read them from the pipeline thread (the engine never calls PowerShell).</summary>
        public TransferProgress Progress { get; set; } = new TransferProgress();

        /// <summary>Verbose lines (transport chosen, fallbacks, waits). Information level.</summary>
        public ILogger? Logger { get; set; }

        /// <summary>Lifetime of each relay ticket (also bounds how long a side waits for the other).</summary>
        public TimeSpan TicketTimeToLive { get; set; } = TimeSpan.FromMinutes(10);

        /// <summary>How long to wait for a free relay slot when the workspace is at its cap (HTTP 429) before falling back (Auto) or failing (Relay).</summary>
        public TimeSpan CapacityWait { get; set; } = TimeSpan.FromSeconds(10);

        /// <summary>Added to the environment of the relay's helper processes (curl, tar) on the source / destination.</summary>
        public IDictionary<string, string>? SourceEnvironment { get; set; }
        public IDictionary<string, string>? DestinationEnvironment { get; set; }

        /// <summary>Each file copied (pump path into a folder tree: every file, then the folder).</summary>
        public Action<CopyResult>? OnResult { get; set; }

        /// <summary>Per-file failures inside a pumped tree (the rest continue); null = they are thrown.</summary>
        public Action<Exception, string>? OnItemError { get; set; }

        /// <summary>Test hook: runs after a ticket is minted, before the executors use it.</summary>
        internal Func<RelayTicketInfo, Task>? OnTicketMinted { get; set; }

        /// <summary>Test hook: mint tickets with this max_bytes instead of the file size.</summary>
        internal long? TicketMaxBytesOverride { get; set; }
    }

    /// <summary>The outcome of one cross-executor copy.</summary>
    public sealed class CrossExecutorCopyResult
    {
        public CrossExecutorCopyResult(CopyResult result, CopyTransport transport, string? fallbackReason)
        {
            Result = result;
            Transport = transport;
            FallbackReason = fallbackReason;
        }

        /// <summary>The copied file, or the folder (IsDirectory) for -Recurse.</summary>
        public CopyResult Result { get; }

        /// <summary>Relay or Pump: what actually moved the bytes.</summary>
        public CopyTransport Transport { get; }

        /// <summary>Why Auto did not relay (null when it did, or when Pump was asked for).</summary>
        public string? FallbackReason { get; }
    }

    /// <summary>
    /// Copies a file or folder from one executor to another. Relay: the executors move the bytes themselves with
    /// curl through a single-use gateway ticket (folders as one tar stream), verified by byte count and SHA-256,
    /// then renamed into place. Pump: the bytes stream through this client (CopyEngine with a RemoteStore on each
    /// side). Auto relays when it can and pumps otherwise, saying why in the log. On failure the destination is
    /// untouched and no partial is left.
    /// </summary>
    public static class CrossExecutorCopy
    {
        public static async Task<CrossExecutorCopyResult> CopyAsync(ExecutorClient source, string sourcePath, ExecutorClient destination,
            string destinationPath, CrossExecutorCopyOptions options, CancellationToken ct)
        {
            if (source == null) throw new ArgumentNullException(nameof(source));
            if (destination == null) throw new ArgumentNullException(nameof(destination));
            if (options == null) throw new ArgumentNullException(nameof(options));
            var log = options.Logger ?? Logging.QueueLogger.Instance;
            var from = new RemoteStore(source);
            var to = new RemoteStore(destination);

            // Checks shared by both transports (same rules as CopyEngine.CopyItemAsync).
            var item = await from.GetItemAsync(sourcePath, ct).ConfigureAwait(false)
                       ?? throw new ExecBridgeException(ExecBridgeErrorKind.RemotePathNotFound,
                           $"Remote path '{sourcePath}' does not exist on executor '{source.ExecutorId}'.");
            if (item.IsDirectory && !options.Recurse)
                throw new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument, $"'{sourcePath}' is a folder; use -Recurse to copy folders.");
            var target = await CopyEngine.ResolveTargetAsync(to, destinationPath, item.Name, ct).ConfigureAwait(false);
            var existing = await to.GetItemAsync(target, ct).ConfigureAwait(false);
            CopyEngine.CheckExistingDestination(existing?.IsDirectory, item.IsDirectory, options.Force, target, $" on executor '{destination.ExecutorId}'");

            string? fallback = null;
            if (options.Transport != CopyTransport.Pump)
            {
                var relayed = await TryRelayAsync(source, item, destination, target, existing != null, options, ct).ConfigureAwait(false);
                if (relayed.Result != null)
                {
                    options.OnResult?.Invoke(relayed.Result);
                    return new CrossExecutorCopyResult(relayed.Result, CopyTransport.Relay, null);
                }
                fallback = relayed.Reason;
                Log(log, $"Falling back to pumping the bytes through this client: {fallback}");
            }
            else
            {
                Log(log, $"Pumping '{source.ExecutorId}:{item.Path}' to '{destination.ExecutorId}:{target}' through this client.");
            }

            var result = await PumpAsync(from, item, to, target, destinationPath, options, ct).ConfigureAwait(false);
            return new CrossExecutorCopyResult(result, CopyTransport.Pump, fallback);
        }

        /// <summary>Result set when relayed; Reason set when Auto should pump instead. Throws for real failures.</summary>
        private static async Task<(CopyResult? Result, string? Reason)> TryRelayAsync(ExecutorClient source, StoreItem item, ExecutorClient destination,
            string target, bool targetExists, CrossExecutorCopyOptions options, CancellationToken ct)
        {
            bool auto = options.Transport == CopyTransport.Auto;
            var settings = options.RelaySettings;
            if (settings == null)
            {
                if (auto) return (null, "no relay settings in this session (Set-ExecBridgeRelay).");
                throw new ExecBridgeException(ExecBridgeErrorKind.RelayNotConfigured,
                    "-Transport Relay needs relay settings: run Set-ExecBridgeRelay -InternalUri … -WorkspaceId … -Secret … first.");
            }
            var relay = new RelayTransfer(source, destination, options);
            try
            {
                await relay.EnsureCurlAsync(ct).ConfigureAwait(false);
                if (item.IsDirectory)
                    return (await relay.CopyFolderAsync(settings, item.Path, target, targetExists, options.Progress, ct).ConfigureAwait(false), null);

                long length = item.Length ?? 0;
                options.Progress.AddPlanned(length, 1);
                RelayTicketInfo ticket;
                try
                {
                    ticket = await relay.MintAsync(settings, options.TicketMaxBytesOverride ?? length, ct).ConfigureAwait(false);
                    (options.Logger ?? Logging.QueueLogger.Instance).LogDebug("Minted relay ticket {Ticket} for {Source} -> {Destination}", ticket.MaskedTicket, source.ExecutorId, destination.ExecutorId);
                }
                catch
                {
                    options.Progress.AddPlanned(-length, -1);
                    throw;
                }
                try
                {
                    return (await relay.CopyFileAsync(ticket, item.Path, length, target, options.Progress, ct).ConfigureAwait(false), null);
                }
                catch (RelayToolMissingException)
                {
                    options.Progress.AddPlanned(-length, -1);
                    throw;
                }
            }
            catch (RelayToolMissingException ex) when (auto)
            {
                return (null, $"curl is missing on executor '{ex.ExecutorId}' (exit 127).");
            }
            catch (RelayApiException ex) when (auto && ex.IsNotConfigured)
            {
                return (null, "relay is not configured on the gateway (HTTP 503).");
            }
            catch (RelayApiException ex) when (auto && ex.IsCapacityExceeded)
            {
                return (null, $"the workspace still had the maximum number of active relays (HTTP 429) after waiting {options.CapacityWait.TotalSeconds:0.#} s.");
            }
        }

        private static async Task<CopyResult> PumpAsync(RemoteStore from, StoreItem item, RemoteStore to, string target, string destinationPath,
            CrossExecutorCopyOptions options, CancellationToken ct)
        {
            var progress = options.Progress;
            if (!item.IsDirectory)
            {
                progress.AddPlanned(item.Length ?? 0, 1);
                var r = await CopyEngine.CopyFileAsync(from.OpenSource(item.Path), from.Name, to.CreateSink(target, options.Force), to.Name, progress, ct)
                    .ConfigureAwait(false);
                options.OnResult?.Invoke(r);
                return r;
            }
            CopyResult? folder = null;
            var errors = new List<(Exception, string)>();
            // CopyItemAsync resolves the target itself (same rules as above), so it gets the path as given.
            await CopyEngine.CopyItemAsync(from, item.Path, to, destinationPath, new CopyOptions { Recurse = true, Force = options.Force }, progress,
                r =>
                {
                    if (r.IsDirectory && r.Source == item.Path) folder = r;
                    options.OnResult?.Invoke(r);
                },
                (ex, path) =>
                {
                    if (options.OnItemError != null) options.OnItemError(ex, path);
                    else errors.Add((ex, path));
                }, ct).ConfigureAwait(false);
            if (errors.Count > 0) throw errors[0].Item1;
            return folder ?? new CopyResult(item.Path, from.Name, target, to.Name, true, 0, null, progress.Elapsed);
        }

        private static void Log(ILogger? log, string message) => log?.LogInformation("{Message}", message);
    }
}
