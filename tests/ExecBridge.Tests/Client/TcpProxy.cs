using System;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Tests.Client
{
    /// <summary>
    /// A loopback TCP forwarder in front of a real server, so a test can cut live connections and refuse new
    /// ones for a while without killing the server (whose sessions and processes then survive).
    /// </summary>
    public sealed class TcpProxy : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly int _targetPort;
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly ConcurrentDictionary<TcpClient, TcpClient> _links = new ConcurrentDictionary<TcpClient, TcpClient>();
        private volatile bool _refusing;
        private int _refused;

        public TcpProxy(int targetPort)
        {
            _targetPort = targetPort;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = Task.Run(AcceptLoopAsync);
        }

        public int Port { get; }
        public Uri Uri => new Uri($"ws://127.0.0.1:{Port}");

        /// <summary>Connections refused (reset at once) while Refusing was set.</summary>
        public int RefusedCount => Volatile.Read(ref _refused);

        /// <summary>While true, new connections are reset as soon as they are accepted.</summary>
        public bool Refusing { get => _refusing; set => _refusing = value; }

        /// <summary>Resets every forwarded connection.</summary>
        public void CutAll()
        {
            foreach (var pair in _links)
            {
                Reset(pair.Key);
                Reset(pair.Value);
            }
            _links.Clear();
        }

        private static void Reset(TcpClient c)
        {
            try { c.Client.LingerState = new LingerOption(true, 0); c.Client.Close(0); } catch { }
            try { c.Dispose(); } catch { }
        }

        private async Task AcceptLoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient inbound;
                try { inbound = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch { return; }
                if (_refusing)
                {
                    Interlocked.Increment(ref _refused);
                    Reset(inbound);
                    continue;
                }
                _ = Task.Run(async () =>
                {
                    var outbound = new TcpClient();
                    try { await outbound.ConnectAsync(IPAddress.Loopback, _targetPort); }
                    catch { Reset(inbound); outbound.Dispose(); return; }
                    inbound.NoDelay = outbound.NoDelay = true;
                    _links[inbound] = outbound;
                    var a = PumpAsync(inbound, outbound);
                    var b = PumpAsync(outbound, inbound);
                    await Task.WhenAny(a, b);
                    _links.TryRemove(inbound, out _);
                    Reset(inbound);
                    Reset(outbound);
                });
            }
        }

        private static async Task PumpAsync(TcpClient from, TcpClient to)
        {
            var buffer = new byte[64 * 1024];
            try
            {
                var src = from.GetStream();
                var dst = to.GetStream();
                while (true)
                {
                    int n = await src.ReadAsync(buffer, 0, buffer.Length);
                    if (n == 0) return;
                    await dst.WriteAsync(buffer, 0, n);
                }
            }
            catch { }
        }

        public void Dispose()
        {
            _stop.Cancel();
            try { _listener.Stop(); } catch { }
            CutAll();
        }
    }
}
