using System;

namespace ExecBridge.Client.Files
{
    /// <summary>What the executor reports about one path (fs/getMetadata, completed by stat where the dialect lacks sizes).</summary>
    public sealed class RemoteFileInfo
    {
        public RemoteFileInfo(string path, bool isDirectory, bool isFile, bool isSymlink, long? length, DateTimeOffset? lastWriteTime)
        {
            Path = path;
            IsDirectory = isDirectory;
            IsFile = isFile;
            IsSymlink = isSymlink;
            Length = length;
            LastWriteTime = lastWriteTime;
        }

        /// <summary>The plain absolute path.</summary>
        public string Path { get; }
        public string Name => RemotePath.GetName(Path);
        public bool IsDirectory { get; }
        public bool IsFile { get; }
        public bool IsSymlink { get; }

        /// <summary>Size in bytes for files; null for folders, or where it could not be learned.</summary>
        public long? Length { get; internal set; }
        public DateTimeOffset? LastWriteTime { get; }

        // Only a tree listing (find -printf) learns these; fs/getMetadata does not report them (null then).

        /// <summary>The mode as ls -l shows it, e.g. -rwxr-xr-x, drwxr-xr-x, lrwxrwxrwx.</summary>
        public string? UnixMode { get; internal set; }
        /// <summary>The owner's user name (the numeric id when the executor has no name for it).</summary>
        public string? Owner { get; internal set; }
        public string? Group { get; internal set; }
        /// <summary>What a symlink points at, as stored in the link (may be relative or dangling).</summary>
        public string? LinkTarget { get; internal set; }

        public override string ToString() => Path;
    }

    /// <summary>One fs/readDirectory entry (symlinks are reported with their target's type).</summary>
    public sealed class RemoteDirectoryEntry
    {
        public RemoteDirectoryEntry(string name, bool isDirectory, bool isFile)
        {
            Name = name;
            IsDirectory = isDirectory;
            IsFile = isFile;
        }

        public string Name { get; }
        public bool IsDirectory { get; }
        public bool IsFile { get; }
    }

    /// <summary>What a helper command run on the executor printed, and how it ended.</summary>
    public sealed class RemoteCommandResult
    {
        public RemoteCommandResult(int exitCode, byte[] stdout, string stderr)
        {
            ExitCode = exitCode;
            Stdout = stdout;
            Stderr = stderr;
        }

        public int ExitCode { get; }
        public byte[] Stdout { get; }
        public string Stderr { get; }
        public string StdoutText => System.Text.Encoding.UTF8.GetString(Stdout);
    }
}
