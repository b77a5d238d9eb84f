using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;
using System.Text.RegularExpressions;

namespace ExecBridge.Host
{
    /// <summary>
    /// Just enough of a PowerShell host for Out-Default, Write-Host and the verbose/warning/debug/information
    /// streams to reach the console. Non-interactive: prompts fail instead of blocking.
    /// </summary>
    internal sealed class ConsoleHost : PSHost
    {
        private readonly ConsoleUI _ui = new ConsoleUI();

        public override string Name => "ExecBridge.Host";
        public override Version Version { get; } = typeof(ConsoleHost).Assembly.GetName().Version ?? new Version(1, 0);
        public override Guid InstanceId { get; } = Guid.NewGuid();
        public override PSHostUserInterface UI => _ui;
        public override CultureInfo CurrentCulture => CultureInfo.CurrentCulture;
        public override CultureInfo CurrentUICulture => CultureInfo.CurrentUICulture;

        /// <summary>Set by a top-level `exit N` (e.g. in -Command text).</summary>
        public int? ExitCode { get; private set; }

        public override void SetShouldExit(int exitCode) => ExitCode = exitCode;
        public override void EnterNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported.");
        public override void ExitNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported.");
        public override void NotifyBeginApplication() { }
        public override void NotifyEndApplication() { }
    }

    internal sealed class ConsoleUI : PSHostUserInterface
    {
        internal static readonly object Lock = new object();
        private readonly ConsoleRawUI _raw = new ConsoleRawUI();

        public override PSHostRawUserInterface RawUI => _raw;

        // Colour escapes only on a terminal; captured output (logs, tests) stays plain.
        private static readonly bool Plain = Console.IsOutputRedirected;
        private static readonly Regex Escapes = new Regex("\x1b\\[[0-9;?]*[A-Za-z]", RegexOptions.Compiled);

        private static string Clean(string value) => Plain && value.IndexOf('\x1b') >= 0 ? Escapes.Replace(value, "") : value;

        public override void Write(string value) { lock (Lock) Console.Out.Write(Clean(value)); }
        public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Write(value);
        public override void WriteLine(string value) { lock (Lock) Console.Out.WriteLine(Clean(value)); }
        public override void WriteErrorLine(string value) { lock (Lock) Console.Error.WriteLine(Clean(value)); }
        public override void WriteDebugLine(string message) => WriteLine("DEBUG: " + message);
        public override void WriteVerboseLine(string message) => WriteLine("VERBOSE: " + message);
        public override void WriteWarningLine(string message) => WriteLine("WARNING: " + message);
        public override void WriteProgress(long sourceId, ProgressRecord record) { }

        /// <summary>Write-Host and other PSHOST-tagged records arrive through Write/WriteLine; remote stderr lines go to stderr.</summary>
        public override void WriteInformation(InformationRecord record) { }

        public override string ReadLine() => Console.ReadLine() ?? "";
        public override SecureString ReadLineAsSecureString() => throw new NotSupportedException("This host cannot read secrets.");
        public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions) =>
            throw new NotSupportedException("This host is not interactive: pass every mandatory parameter.");
        public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice) =>
            throw new NotSupportedException("This host is not interactive: use -Confirm:$false or -Force.");
        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) =>
            throw new NotSupportedException("This host is not interactive.");
        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName,
            PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) =>
            throw new NotSupportedException("This host is not interactive.");
    }

    internal sealed class ConsoleRawUI : PSHostRawUserInterface
    {
        private static int Width()
        {
            try { return Console.IsOutputRedirected ? 120 : Math.Max(80, Console.WindowWidth); }
            catch { return 120; }
        }

        public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;
        public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;
        public override Size BufferSize { get => new Size(Width(), 9999); set { } }
        public override Coordinates CursorPosition { get; set; }
        public override int CursorSize { get; set; } = 25;
        public override bool KeyAvailable => false;
        public override Size MaxPhysicalWindowSize => new Size(Width(), 50);
        public override Size MaxWindowSize => new Size(Width(), 50);
        public override Coordinates WindowPosition { get; set; }
        public override Size WindowSize { get => new Size(Width(), 50); set { } }
        public override string WindowTitle { get; set; } = "ExecBridge.Host";
        public override void FlushInputBuffer() { }
        public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException();
        public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException("This host is not interactive.");
        public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) { }
        public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) { }
        public override void SetBufferContents(Rectangle rectangle, BufferCell fill) { }
    }
}
