using System;
using System.Management.Automation;
using ExecBridge.Client;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>What Test-RemotePath checks for, as Test-Path's -PathType.</summary>
    public enum RemotePathType { Any, Container, Leaf }

    /// <summary>
    /// Whether remote paths exist, like Test-Path: one bool per path, so it reads well in `if` and in Pester's
    /// `Should -BeTrue`. A path that does not exist (or that the executor may not look at) is False; a relative
    /// path or a failed connection is an error, not a False that would hide it.
    /// </summary>
    [Cmdlet(VerbsDiagnostic.Test, "RemotePath")]
    [OutputType(typeof(bool))]
    public sealed class TestRemotePath : FileCmdletBase
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName")]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = Array.Empty<string>();

        [Parameter]
        public RemotePathType PathType { get; set; } = RemotePathType.Any;

        protected override void ProcessRecord()
        {
            var client = ResolveClient();
            foreach (var p in Path)
            {
                try
                {
                    var info = Await(client.GetMetadataAsync(ResolveRemote(client, p), StopToken));
                    WriteObject(PathType == RemotePathType.Any || info.IsDirectory == (PathType == RemotePathType.Container));
                }
                catch (Exception ex) when (IsAbsent(ex))
                {
                    WriteObject(false);
                }
                catch (Exception ex) when (IsClientFailure(ex))
                {
                    WriteFailure(ex, p);
                }
            }
        }

        private static bool IsAbsent(Exception ex)
        {
            if (ex is AggregateException agg && agg.InnerExceptions.Count == 1) ex = agg.InnerExceptions[0];
            return ex is ExecBridgeException e
                && (e.Kind == ExecBridgeErrorKind.RemotePathNotFound || e.Kind == ExecBridgeErrorKind.RemotePermissionDenied);
        }
    }
}
