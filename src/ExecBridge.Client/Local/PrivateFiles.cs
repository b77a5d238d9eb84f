using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace ExecBridge.Client.Local
{
    /// <summary>
    /// A folder only we can enter and a file only we can read, private from the moment they exist: libc mkdir(0700)
    /// and open(O_CREAT|O_EXCL|O_NOFOLLOW, 0600) on Unix (umask can only take bits away), then checked with fstat/stat
    /// for owner and mode. Creating first and chmod-ing later leaves a window in which another user can read.
    /// </summary>
    internal static class PrivateFiles
    {
        private static bool IsLinux => RuntimeInformation.IsOSPlatform(OSPlatform.Linux);
        private static bool IsMac => RuntimeInformation.IsOSPlatform(OSPlatform.OSX);
        public static bool IsUnix => IsLinux || IsMac;

        public static void CreateDirectory(string path)
        {
            if (!IsUnix) { Directory.CreateDirectory(path); return; }
            if (mkdir(path, Convert.ToInt32("700", 8)) != 0)
                throw Failure($"Could not create the private folder '{path}'", Marshal.GetLastWin32Error());
            Verify(path, null, Convert.ToInt32("700", 8));
        }

        public static void WriteNewFile(string path, string content)
        {
            var bytes = new UTF8Encoding(false).GetBytes(content);
            if (!IsUnix)
            {
                using var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
                fs.Write(bytes, 0, bytes.Length);
                return;
            }
            using var handle = OpenNew(path, Convert.ToInt32("600", 8));
            Verify(path, (int)handle.DangerousGetHandle(), Convert.ToInt32("600", 8));
            using var stream = new FileStream(handle, FileAccess.Write);
            stream.Write(bytes, 0, bytes.Length);
        }

        /// <summary>A new file (never an existing one, never through a symlink) created with 'mode' at once (Unix only).</summary>
        public static SafeFileHandle OpenNew(string path, int mode)
        {
            // Values from <fcntl.h>; O_NOFOLLOW differs between x64 and arm64 Linux.
            int flags = IsMac
                ? 0x1 | 0x200 | 0x800 | 0x100 | 0x1000000
                : 0x1 | 0x40 | 0x80 | 0x80000 | (RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x8000 : 0x20000);
            int fd = open(path, flags, mode);
            if (fd < 0)
            {
                int errno = Marshal.GetLastWin32Error();
                throw errno == 13
                    ? new UnauthorizedAccessException($"Access to the path '{path}' is denied.")
                    : (Exception)new IOException($"Could not create '{path}' (errno {errno}).");
            }
            return new SafeFileHandle((IntPtr)fd, ownsHandle: true);
        }

        /// <summary>Mode bits (07777), owner and group of a file, where the stat layout is known (Linux x64/arm64).</summary>
        public static bool TryGetOwnerAndMode(string path, out int mode, out uint uid, out uint gid)
        {
            mode = 0; uid = gid = 0;
            if (!IsLinux) return false;
            bool arm = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
            if (!arm && RuntimeInformation.ProcessArchitecture != Architecture.X64) return false;
            var buf = new byte[256];
            try { if (stat(path, buf) != 0) return false; }
            catch (EntryPointNotFoundException) { return false; }
            mode = BitConverter.ToInt32(buf, arm ? 16 : 24) & Convert.ToInt32("7777", 8);
            uid = BitConverter.ToUInt32(buf, arm ? 24 : 28);
            gid = BitConverter.ToUInt32(buf, arm ? 28 : 32);
            return true;
        }

        /// <summary>Gives 'path' that owner (where allowed: root, or our own file to one of our groups) and mode.</summary>
        public static void SetOwnerAndMode(string path, int mode, uint uid, uint gid)
        {
            chown(path, uid, gid); // EPERM for another user's file without privilege: keep ours, as cp does
            chmod(path, mode);     // after chown, which clears set-id bits
        }

        /// <summary>chmod of a file this process just created (it cannot be refused; if it were, the file keeps the umask's mode).</summary>
        public static void SetMode(string path, int mode) => chmod(path, mode);

        /// <summary>This process's umask, read from /proc (umask(2) can only be read by setting it, racing other threads); 022 where unknown.</summary>
        public static int Umask()
        {
            try
            {
                foreach (var line in File.ReadLines("/proc/self/status"))
                    if (line.StartsWith("Umask:", StringComparison.Ordinal))
                        return Convert.ToInt32(line.Substring(6).Trim(), 8);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            return Convert.ToInt32("022", 8);
        }

        /// <summary>Ours and no group/other bits; where the stat layout is not known here, nothing is checked.</summary>
        private static void Verify(string path, int? fd, int expectedMode)
        {
            if (!IsLinux) return;
            var buf = new byte[256];
            int rc;
            try { rc = fd is int f ? fstat(f, buf) : stat(path, buf); }
            catch (EntryPointNotFoundException) { return; } // glibc before 2.33 exports only __fxstat
            if (rc != 0) throw Failure($"Could not check '{path}'", Marshal.GetLastWin32Error());
            bool arm = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
            if (!arm && RuntimeInformation.ProcessArchitecture != Architecture.X64) return;
            int mode = BitConverter.ToInt32(buf, arm ? 16 : 24);
            uint uid = BitConverter.ToUInt32(buf, arm ? 24 : 28);
            if (uid != geteuid() || (mode & Convert.ToInt32("777", 8) & ~expectedMode) != 0)
                throw new ExecBridgeException(ExecBridgeErrorKind.LocalServerFailed,
                    $"'{path}' is not private (mode {Convert.ToString(mode & 0xFFF, 8)}, owner {uid}); refusing to put a token there.");
        }

        private static ExecBridgeException Failure(string what, int errno) =>
            new ExecBridgeException(ExecBridgeErrorKind.LocalServerFailed, $"{what} (errno {errno}).");

        [DllImport("libc", SetLastError = true)] private static extern int mkdir(string path, int mode);
        [DllImport("libc", SetLastError = true)] private static extern int open(string path, int flags, int mode);
        [DllImport("libc", SetLastError = true)] private static extern int fstat(int fd, byte[] buf);
        [DllImport("libc", SetLastError = true)] private static extern int stat(string path, byte[] buf);
        [DllImport("libc")] private static extern uint geteuid();
        [DllImport("libc", SetLastError = true)] private static extern int chmod(string path, int mode);
        [DllImport("libc", SetLastError = true)] private static extern int chown(string path, uint uid, uint gid);
    }
}
