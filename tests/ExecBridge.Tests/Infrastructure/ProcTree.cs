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

        /// <summary>The value after an option on a command line, e.g. --ws-token-file.</summary>
        public static string? Option(this Info i, string name)
        {
            int at = Array.IndexOf(i.CommandLine, name);
            return at >= 0 && at + 1 < i.CommandLine.Length ? i.CommandLine[at + 1] : null;
        }
    }
}
