using System;
using System.Management.Automation;
using System.Net;
using ExecBridge.Client;
using ExecBridge.Client.Pool;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    // -GatewayUri with -ExecutorId a,b,c: every executor dialed at once (at most -ThrottleLimit at a time), each its own
    // WebSocket session. One failing executor is an error for that executor (target: its id); the others connect.
    public sealed partial class ConnectExecBridge
    {
        private sealed class Dialed
        {
            public Dialed(int index, ExecutorClient? client, Exception? error) { Index = index; Client = client; Error = error; }
            public int Index { get; }
            public ExecutorClient? Client { get; }
            public Exception? Error { get; }
        }

        private void ConnectMany(ConnectionPool pool, string[] ids)
        {
            var scheme = GatewayUri!.Scheme;
            if (scheme != "ws" && scheme != "wss")
            {
                var shown = AuthenticationFailedException.SafeUri(GatewayUri);
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{shown}' is not a ws:// or wss:// address."),
                    "InvalidExecutorUri", ErrorCategory.InvalidArgument, shown));
            }
            string? token = Token == null ? null : new NetworkCredential(string.Empty, Token).Password;
            var results = new Dialed?[ids.Length];
            int next = 0;
            using (var fan = new FanOut<string>(ThrottleLimit, StopToken))
            {
                fan.Start(ids, async (id, index, cancel) =>
                {
                    if (pool.TryGet(id, out _) && !Force)
                    {
                        fan.Post(new Dialed(index, null, new InvalidOperationException(
                            $"Executor '{id}' is already connected. Use -Force to replace it, or Disconnect-ExecBridge first.")));
                        return;
                    }
                    var client = new ExecutorClient(NewEndpoint(id, GatewayExecutorUri(id), token, "Gateway"));
                    try
                    {
                        await client.EnsureConnectedAsync(cancel).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        client.Dispose();
                        fan.Post(new Dialed(index, null, ex));
                        return;
                    }
                    fan.Post(new Dialed(index, client, null));
                });
                try
                {
                    while (!fan.IsDrained)
                    {
                        if (StopToken.IsCancellationRequested) throw new PipelineStoppedException();
                        if (!fan.TryTake(out var item, 50)) { FlushLog(); continue; }
                        if (!(item is Dialed d)) continue;
                        results[d.Index] = d;
                        // In the order given, as soon as the next one is known: $c[0] is the first id named.
                        while (next < ids.Length && results[next] != null) Report(pool, ids[next], results[next++]!);
                    }
                }
                finally
                {
                    fan.CancelAndWait(TimeSpan.FromSeconds(10));
                    // Stopped before their turn to be reported: not left connected behind the user's back.
                    while (fan.TryTake(out var late, 0)) if (late is Dialed d && d.Client != null) d.Client.Dispose();
                    for (int i = next; i < ids.Length; i++) results[i]?.Client?.Dispose();
                }
            }
        }

        private void Report(ConnectionPool pool, string id, Dialed dialed)
        {
            if (dialed.Client != null)
            {
                pool.Add(dialed.Client);
                WriteObject(new ExecBridgeConnection(dialed.Client));
                return;
            }
            var error = Unwrap(dialed.Error!);
            if (error is InvalidOperationException && !(error is ExecBridgeException))
                WriteError(new ErrorRecord(error, "ExecutorAlreadyConnected", ErrorCategory.ResourceExists, id));
            else if (error is OperationCanceledException && StopToken.IsCancellationRequested)
                throw new PipelineStoppedException();
            else
                WriteError(ErrorMapping.ToErrorRecord(error, id));
        }
    }
}
