using System;
using System.IO;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Rpc;
using ExecBridge.Tests.Client;
using Xunit;

namespace ExecBridge.Tests.Rpc
{
    public sealed class LegacyIdleReceiveBufferTests : IdleReceiveBufferTests, IClassFixture<LegacyServerFixture>
    {
        public LegacyIdleReceiveBufferTests(LegacyServerFixture f) : base(f) { }
    }

    public sealed class CurrentIdleReceiveBufferTests : IdleReceiveBufferTests, IClassFixture<CurrentServerFixture>
    {
        public CurrentIdleReceiveBufferTests(CurrentServerFixture f) : base(f) { }
    }

    /// <summary>
    /// An idle connection holds a small receive buffer (issue 19: one pwsh with 256 connections held 64 KiB in each),
    /// and a stream of large messages still gets a buffer the size of the last one. Real exec-servers, both dialects.
    /// </summary>
    public abstract class IdleReceiveBufferTests
    {
        private readonly ExecServerFixture _f;

        protected IdleReceiveBufferTests(ExecServerFixture f) => _f = f;

        [Fact]
        public async Task ConnectionIdlesOnASmallBufferAfterSmallAndAfterLargeMessages()
        {
            using var c = _f.NewClient();
            await c.EnsureConnectedAsync(CancellationToken.None);
            Assert.InRange(c.ReceiveBufferBytes, 1, 8 * 1024);

            // A 3 MiB read: its answers are large messages; the reader's buffer grows to hold them.
            var file = Path.Combine(Path.GetTempPath(), "eb-idle-buffer-" + Guid.NewGuid().ToString("N"));
            var bytes = RandomNumberGenerator.GetBytes(3 << 20);
            File.WriteAllBytes(file, bytes);
            try
            {
                using var ms = new MemoryStream();
                await c.ReadStreamAsync(file, 0, null, (m, _) => { ms.Write(m.Span); return Task.CompletedTask; }, CancellationToken.None);
                Assert.Equal(bytes, ms.ToArray());
                // The peak, not a sample: a sampler on a loaded machine missed the moments the large buffer was held.
                Assert.True(c.PeakReceiveBufferBytes > 64 * 1024, $"the reader never held more than {c.PeakReceiveBufferBytes} bytes during a 3 MiB read");

                // One small exchange later, the connection idles on a small buffer again.
                Assert.True((await c.GetMetadataAsync(file, CancellationToken.None)).IsFile);
                var deadline = DateTime.UtcNow.AddSeconds(5);
                while (c.ReceiveBufferBytes > RpcConnection.IdleReceiveBytes && DateTime.UtcNow < deadline) await Task.Delay(20);
                Assert.InRange(c.ReceiveBufferBytes, 1, 8 * 1024);
            }
            finally { File.Delete(file); }
        }
    }
}
