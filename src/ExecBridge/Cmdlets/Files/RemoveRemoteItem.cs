using System;
using System.Collections.Generic;
using System.Management.Automation;
using ExecBridge.Client;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>
    /// <para type="synopsis">Removes a file or folder on an executor.</para>
    /// <para type="description">A non-empty folder is only removed with -Recurse. Like Remove-Item it asks only with
    /// -Confirm (ConfirmImpact Medium). -Force: a missing path is not an error, and read-only items go too (on the
    /// POSIX executors a file's own mode never stops its removal). The server's recursive, silent defaults are never used.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Remove, "RemoteItem", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "LiteralPath")]
    [OutputType(typeof(void))]
    public sealed class RemoveRemoteItem : FileCmdletBase
    {
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path")]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Path { get; set; }

        [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "LiteralPath")]
        [Alias("FullName", "LP")]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? LiteralPath { get; set; }

        private bool Literal => LiteralPath != null;
        private string[] Paths => LiteralPath ?? Path!;

        [Parameter]
        public SwitchParameter Recurse { get; set; }

        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void ProcessRecord()
        {
            var client = ResolveClient();
            foreach (var pattern in Paths)
                foreach (var raw in Expand(client, pattern))
                    Remove(client, raw);
        }

        private IEnumerable<string> Expand(ExecutorClient client, string pattern)
        {
            try
            {
                return ExpandPath(client, pattern, Literal);
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                WriteFailure(ex, pattern);
                return Array.Empty<string>();
            }
        }

        private void Remove(ExecutorClient client, string raw)
        {
            try
            {
                var path = ResolveRemote(client, raw);
                var info = Await(client.TryGetMetadataAsync(path, StopToken, needLength: false));
                if (info == null)
                {
                    if (Force) return;
                    throw new ExecBridgeException(ExecBridgeErrorKind.RemotePathNotFound, $"Remote path '{path}' does not exist on executor '{client.ExecutorId}'.");
                }
                bool folder = info.IsDirectory && !info.IsSymlink; // a link is removed, never its target
                if (folder && !Recurse && Await(client.ReadDirectoryAsync(path, StopToken)).Count > 0)
                {
                    WriteError(new ErrorRecord(new RemoteDirectoryNotEmptyException(path, client.ExecutorId),
                        "RemoteDirectoryNotEmpty", ErrorCategory.WriteError, raw));
                    return;
                }
                string target = $"{path} on executor '{client.ExecutorId}'";
                bool highImpact = folder && Recurse;
                // Like Remove-Item: -Recurse asks nothing extra; only ShouldProcess (-Confirm, $ConfirmPreference) does.
                if (!ShouldProcess(target, highImpact ? "Remove folder and everything in it" : "Remove")) return;
                Await(client.RemoveAsync(path, recursive: highImpact, force: false, StopToken));
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                WriteFailure(ex, raw);
            }
        }
    }
}
