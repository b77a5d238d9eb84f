using System;
using System.Runtime.InteropServices;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// The local terminal in raw mode (Linux/macOS): termios via libc (tcgetattr/cfmakeraw/tcsetattr on fd 0) and
    /// keystroke bytes read straight from fd 0 with poll+read, so every byte a terminal sends (Ctrl+C 0x03, Ctrl+Z
    /// 0x1a, Ctrl+D 0x04, ESC [ A, function keys, Tab) reaches the remote program unchanged, and a reader can stop
    /// within one poll interval without leaving a read pending that would steal the next keystroke from PSReadLine.
    /// Console.OpenStandardInput is no use here: on a terminal .NET reads it line by line through its own editor.
    /// The saved termios state is restored exactly, so .NET's cached terminal settings stay true.
    /// </summary>
    internal sealed class RawConsole : IDisposable
    {
        // struct termios is 60 bytes on Linux glibc/musl and 72 on macOS; cfmakeraw and tc[gs]etattr treat it as a whole,
        // so an opaque, generously sized buffer is all that is needed.
        private const int TermiosSize = 256;
        private const int StdinFd = 0;
        private const int StdoutFd = 1;
        private const short PollIn = 0x1;
        private const short PollErr = 0x8, PollHup = 0x10, PollNval = 0x20;
        private const int EINTR = 4, EAGAIN = 11;

        private readonly byte[] _saved;
        private bool _restored;

        private RawConsole(byte[] saved) => _saved = saved;

        /// <summary>Null when stdin and stdout are an interactive terminal on a supported platform; else why not (and which stream).</summary>
        public static string? WhyNotInteractive(out string target)
        {
            target = "stdin";
            if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) && !RuntimeInformation.IsOSPlatform(OSPlatform.OSX))
                return "Enter-RemoteShell needs a Linux or macOS terminal (raw mode is done with termios).";
            try
            {
                if (Console.IsInputRedirected || isatty(StdinFd) != 1) return "Standard input is not a terminal (it is redirected).";
                if (Console.IsOutputRedirected || isatty(StdoutFd) != 1) { target = "stdout"; return "Standard output is not a terminal (it is redirected)."; }
                var probe = new byte[TermiosSize];
                if (tcgetattr(StdinFd, probe) != 0) return $"The terminal settings cannot be read (errno {Marshal.GetLastWin32Error()}).";
            }
            catch (Exception ex) when (ex is DllNotFoundException || ex is EntryPointNotFoundException)
            {
                return "The C library functions for terminal control (tcgetattr) are not available: " + ex.Message;
            }
            return null;
        }

        /// <summary>Saves the terminal state and switches it to raw (no echo, no line editing, no signals, no output processing).</summary>
        public static RawConsole Enter()
        {
            var saved = new byte[TermiosSize];
            if (tcgetattr(StdinFd, saved) != 0)
                throw new InvalidOperationException($"tcgetattr failed (errno {Marshal.GetLastWin32Error()}).");
            var raw = (byte[])saved.Clone();
            cfmakeraw(raw);
            // TCSAFLUSH would drop type-ahead; TCSADRAIN lets pending output finish and keeps what was typed.
            if (tcsetattr(StdinFd, TCSADRAIN, raw) != 0)
                throw new InvalidOperationException($"tcsetattr failed (errno {Marshal.GetLastWin32Error()}).");
            return new RawConsole(saved);
        }

        private const int TCSADRAIN = 1;

        /// <summary>
        /// Waits up to timeoutMs for keystrokes and reads what is there. Returns the byte count, 0 on timeout, -1 when the
        /// terminal is gone (hang-up, closed).
        /// </summary>
        public static int Read(byte[] buffer, int timeoutMs)
        {
            var fds = new PollFd[] { new PollFd { fd = StdinFd, events = PollIn } };
            int r = poll(fds, 1, timeoutMs);
            if (r < 0) return Marshal.GetLastWin32Error() == EINTR ? 0 : -1;
            if (r == 0) return 0;
            if ((fds[0].revents & PollIn) == 0 && (fds[0].revents & (PollErr | PollHup | PollNval)) != 0) return -1;
            long n = (long)read(StdinFd, buffer, (IntPtr)buffer.Length);
            if (n < 0)
            {
                int errno = Marshal.GetLastWin32Error();
                return errno == EINTR || errno == EAGAIN ? 0 : -1;
            }
            return n == 0 ? -1 : (int)n;
        }

        /// <summary>Puts back the saved terminal state; idempotent, never throws.</summary>
        public void Restore()
        {
            if (_restored) return;
            _restored = true;
            try { tcsetattr(StdinFd, TCSADRAIN, _saved); } catch { }
        }

        public void Dispose() => Restore();

        [StructLayout(LayoutKind.Sequential)]
        private struct PollFd
        {
            public int fd;
            public short events;
            public short revents;
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int isatty(int fd);

        [DllImport("libc", SetLastError = true)]
        private static extern int tcgetattr(int fd, [Out] byte[] termios);

        [DllImport("libc", SetLastError = true)]
        private static extern int tcsetattr(int fd, int optionalActions, byte[] termios);

        [DllImport("libc", SetLastError = true)]
        private static extern void cfmakeraw([In, Out] byte[] termios);

        [DllImport("libc", SetLastError = true)]
        private static extern int poll([In, Out] PollFd[] fds, uint nfds, int timeout);

        [DllImport("libc", SetLastError = true)]
        private static extern IntPtr read(int fd, [Out] byte[] buffer, IntPtr count);
    }
}
