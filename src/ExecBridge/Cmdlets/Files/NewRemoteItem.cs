using System;
using System.Management.Automation;
using System.Text;
using ExecBridge.Client;
using ExecBridge.Client.Files;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>
    /// <para type="synopsis">Creates a file or folder on an executor.</para>
    /// <para type="description">Without -Force an existing item is an error (DestinationExists) and the parent folder must exist.
    /// With -Force missing parents are created, an existing folder is returned as is and an existing file is replaced.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.New, "RemoteItem", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(RemoteItem))]
    public sealed class NewRemoteItem : FileCmdletBase
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName")]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = Array.Empty<string>();

        [Parameter]
        [ValidateSet("File", "Directory")]
        [Alias("Type")]
        public string ItemType { get; set; } = "File";

        [Parameter]
        public string? Value { get; set; }

        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void ProcessRecord()
        {
            var client = ResolveClient();
            bool directory = string.Equals(ItemType, "Directory", StringComparison.OrdinalIgnoreCase);
            foreach (var raw in Path)
            {
                try
                {
                    var path = ResolveRemote(client, raw);
                    if (!ShouldProcess($"{path} on executor '{client.ExecutorId}'", directory ? "Create folder" : "Create file")) continue;
                    if (directory)
                    {
                        var existing = Await(client.TryGetMetadataAsync(path, StopToken, needLength: false));
                        if (existing != null && !(existing.IsDirectory && Force))
                            throw new ExecBridgeException(ExecBridgeErrorKind.DestinationExists,
                                $"Remote path '{path}' already exists on executor '{client.ExecutorId}'{(existing.IsDirectory ? "; use -Force to accept an existing folder" : "")}.");
                        if (existing == null) Await(client.CreateDirectoryAsync(path, recursive: Force, StopToken));
                    }
                    else
                    {
                        var data = Encoding.UTF8.GetBytes(Value ?? "");
                        var writer = Await(RemoteFileWriter.CreateAsync(client, path, data.Length, overwrite: Force, createParents: Force, StopToken));
                        try
                        {
                            Await(writer.WriteAsync(data, StopToken));
                            Await(writer.CommitAsync(Client.Copy.CopyEngine.ToHex(System.Security.Cryptography.SHA256.Create().ComputeHash(data)), StopToken));
                        }
                        catch
                        {
                            writer.AbortAsync().Wait(TimeSpan.FromSeconds(15));
                            throw;
                        }
                    }
                    WriteObject(ToItem(client, Await(client.GetMetadataAsync(path, StopToken))));
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    WriteFailure(ex, raw);
                }
            }
        }
    }
}
