using System;
using System.Collections.Generic;
using System.Management.Automation;
using ExecBridge.Client;
using ExecBridge.Client.Files;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>
    /// <para type="synopsis">Lists the items in a folder on an executor (optionally the whole tree).</para>
    /// <para type="description">Symlinked folders are listed but not descended into. -Filter is a wildcard on the item name.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "RemoteChildItem", DefaultParameterSetName = "LiteralPath")]
    [OutputType(typeof(RemoteItem))]
    public sealed class GetRemoteChildItem : FileCmdletBase
    {
        [Parameter(Position = 0, ParameterSetName = "Path")]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Path { get; set; }

        [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "LiteralPath")]
        [Alias("FullName", "LP")]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? LiteralPath { get; set; }

        private bool Literal => LiteralPath != null;

        [Parameter(Position = 1)]
        [ValidateNotNullOrEmpty]
        public string? Filter { get; set; }

        [Parameter]
        public SwitchParameter Recurse { get; set; }

        [Parameter]
        [ValidateRange(0, int.MaxValue)]
        public int Depth { get; set; } = int.MaxValue;

        [Parameter]
        public SwitchParameter Directory { get; set; }

        [Parameter]
        public SwitchParameter File { get; set; }

        /// <summary>The wildcard matches of every -Path (a failed lookup is reported and skipped).</summary>
        private List<string> Expand(ExecutorClient client, string[] given)
        {
            var all = new List<string>();
            foreach (var g in given)
            {
                try { all.AddRange(ExpandPath(client, g, Literal)); }
                catch (Exception ex) when (IsClientFailure(ex)) { WriteFailure(ex, g); }
            }
            return all;
        }

        protected override void ProcessRecord()
        {
            var client = ResolveClient();
            var given = LiteralPath ?? Path;
            IReadOnlyList<string> paths = given == null ? new[] { Await(EnsureCwd(client)) } : (IReadOnlyList<string>)Expand(client, given);
            var pattern = Filter == null ? null : new WildcardPattern(Filter, WildcardOptions.IgnoreCase);
            foreach (var p in paths)
            {
                try
                {
                    var root = Await(client.GetMetadataAsync(p, StopToken));
                    if (!root.IsDirectory)
                    {
                        Emit(client, root, pattern);
                        continue;
                    }
                    // Depth counts the levels below the children (Get-ChildItem -Depth 0 lists just them).
                    int levels = !Recurse ? 1 : Depth == int.MaxValue ? int.MaxValue : Depth + 1;
                    foreach (var entry in Await(client.ListTreeAsync(root.Path, levels, StopToken)))
                    {
                        if (entry.Error != null) WriteFailure(entry.Error, entry.Path); // an unreadable subfolder does not end the listing
                        else Emit(client, entry.Item!, pattern);
                    }
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    WriteFailure(ex, p);
                }
            }
        }

        private System.Threading.Tasks.Task<string> EnsureCwd(ExecutorClient client) => System.Threading.Tasks.Task.Run(async () =>
        {
            await client.EnsureConnectedAsync(StopToken).ConfigureAwait(false);
            return client.WorkingDirectory;
        });

        private void Emit(ExecutorClient client, RemoteFileInfo info, WildcardPattern? pattern)
        {
            if (Directory && !info.IsDirectory) return;
            if (File && info.IsDirectory) return;
            if (pattern != null && !pattern.IsMatch(info.Name)) return;
            WriteObject(ToItem(client, info));
        }
    }
}
