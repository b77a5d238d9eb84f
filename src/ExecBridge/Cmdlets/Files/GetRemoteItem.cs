using System;
using System.Management.Automation;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>
    /// <para type="synopsis">Gets a file or folder on an executor as a RemoteItem.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "RemoteItem")]
    [OutputType(typeof(RemoteItem))]
    public sealed class GetRemoteItem : FileCmdletBase
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName")]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = Array.Empty<string>();

        protected override void ProcessRecord()
        {
            var client = ResolveClient();
            foreach (var p in Path)
            {
                try
                {
                    var info = Await(client.GetMetadataAsync(p, StopToken));
                    WriteObject(ToItem(client, info));
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    WriteFailure(ex, p);
                }
            }
        }
    }
}
