using System;
using ExecBridge.Client.Files;

namespace ExecBridge
{
    /// <summary>A file or folder on an executor, as Get-RemoteItem and Get-RemoteChildItem emit it.</summary>
    public sealed class RemoteItem
    {
        internal RemoteItem(string executorId, RemoteFileInfo info)
        {
            ExecutorId = executorId;
            FullName = info.Path;
            Name = info.Name;
            IsDirectory = info.IsDirectory;
            IsSymlink = info.IsSymlink;
            Length = info.IsDirectory ? null : info.Length;
            LastWriteTime = info.LastWriteTime?.LocalDateTime;
            UnixMode = info.UnixMode;
            User = info.Owner;
            Group = info.Group;
            LinkTarget = info.LinkTarget;
        }

        public string ExecutorId { get; }
        public string Name { get; }

        /// <summary>The plain absolute path on the executor.</summary>
        public string FullName { get; }
        public bool IsDirectory { get; }
        public bool IsSymlink { get; }

        /// <summary>Bytes for files; null for folders.</summary>
        public long? Length { get; }
        public DateTime? LastWriteTime { get; }

        // As on pwsh's FileSystemInfo on Linux. Filled by Get-RemoteChildItem (one find -printf on the executor);
        // null from Get-RemoteItem and where the executor's find has no -printf (fs/getMetadata has no such fields).

        /// <summary>The mode as ls -l shows it: -rwxr-xr-x, drwxr-xr-x, lrwxrwxrwx.</summary>
        public string? UnixMode { get; }
        /// <summary>The owner's user name (the numeric id when the executor has no name for it).</summary>
        public string? User { get; }
        public string? Group { get; }
        /// <summary>What a symlink points at, as stored in the link; null for other items.</summary>
        public string? LinkTarget { get; }

        /// <summary>The folder that holds this item (the group header of the table view).</summary>
        public string Directory => RemotePath.GetParent(FullName);

        /// <summary>Get-ChildItem style: d (folder), l (symlink), - (file).</summary>
        public string Mode => (IsDirectory ? "d" : "-") + (IsSymlink ? "l" : "-") + "---";

        public override string ToString() => FullName;
    }
}
