using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Client.Relay;
using ExecBridge.Tests.Gateway;
using ExecBridge.Tests.Infrastructure;

namespace ExecBridge.Bench
{
    /// <summary>
    /// W6: a file copied between two executors through the loopback gateway fixture (the tests' GatewayFixture,
    /// linked): Relay (the executors move the bytes with curl through a relay ticket) against Pump (the bytes
    /// stream through this client), through the client library and the cmdlets, and the curl limit (a local
    /// curl PUT and curl GET of the same file through /relay/&lt;ticket&gt; at once: what the relay itself can carry).
    /// </summary>
    internal sealed partial class Workloads
    {
        private const string ExeA = "w6-a";
        private const string ExeB = "w6-b";

        private GatewayFixture? _gateway;
        private ExecServer? _serverB;

        public async Task W6Async()
        {
            long size = _o.W6Bytes;
            string src = SourceFile(size);
            string label = $"W6 copy {size >> 20} MiB between executors via gateway";

            // Two executors (two real 0.169 servers) behind one gateway, dialed through /bridge/<id> with the workspace token.
            _serverB ??= await ExecServer.StartAsync(Peers.Current);
            if (_gateway == null)
            {
                _gateway = await GatewayFixture.StartNewAsync();
                _gateway.RegisterExecutor(ExeA, _server.Uri);
                _gateway.RegisterExecutor(ExeB, _serverB.Uri);
            }
            var g = _gateway;
            var settings = new RelaySettings(g.InternalBaseUri, g.WorkspaceId, g.InternalSecret);

            // ---- the curl limit: local curl PUT and curl GET through /relay/<ticket> at once ---------------------
            var curl = AddRow(label, "curl limit", MetricKind.Throughput);
            curl.Note = "local curl PUT + curl GET of the file through the fixture's /relay/<ticket> at once (ticket minted with RelayApiClient); the relay's own limit";
            using (var api = new RelayApiClient(settings))
            {
                await Run(curl, async run =>
                {
                    string dst = Path.Combine(_dir, "w6-curl.bin");
                    var ticket = await api.CreateTicketAsync(ExeA, ExeB, TimeSpan.FromMinutes(5), size, _ct);
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    var get = CurlAsync(CurlConfig(ticket.DownloadUri, ticket.Ticket, upload: null, output: dst));
                    var put = CurlAsync(CurlConfig(ticket.UploadUri, ticket.Ticket, upload: src, output: "/dev/null"));
                    var (putExit, putErr) = await put;
                    var (getExit, getErr) = await get;
                    sw.Stop();
                    if (putExit != 0 || getExit != 0)
                        throw new InvalidOperationException($"curl PUT exit {putExit} ({RelayTicketInfo.MaskAll(ticket.Scrub(putErr))}), GET exit {getExit} ({RelayTicketInfo.MaskAll(ticket.Scrub(getErr))})");
                    return Verify(Measure.Timed(sw, size), dst, size, run);
                });
            }

            // ---- the client library --------------------------------------------------------------------------------
            ExecutorClient Dial(string id)
            {
                var c = new ExecutorClient(new ExecutorEndpoint(id, g.BridgeUri(id), g.WorkspaceToken));
                c.EnsureConnectedAsync(_ct).GetAwaiter().GetResult();
                return c;
            }

            var pump = AddRow(label, "client (Pump)", MetricKind.Throughput, curl);
            pump.Note = "CrossExecutorCopy.CopyAsync -Transport Pump: readBlock on a, writeBlock on b through this client; sha256sum on both executors + mv";
            var relay = AddRow(label, "client (Relay)", MetricKind.Throughput, curl);
            relay.RatioTarget = 0.5;
            relay.Versus.Add(new VersusTarget(pump, 2.0, "Pump"));
            relay.Note = "CrossExecutorCopy.CopyAsync -Transport Relay: curl on both executors through a ticket, then sha256sum on both + mv";
            using (var a = Dial(ExeA))
            using (var b = Dial(ExeB))
            {
                Func<int, Task<RunResult>> Copy(CopyTransport transport, string dst) => async run =>
                {
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    var r = await CrossExecutorCopy.CopyAsync(a, src, b, dst, new CrossExecutorCopyOptions
                    {
                        Transport = transport,
                        RelaySettings = settings,
                        Force = true,
                        Logger = TraceLogger.IfEnabled(),
                    }, _ct);
                    sw.Stop();
                    if (r.Transport != transport) throw new InvalidOperationException($"asked for {transport}, the copy used {r.Transport}");
                    return Verify(Measure.Timed(sw, size), dst, size, run);
                };
                await Run(relay, Copy(CopyTransport.Relay, Path.Combine(_dir, "w6-client-relay.bin")));
                await Run(pump, Copy(CopyTransport.Pump, Path.Combine(_dir, "w6-client-pump.bin")));

                // Reference: the verification step of the Relay path alone (sha256sum of the file on both executors at once).
                var hashBoth = AddRow(label, "sha256sum on both executors at once (reference)", MetricKind.Throughput, curl);
                hashBoth.Note = "ExecutorClient.Sha256Async on a and b concurrently: the hash step Relay runs after its transfer";
                await Run(hashBoth, async _ =>
                {
                    var sw = Stopwatch.StartNew();
                    var ha = a.Sha256Async(src, _ct);
                    var hb = b.Sha256Async(src, _ct);
                    await Task.WhenAll(ha, hb);
                    sw.Stop();
                    if (!string.Equals(ha.Result, _sourceSha, StringComparison.OrdinalIgnoreCase) || !string.Equals(hb.Result, _sourceSha, StringComparison.OrdinalIgnoreCase))
                        throw new InvalidOperationException("an executor's sha256sum disagrees with the source hash");
                    return Measure.Timed(sw, size);
                });
            }

            // ---- the cmdlets ------------------------------------------------------------------------------------------
            var cmdPump = AddRow(label, "cmdlets (Pump)", MetricKind.Throughput, curl);
            var cmdRelay = AddRow(label, "cmdlets (Relay)", MetricKind.Throughput, curl);
            cmdRelay.RatioTarget = 0.5;
            cmdRelay.Versus.Add(new VersusTarget(cmdPump, 2.0, "Pump"));
            if (!Ps.HasCommand("Set-ExecBridgeRelay") || !Ps.HasParameter("Copy-RemoteItem", "Transport"))
            {
                cmdRelay.NotAvailable = cmdPump.NotAvailable = NotImplemented + ": Copy-RemoteItem -Transport / Set-ExecBridgeRelay";
            }
            else
            {
                Ps.Run(@"$tok = [System.Net.NetworkCredential]::new('', $args[1]).SecurePassword
                    $null = Connect-ExecBridge -GatewayUri $args[0] -ExecutorId $args[2] -Token $tok -Force
                    $null = Connect-ExecBridge -GatewayUri $args[0] -ExecutorId $args[3] -Token $tok -Force
                    $sec = [System.Net.NetworkCredential]::new('', $args[6]).SecurePassword
                    Set-ExecBridgeRelay -InternalUri $args[4] -WorkspaceId $args[5] -Secret $sec",
                    g.BridgeBaseUri, g.WorkspaceToken, ExeA, ExeB, g.InternalBaseUri, g.WorkspaceId, g.InternalSecret);
                Func<int, Task<RunResult>> CmdCopy(string transport, string dst) => run =>
                {
                    Fresh(dst);
                    var sw = Stopwatch.StartNew();
                    Ps.Run("param($s, $d, $t, $a, $b) $null = Copy-RemoteItem -FromExecutor $a -Path $s -ToExecutor $b -Destination $d -Transport $t -Force",
                        src, dst, transport, ExeA, ExeB);
                    sw.Stop();
                    return Task.FromResult(Verify(Measure.Timed(sw, size), dst, size, run));
                };
                cmdRelay.Note = "Copy-RemoteItem -FromExecutor a -ToExecutor b -Transport Relay -Force (Connect-ExecBridge -GatewayUri, Set-ExecBridgeRelay)";
                cmdPump.Note = "Copy-RemoteItem -FromExecutor a -ToExecutor b -Transport Pump -Force";
                await Run(cmdRelay, CmdCopy("Relay", Path.Combine(_dir, "w6-cmd-relay.bin")));
                await Run(cmdPump, CmdCopy("Pump", Path.Combine(_dir, "w6-cmd-pump.bin")));
            }

            // ---- reference: what the integrity check costs (both transports hash the whole file with sha256sum) --------
            var hash = AddRow(label, "sha256sum of the file (local, reference)", MetricKind.Throughput, curl);
            hash.Note = "one local sha256sum of the same file: the verification both transports do after (Relay) or beside (Pump) the transfer";
            await Run(hash, async _ =>
            {
                var sw = Stopwatch.StartNew();
                using (var p = Process.Start(new ProcessStartInfo("sha256sum") { ArgumentList = { src }, RedirectStandardOutput = true, UseShellExecute = false })!)
                {
                    var output = await p.StandardOutput.ReadToEndAsync();
                    await p.WaitForExitAsync(_ct);
                    if (p.ExitCode != 0) throw new InvalidOperationException("sha256sum failed");
                    if (!output.StartsWith(_sourceSha!, StringComparison.OrdinalIgnoreCase)) throw new InvalidOperationException("sha256sum disagrees with the source hash");
                }
                sw.Stop();
                return Measure.Timed(sw, size);
            });
        }

        /// <summary>A curl config (read from stdin: the ticket never goes on a command line).</summary>
        private static string CurlConfig(Uri url, string ticket, string? upload, string output)
        {
            var sb = new StringBuilder();
            sb.Append("url = \"").Append(url.AbsoluteUri).Append("\"\n");
            sb.Append("header = \"Authorization: Bearer ").Append(ticket).Append("\"\n");
            if (upload != null) sb.Append("upload-file = \"").Append(upload).Append("\"\nheader = \"Expect:\"\n");
            sb.Append("output = \"").Append(output).Append("\"\n");
            sb.Append("fail\nsilent\nshow-error\n");
            return sb.ToString();
        }

        private static async Task<(int Exit, string Stderr)> CurlAsync(string config)
        {
            var psi = new ProcessStartInfo("curl") { RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add("-q");
            psi.ArgumentList.Add("-K");
            psi.ArgumentList.Add("-");
            using var p = Process.Start(psi)!;
            await p.StandardInput.WriteAsync(config);
            p.StandardInput.Close();
            var err = p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            return (p.ExitCode, (await err).Trim());
        }

        private void DisposeExtras()
        {
            try { _gateway?.Dispose(); } catch { }
            _serverB?.Dispose();
            _legacy?.Dispose();
            DisposeScale();
        }
    }
}
