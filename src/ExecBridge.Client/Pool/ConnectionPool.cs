using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using Microsoft.Extensions.Logging;

namespace ExecBridge.Client.Pool
{
    /// <summary>
    /// One client per executor id, dialed on first use and redialed when its connection closes.
    /// Thread-safe, so parallel runspaces that hold the same pool or client share one connection.
    /// </summary>
    public sealed class ConnectionPool : IDisposable
    {
        private readonly ConcurrentDictionary<string, ExecutorClient> _clients =
            new ConcurrentDictionary<string, ExecutorClient>(StringComparer.OrdinalIgnoreCase);

        public IReadOnlyList<ExecutorClient> Clients => _clients.Values.OrderBy(c => c.ExecutorId, StringComparer.OrdinalIgnoreCase).ToList();

        public int Count => _clients.Count;

        /// <summary>Relay settings given once per session (gateway issue).</summary>
        public object? RelaySettings { get; set; }

        /// <summary>Registers an executor; a previous client with the same id is closed first.</summary>
        public ExecutorClient Add(ExecutorClient client)
        {
            _clients.AddOrUpdate(client.ExecutorId, client, (_, old) => { if (!ReferenceEquals(old, client)) old.Dispose(); return client; });
            return client;
        }

        public bool TryGet(string executorId, out ExecutorClient client) => _clients.TryGetValue(executorId, out client!);

        public bool Remove(ExecutorClient client)
        {
            bool removed = ((ICollection<KeyValuePair<string, ExecutorClient>>)_clients)
                .Remove(new KeyValuePair<string, ExecutorClient>(client.ExecutorId, client));
            client.Dispose();
            return removed;
        }

        public void Dispose()
        {
            foreach (var id in _clients.Keys.ToList())
                if (_clients.TryRemove(id, out var c)) c.Dispose();
        }
    }
}
