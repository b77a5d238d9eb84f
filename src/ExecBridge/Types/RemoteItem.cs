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

        /// <summary>The folder that holds this item (the group header of the table view).</summary>
        public string Directory => RemotePath.GetParent(FullName);

        /// <summary>Get-ChildItem style: d (folder), l (symlink), - (file).</summary>
        public string Mode => (IsDirectory ? "d" : "-") + (IsSymlink ? "l" : "-") + "---";

        public override string ToString() => FullName;
    }
}
