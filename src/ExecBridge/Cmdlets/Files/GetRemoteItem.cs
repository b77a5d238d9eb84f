using System;
using System.Management.Automation;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>
    /// <para type="synopsis">Gets a file or folder on an executor as a RemoteItem.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "RemoteItem", DefaultParameterSetName = "LiteralPath")]
    [OutputType(typeof(RemoteItem))]
    public sealed class GetRemoteItem : FileCmdletBase
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

        protected override void ProcessRecord()
        {
            var client = ResolveClient();
            foreach (var p in Paths)
            {
                try
                {
                    foreach (var one in ExpandPath(client, p, Literal))
                        WriteObject(ToItem(client, Await(client.GetMetadataAsync(one, StopToken))));
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    WriteFailure(ex, p);
                }
            }
        }
    }
}
