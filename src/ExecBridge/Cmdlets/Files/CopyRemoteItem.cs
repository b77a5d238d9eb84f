using System;
using System.Collections.Concurrent;
using System.Management.Automation;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Client.Relay;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>
    /// <para type="synopsis">Copies files and folders within an executor, from an executor to this machine, or from this machine to an executor.</para>
    /// <para type="description">
    /// Direction: -FromExecutor X: -Path is on executor X, -Destination is local. -ToExecutor X: -Path is local,
    /// -Destination is on executor X. Neither: both are on the one executor (-ExecutorId / -Connection / the single
    /// connection), copied there by fs/copy. Both: executor to executor, by -Transport: Relay (the executors move the
    /// bytes between them with curl through a gateway relay ticket; needs Set-ExecBridgeRelay), Pump (the bytes stream
    /// through this machine), or Auto (Relay when relay settings exist, Pump when the relay is not configured, curl is
    /// missing on either side or all 16 relays stay busy; -Verbose says which and why).
    /// An existing folder as -Destination receives the item inside it (like Copy-Item). An existing destination
    /// file is only replaced with -Force; folders need -Recurse. Every file is streamed with bounded memory, checked
    /// with SHA-256 on both ends and written to a .partial file renamed into place, so a failed or cancelled copy
    /// never leaves a truncated file.
    /// Several executors (-ToExecutor a,b / -FromExecutor web-*): a local source is copied to -Destination on each of them;
    /// items from several executors land in &lt;Destination&gt;/&lt;ExecutorId&gt;/ on this machine. At most -ThrottleLimit
    /// executors are copied at once; one failing executor never stops the others. -AsJob runs the copy as a job.
    /// </para>
    /// </summary>
    [Cmdlet(VerbsCommon.Copy, "RemoteItem", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(RemoteCopyResult))]
    [OutputType(typeof(ExecBridgeJob))]
    public sealed partial class CopyRemoteItem : FileFanOutCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName")]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = Array.Empty<string>();

        [Parameter(Mandatory = true, Position = 1)]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string Destination { get; set; } = "";

        // Names or wildcards, matched against connected executors.
        [Parameter]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[]? FromExecutor { get; set; }

        [Parameter]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[]? ToExecutor { get; set; }

        [Parameter]
        public ExecBridge.CopyTransport Transport { get; set; } = ExecBridge.CopyTransport.Auto;

        [Parameter]
        public SwitchParameter Recurse { get; set; }

        [Parameter]
        public SwitchParameter Force { get; set; }

        [Parameter]
        public SwitchParameter PassThru { get; set; }

        [Parameter]
        [ValidateRange(1, 4096)]
        public int ThrottleLimit { get; set; } = 32;

        [Parameter]
        public SwitchParameter AsJob { get; set; }

        protected override void BeginProcessing()
        {
            base.BeginProcessing();
            if ((FromExecutor != null || ToExecutor != null) && (ExecutorId != null || Connection != null))
                ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                    "Use either -FromExecutor/-ToExecutor (copies to or from this machine) or -ExecutorId/-Connection (copy within one executor), not both."),
                    "ConflictingExecutor", ErrorCategory.InvalidArgument, null));
            BeginFanOut();
        }

        protected override void ProcessRecord()
        {
            if (_fanOut != null)
            {
                CollectSources();
                return;
            }
            IItemStore from, to;
            string destination;
            ExecutorClient? within = null;
            if (FromExecutor == null && ToExecutor == null)
            {
                within = ResolveClient();
                from = to = new RemoteStore(within);
                try { destination = ResolveRemote(within, Destination); }
                catch (Exception ex) when (IsClientFailure(ex)) { ThrowFailure(ex, Destination); return; }
            }
            else
            {
                from = FromExecutor != null ? new RemoteStore(ResolveClient(FromExecutor?[0], null)) : (IItemStore)LocalStore.Instance;
                to = ToExecutor != null ? new RemoteStore(ResolveClient(ToExecutor?[0], null)) : (IItemStore)LocalStore.Instance;
                try
                {
                    destination = to.IsLocal ? ResolveLocalPath(Destination) : ResolveRemote(ResolveClient(ToExecutor?[0], null), Destination);
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    ThrowFailure(ex, Destination);
                    return;
                }
            }
            var options = new CopyOptions { Recurse = Recurse, Force = Force };

            foreach (var raw in Path)
            {
                try
                {
                    var source = from.IsLocal ? ResolveLocalPath(raw) : ResolveRemote(within ?? ResolveClient(FromExecutor?[0], null), raw);
                    string what = $"{Describe(from, source)} to {Describe(to, destination)}";
                    if (!ShouldProcess(what, "Copy")) continue;
                    var progress = new TransferProgress();
                    var outputs = new ConcurrentQueue<object>();
                    var errors = new ConcurrentQueue<(Exception, object)>();
                    Task task;
                    if (!from.IsLocal && !to.IsLocal && within == null)
                    {
                        var fromClient = ResolveClient(FromExecutor?[0], null);
                        var toClient = ResolveClient(ToExecutor?[0], null);
                        var crossOptions = new CrossExecutorCopyOptions
                        {
                            Transport = (ExecBridge.Client.Copy.CopyTransport)(int)Transport,
                            Recurse = Recurse,
                            Force = Force,
                            RelaySettings = SessionPool.Current.RelaySettings as RelaySettings,
                            Progress = progress,
                            OnResult = r => { if (PassThru) outputs.Enqueue(r); },
                            OnItemError = (e, p) => errors.Enqueue((e, p)),
                        };
                        task = Task.Run(() => CrossExecutorCopy.CopyAsync(fromClient, source, toClient, destination, crossOptions, StopToken));
                    }
                    else if (within != null)
                    {
                        task = Task.Run(async () =>
                        {
                            var r = await WithinExecutorCopy.CopyAsync(within, source, destination, options, progress, StopToken).ConfigureAwait(false);
                            if (PassThru) outputs.Enqueue(r);
                        });
                    }
                    else
                    {
                        task = Task.Run(() => CopyEngine.CopyItemAsync(from, source, to, destination, options, progress,
                            r => { if (PassThru) outputs.Enqueue(r); },
                            (e, p) => errors.Enqueue((e, p)), StopToken));
                    }
                    RunTransfer(task, progress, $"Copying {what}", outputs, errors);
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    WriteFailure(ex, raw);
                }
            }
        }

        private static string Describe(IItemStore store, string path) => store.IsLocal ? $"'{path}'" : $"'{path}' on executor '{store.Name}'";
    }
}
