using System;
using System.IO;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Client.Rpc
{
    /// <summary>
    /// The plain ws:// stream with TCP_QUICKACK re-armed before every read (Linux). The exec-server answers a request and
    /// then pushes the notification it caused (process/write, then the echo's process/output) as two small segments; it
    /// does not disable Nagle, so the second waits for our ACK of the first, and a delayed ACK holds it ~40 ms. Measured
    /// on loopback (codex 0.169): write -> output notification 44 ms without quick ACKs, 0.14 ms with them. Linux clears
    /// the flag on its own, hence the re-arm per read (one setsockopt). Elsewhere, or if the call fails once, it is a
    /// plain pass-through. EXECBRIDGE_QUICKACK=0 in the environment (read at each dial) turns it off for the connections
    /// dialed from then on: only so the benchmark can time both in one run (bench/README.md, W9).
    /// </summary>
    internal sealed class QuickAckStream : Stream
    {
        private const int IPPROTO_TCP = 6, TCP_QUICKACK = 12;
        private static bool s_disabled = !RuntimeInformation.IsOSPlatform(OSPlatform.Linux);
        private readonly NetworkStream _inner;
        private readonly Socket _socket;
        private readonly bool _off;

        public QuickAckStream(NetworkStream inner, Socket socket)
        {
            _inner = inner;
            _socket = socket;
            _off = Environment.GetEnvironmentVariable(DisableVariable) == "0";
        }

        internal const string DisableVariable = "EXECBRIDGE_QUICKACK";

        /// <summary>Whether this connection re-arms quick ACKs (false: not Linux, the call failed, or turned off for the bench).</summary>
        internal bool IsArming => !_off && !s_disabled;

        private void Arm()
        {
            if (_off || s_disabled) return;
            try
            {
                int one = 1;
                if (setsockopt((int)_socket.Handle, IPPROTO_TCP, TCP_QUICKACK, ref one, sizeof(int)) != 0 && Marshal.GetLastWin32Error() != 9 /* EBADF: closing */)
                    s_disabled = true;
            }
            catch (ObjectDisposedException) { }
            catch (Exception ex) when (ex is DllNotFoundException || ex is EntryPointNotFoundException) { s_disabled = true; }
        }

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Arm();
            int n = await _inner.ReadAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
            // And once the bytes are in: the ACK for them is then scheduled (delayed), and arming sends it now.
            if (n > 0) Arm();
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            Arm();
            int n = _inner.Read(buffer, offset, count);
            if (n > 0) Arm();
            return n;
        }

        // Re-armed after every write too: the reader's read is already pending when a request goes out, and sending
        // puts Linux back into delayed-ACK ("pingpong") mode, so the answer to that request was ACKed late and the
        // notifications queued behind it waited ~40 ms (sequential `echo hi`: start answered at 17 ms, closed at 65).
        public override async Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            await _inner.WriteAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
            Arm();
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            _inner.Write(buffer, offset, count);
            Arm();
        }
        public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);
        public override void Flush() => _inner.Flush();
        public override bool CanRead => _inner.CanRead;
        public override bool CanWrite => _inner.CanWrite;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _inner.Dispose();
            base.Dispose(disposing);
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int setsockopt(int sockfd, int level, int optname, ref int optval, int optlen);
    }
}
