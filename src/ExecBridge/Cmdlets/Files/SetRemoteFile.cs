using System;
using System.Collections;
using System.Linq;
using System.Management.Automation;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Copy;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets.Files
{
    /// <summary>
    /// <para type="synopsis">Writes a file on an executor from strings or bytes (pipeline input is collected first).</para>
    /// <para type="description">Strings are written as lines (each followed by "\n" unless -NoNewline) in -Encoding
    /// (UTF-8 without BOM by default); byte arrays are written as is. The content is written beside the file and renamed
    /// into place after a SHA-256 check, so the path never holds a half-written file. -Force creates missing parent folders.
    /// Input beyond 8 MiB is spooled to a temporary local file, so memory stays bounded. Several executors (-ExecutorId a,b /
    /// web-* / -Connection list) all get the same content, at most -ThrottleLimit at a time.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Set, "RemoteFile", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ValueSet)]
    [OutputType(typeof(RemoteItem))]
    public sealed partial class SetRemoteFile : FileFanOutCmdlet
    {
        private SpoolSource? _spool;
        private System.Text.Encoding? _encoding;
        private bool _wrotePreamble;

        [Parameter(Mandatory = true, Position = 0)]
        [Alias("FullName")]
        [ArgumentCompleter(typeof(RemotePathCompleter))]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = "";

        /// <summary>Strings (lines) or bytes. Typed object, not object[]: a byte[] then binds whole instead of one boxed object per byte.</summary>
        [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ParameterSetName = ValueSet)]
        [AllowEmptyString]
        [AllowEmptyCollection]
        [AllowNull]
        public object? Value { get; set; }

        /// <summary>A local file whose bytes are written as they are, streamed (never held in memory).</summary>
        [Parameter(Mandatory = true, ParameterSetName = InputFileSet)]
        [ValidateNotNullOrEmpty]
        public string? InputFile { get; set; }

        private const string ValueSet = "Value";
        private const string InputFileSet = "InputFile";

        [Parameter(ParameterSetName = ValueSet)]
        [ArgumentCompleter(typeof(EncodingCompleter))]
        public string? Encoding { get; set; }

        [Parameter(ParameterSetName = ValueSet)]
        public SwitchParameter NoNewline { get; set; }

        [Parameter]
        public SwitchParameter Force { get; set; }

        [Parameter]
        public SwitchParameter PassThru { get; set; }

        // Names or wildcards on connected executors. Not bound from the pipeline (unlike the other file cmdlets): piped
        // objects are the content, and lines tagged by a fan-out must not choose where they are written.
        [Parameter]
        [ArgumentCompleter(typeof(ExecutorIdCompleter))]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public new string[]? ExecutorId { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public new ExecBridgeConnection[]? Connection { get; set; }

        [Parameter]
        [ValidateRange(1, 4096)]
        public int ThrottleLimit { get; set; } = 32;

        protected override void BeginProcessing()
        {
            base.BeginProcessing();
            ValidateEncoding(Encoding);
            _encoding = ResolveEncoding(Encoding);
            _spool = new SpoolSource("pipeline input");
        }

        protected override void ProcessRecord()
        {
            if (ParameterSetName == ValueSet) Append(Value);
        }

        private void Append(object? value)
        {
            if (value is PSObject pso) value = pso.BaseObject;
            switch (value)
            {
                case null:
                    return;
                case byte[] bytes:
                    _spool!.AppendWhole(bytes);
                    return;
                case byte b:
                    _spool!.Append(new[] { b }, 0, 1);
                    return;
                case string s:
                    AppendText(s);
                    return;
                case IEnumerable e:
                    foreach (var item in e) Append(item);
                    return;
                default:
                    AppendText(value.ToString() ?? "");
                    return;
            }
        }

        private void AppendText(string s)
        {
            if (!_wrotePreamble)
            {
                _wrotePreamble = true;
                var preamble = _encoding!.GetPreamble();
                if (preamble.Length > 0) _spool!.Append(preamble, 0, preamble.Length);
            }
            var data = _encoding!.GetBytes(NoNewline ? s : s + "\n");
            _spool!.Append(data, 0, data.Length);
        }

        protected override void EndProcessing()
        {
            var ids = ExecutorId ?? Array.Empty<string>();
            var connections = Connection ?? Array.Empty<ExecBridgeConnection>();
            if (!IsSingle(ids, connections))
            {
                try
                {
                    WriteToMany(ids, connections);
                }
                finally
                {
                    _spool?.Dispose();
                    _spool = null;
                }
                base.EndProcessing();
                return;
            }
            var client = ResolveClient(ids.FirstOrDefault(), connections.FirstOrDefault());
            object target = Path;
            try
            {
                var path = ResolveRemote(client, Path);
                IFileSource source = _spool!;
                if (InputFile != null)
                {
                    target = InputFile;
                    var local = ResolveLocalPath(InputFile);
                    source = new LocalFileSource(local, 0, null);
                }
                long length = Await(source.OpenAsync(StopToken));
                target = Path;
                if (ShouldProcess($"{path} on executor '{client.ExecutorId}'", $"Write {length} bytes"))
                {
                    var progress = new TransferProgress();
                    progress.AddPlanned(length, 1);
                    var sink = new RemoteFileSink(client, path, overwrite: true, createParents: Force);
                    var task = Task.Run(() => CopyEngine.CopyFileAsync(source, "local", sink, client.ExecutorId, progress, StopToken));
                    RunTransfer(task, progress, $"Writing {path} on {client.ExecutorId}");
                    if (PassThru) WriteObject(ToItem(client, Await(client.GetMetadataAsync(path, StopToken))));
                }
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                WriteFailure(ex, target);
            }
            finally
            {
                _spool?.Dispose();
                _spool = null;
            }
            base.EndProcessing();
        }
    }
}
