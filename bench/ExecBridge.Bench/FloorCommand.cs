using System;
using System.Collections.Concurrent;
using System.Management.Automation;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Bench
{
    /// <summary>
    /// THE FLOOR IN A POWERSHELL COMMAND (W3/W4 reference rows): a compiled cmdlet of the bench, not of the module,
    /// that makes the floor's fs/getMetadata call and blocks its pipeline thread until the answer is in, as every
    /// cmdlet must, then writes one object. Against it, the cmdlet rows show what the module adds over what any
    /// PowerShell command making the same call pays: command invocation, parameter binding, a blocked pipeline thread.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Invoke, "BenchFloorGetMetadata")]
    public sealed class InvokeBenchFloorGetMetadata : PSCmdlet
    {
        /// <summary>The wire path (file URI).</summary>
        [Parameter(Mandatory = true, Position = 0)]
        public string Path { get; set; } = "";

        /// <summary>A FloorDispatcher (typed object: the bench's own types are internal).</summary>
        [Parameter(Mandatory = true)]
        public object Floor { get; set; } = null!;

        protected override void ProcessRecord()
        {
            var floor = (FloorDispatcher)Floor;
            floor.GetMetadataAsync(Path).GetAwaiter().GetResult();
            WriteObject(true);
        }
    }

    /// <summary>
    /// The least a connection shared by blocking callers needs: a send lock, a pending table, one reader that completes
    /// the waiting caller's task. Over the floor's BareClient; nothing else (no pool, no object model, no timeouts).
    /// </summary>
    internal sealed class FloorDispatcher : IDisposable
    {
        private readonly BareClient _bare;
        private readonly SemaphoreSlim _send = new SemaphoreSlim(1, 1);
        private readonly ConcurrentDictionary<long, TaskCompletionSource<bool>> _pending = new ConcurrentDictionary<long, TaskCompletionSource<bool>>();
        private readonly Task _reader;

        private FloorDispatcher(BareClient bare)
        {
            _bare = bare;
            _reader = Task.Run(ReadAsync);
        }

        public static async Task<FloorDispatcher> ConnectAsync(Uri uri) => new FloorDispatcher(await BareClient.ConnectAsync(uri, CancellationToken.None));

        public async Task GetMetadataAsync(string wire)
        {
            var done = new TaskCompletionSource<bool>();
            await _send.WaitAsync();
            try
            {
                // Registered before the request leaves, so the answer always finds its caller.
                _pending[_bare.NextId] = done;
                await _bare.SendAsync("fs/getMetadata", w => { w.WriteStartObject(); w.WriteString("path", wire); w.WriteEndObject(); }, CancellationToken.None);
            }
            finally
            {
                _send.Release();
            }
            if (!await done.Task) throw new InvalidOperationException("fs/getMetadata failed");
        }

        private async Task ReadAsync()
        {
            try
            {
                while (true)
                {
                    var mem = await _bare.ReceiveAsync(CancellationToken.None);
                    var f = BareClient.Parse(mem.Span);
                    if (f.Id >= 0 && _pending.TryRemove(f.Id, out var waiter)) waiter.SetResult(!f.IsError);
                }
            }
            catch (Exception ex)
            {
                foreach (var p in _pending) p.Value.TrySetException(ex);
            }
        }

        public void Dispose()
        {
            _bare.Dispose();
            try { _reader.Wait(TimeSpan.FromSeconds(5)); } catch { }
        }
    }
}
