using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace ExecBridge.Tests.Infrastructure
{
    /// <summary>Reads Linux /proc: parents, process groups, sessions and command lines of live processes.</summary>
    public static class ProcTree
    {
        public sealed class Info
        {
            public int Pid, ParentPid, ProcessGroup, Session;
            public char State;
            public string[] CommandLine = Array.Empty<string>();
        }

        public static Info? Get(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                // The command name is in parentheses and may hold spaces: fields start after the last ')'.
                var f = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
                var cmd = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
                return new Info { Pid = pid, State = f[0][0], ParentPid = int.Parse(f[1]), ProcessGroup = int.Parse(f[2]), Session = int.Parse(f[3]), CommandLine = cmd };
            }
            catch (IOException) { return null; }
            catch (UnauthorizedAccessException) { return null; }
        }

        /// <summary>Alive and not a zombie (a container's init may never reap).</summary>
        public static bool IsAlive(int pid) => Get(pid) is { } i && i.State != 'Z' && i.State != 'X';

        public static List<Info> All() =>
            Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsDigit))
                .Select(n => Get(int.Parse(n!))).Where(i => i != null).Select(i => i!).ToList();

        public static List<Info> Descendants(int pid)
        {
            var all = All();
            var result = new List<Info>();
            var parents = new HashSet<int> { pid };
            bool grew = true;
            while (grew)
            {
                grew = false;
                foreach (var i in all)
                    if (parents.Contains(i.ParentPid) && parents.Add(i.Pid)) { result.Add(i); grew = true; }
            }
            return result;
        }

        /// <summary>The codex exec-server processes started below a process.</summary>
        public static List<Info> ExecServersBelow(int pid) =>
            Descendants(pid).Where(i => i.CommandLine.Length > 2 && i.CommandLine[1] == "exec-server" && i.CommandLine[2] == "--listen").ToList();

        /// <summary>Whether the process holds the socket listening on this 127.0.0.1/0.0.0.0 TCP port (from /proc/net/tcp inodes).</summary>
        public static bool Listens(int pid, int port)
        {
            var hexPort = ":" + port.ToString("X4");
            var inodes = File.ReadAllLines("/proc/net/tcp").Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length > 9 && f[1].EndsWith(hexPort) && f[3] == "0A").Select(f => "socket:[" + f[9] + "]").ToHashSet();
            try
            {
                return Directory.GetFiles($"/proc/{pid}/fd").Any(fd =>
                {
                    try { return inodes.Contains(new FileInfo(fd).LinkTarget ?? ""); } catch (IOException) { return false; }
                });
            }
            catch (IOException) { return false; }
            catch (UnauthorizedAccessException) { return false; }
        }

        /// <summary>The value after an option on a command line, e.g. --ws-token-file.</summary>
        public static string? Option(this Info i, string name)
        {
            int at = Array.IndexOf(i.CommandLine, name);
            return at >= 0 && at + 1 < i.CommandLine.Length ? i.CommandLine[at + 1] : null;
        }
    }
}
