using System;
using System.Threading.Tasks;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Cmdlets
{
    /// <summary>One real exec-server per test class and dialect.</summary>
    public abstract class ServerFixture : IAsyncLifetime
    {
        protected ServerFixture(string version) => Version = version;

        public string Version { get; }
        public ExecServer Server { get; private set; } = null!;

        public async Task InitializeAsync() => Server = await ExecServer.StartAsync(Version);

        public Task DisposeAsync()
        {
            Server?.Dispose();
            return Task.CompletedTask;
        }
    }

    public sealed class LegacyServer : ServerFixture { public LegacyServer() : base(Peers.Legacy) { } }

    public sealed class CurrentServer : ServerFixture { public CurrentServer() : base(Peers.Current) { } }
}
