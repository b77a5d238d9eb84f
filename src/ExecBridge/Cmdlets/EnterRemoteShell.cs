using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ExecBridge.Client;
using ExecBridge.Client.Processes;
using ExecBridge.Infrastructure;

namespace ExecBridge.Cmdlets
{
    /// <summary>
    /// <para type="synopsis">Opens an interactive shell on an executor in this terminal, like ssh or Enter-PSSession.</para>
    /// <para type="description">Starts the executor's shell (or -Command) on a remote pty, puts the local terminal in raw mode,
    /// sends every keystroke to it and shows its output as it arrives. Type Enter, then ~. to end the session from this side.
    /// $LASTEXITCODE is the remote exit code afterwards.</para>
    /// </summary>
    [Cmdlet(VerbsCommon.Enter, "RemoteShell")]
    [OutputType(typeof(void))]
    public sealed class EnterRemoteShell : ExecutorCmdlet
    {
        /// <summary>A command line to run on the pty instead of an interactive shell (run by the executor's shell with -c).</summary>
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty]
        public string? Command { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? WorkingDirectory { get; set; }

        /// <summary>Variables added to the default environment (PATH, HOME, LANG, TERM=xterm-256color).</summary>
        [Parameter]
        public Hashtable? Environment { get; set; }

        // Set by the input thread, read by the pipeline thread.
        private volatile bool _stopInput;
        private volatile bool _escaped;
        private volatile bool _terminalGone;
        private volatile Exception? _inputFailure;
        // Set by the reader loop (new output, exit, failure) and the input thread (escape, failure): the pipeline thread waits on it.
        private readonly ManualResetEventSlim _wake = new ManualResetEventSlim(false, spinCount: 1);

        protected override void ProcessRecord()
        {
            var why = RawConsole.WhyNotInteractive(out var stream);
            if (why != null)
                ThrowTerminatingError(new ErrorRecord(new PSInvalidOperationException(
                        "Enter-RemoteShell needs an interactive terminal: " + why + " Use Invoke-RemoteCommand or Start-RemoteProcess -Tty -Interactive instead."),
                    "NoInteractiveConsole", ErrorCategory.ResourceUnavailable, stream));

            var client = ResolveClient();
            string shell = ChooseShell(client);
            CheckWorkingDirectory(client);
            int rows = 24, cols = 80;
            TryGetWindowSize(ref rows, ref cols);
            var spec = new ProcessStartSpec
            {
                Argv = new[] { "/bin/sh", "-c", Wrapper(shell, Command, rows, cols) },
                WorkingDirectory = WorkingDirectory,
                Tty = true,
                PipeStdin = true,
                Environment = BuildEnvironment(shell),
            };
            string description = Command ?? shell;

            RemoteProcessHandle handle;
            try
            {
                handle = Await(client.StartProcessAsync(spec, StopToken));
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                if (ex is ExecBridgeException ebe && ebe.Kind == ExecBridgeErrorKind.RemotePathNotFound)
                    ThrowTerminatingError(new ErrorRecord(new ItemNotFoundException(
                            $"Executor '{client.ExecutorId}' could not start a shell on a pty (/bin/sh or the working directory is missing): {ex.Message}", ex),
                        "RemoteShellNotFound", ErrorCategory.ObjectNotFound, WorkingDirectory ?? shell));
                ThrowFailure(ex, description);
                return;
            }
            var process = new RemoteProcess(handle, description, true, true);
            RunSession(client, process, rows, cols);
        }

        /// <summary>The executor's shell: environment/info's (newer servers), else /bin/bash if present, else /bin/sh.</summary>
        private string ChooseShell(ExecutorClient client)
        {
            try
            {
                Await(client.EnsureConnectedAsync(StopToken));
                if (!string.IsNullOrEmpty(client.Shell)) return client.Shell!;
                foreach (var candidate in new[] { "/bin/bash", "/bin/sh" })
                {
                    var info = Await(client.TryGetMetadataAsync(candidate, StopToken, needLength: false));
                    if (info != null && info.IsFile) return candidate;
                }
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                ThrowFailure(ex, client.ExecutorId);
            }
            ThrowTerminatingError(new ErrorRecord(new ItemNotFoundException(
                    $"Executor '{client.ExecutorId}' has no shell to run on a pty: it reports none, and neither /bin/bash nor /bin/sh exists. Name a program with -Command."),
                "RemoteShellNotFound", ErrorCategory.ObjectNotFound, client.ExecutorId));
            return null!;
        }

        /// <summary>A pty start does not fail on a missing working directory (the shell opens in the home folder), so check first.</summary>
        private void CheckWorkingDirectory(ExecutorClient client)
        {
            if (WorkingDirectory == null) return;
            Client.Files.RemoteFileInfo? info = null;
            try
            {
                // ~ and relative folders as everywhere else (the start resolves them the same way).
                info = Await(client.TryGetMetadataAsync(Await(client.ResolvePathAsync(WorkingDirectory, StopToken)), StopToken, needLength: false));
            }
            catch (Exception ex) when (IsClientFailure(ex))
            {
                ThrowFailure(ex, WorkingDirectory);
            }
            if (info == null)
                ThrowTerminatingError(ErrorMapping.ToErrorRecord(new ExecBridgeException(ExecBridgeErrorKind.RemotePathNotFound,
                    $"The working directory '{WorkingDirectory}' does not exist on executor '{client.ExecutorId}'."), WorkingDirectory));
            else if (!info.IsDirectory)
                ThrowTerminatingError(ErrorMapping.ToErrorRecord(new ExecBridgeException(ExecBridgeErrorKind.InvalidArgument,
                    $"The working directory '{WorkingDirectory}' on executor '{client.ExecutorId}' is not a folder."), WorkingDirectory));
        }

        private Dictionary<string, string> BuildEnvironment(string shell)
        {
            var env = new Dictionary<string, string>(StringComparer.Ordinal) { ["SHELL"] = shell };
            if (Environment != null)
                foreach (DictionaryEntry e in Environment) env[e.Key.ToString()!] = e.Value?.ToString() ?? "";
            return env;
        }

        /// <summary>
        /// The pty is 24x80 and the protocol cannot resize it, but its slave side can: stty sets the local size (the kernel
        /// applies TIOCSWINSZ), the pty name is announced for later resizes, then the shell (or -Command) replaces the wrapper.
        /// </summary>
        internal static string Wrapper(string shell, string? command, int rows, int cols)
        {
            var sb = new StringBuilder();
            sb.Append("stty rows ").Append(rows).Append(" cols ").Append(cols).Append(" 2>/dev/null; ");
            sb.Append("printf '\\033_EBTTY;%s\\033\\\\' \"$(tty 2>/dev/null)\"; ");
            sb.Append("exec ").Append(Quote(shell));
            sb.Append(command == null ? " -i" : " -c " + Quote(command));
            return sb.ToString();
        }

        internal static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

        private static bool TryGetWindowSize(ref int rows, ref int cols)
        {
            try
            {
                int w = Console.WindowWidth, h = Console.WindowHeight;
                if (w <= 0 || h <= 0) return false;
                rows = h;
                cols = w;
                return true;
            }
            catch (Exception ex) when (ex is IOException || ex is InvalidOperationException || ex is PlatformNotSupportedException)
            {
                return false;
            }
        }

        private void RunSession(ExecutorClient client, RemoteProcess process, int rows, int cols)
        {
            var handle = process.Handle;
            var stdout = Console.OpenStandardOutput();
            var ttyName = new TtyNameFilter();
            var screen = new ScreenModeTracker();
            Exception? failure = null;
            string? endNote = null;
            RawConsole? raw = null;
            Thread? input = null;
            Task? resize = null;
            int sentRows = rows, sentCols = cols;
            var nextResizeCheck = DateTime.UtcNow;
            bool finished = false;
            try
            {
                handle.ChangedCallback = _wake.Set;
                raw = RawConsole.Enter();
                input = new Thread(() => InputLoop(client, handle)) { IsBackground = true, Name = "Enter-RemoteShell input" };
                input.Start();

                while (true)
                {
                    _wake.Reset(); // before taking: a change filed from here on sets it again
                    bool done = handle.IsFinished; // read before taking, so nothing that arrives after is skipped
                    foreach (var chunk in handle.TakeUnread()) Show(stdout, ttyName.Push(chunk.Data), screen);
                    if (ttyName.Searching) Show(stdout, ttyName.GiveUpIfLate(), screen);
                    foreach (var gap in handle.TakeGaps()) failure = failure ?? gap;
                    if (done && !handle.HasUnread)
                    {
                        if (ttyName.Searching) Show(stdout, ttyName.GiveUpIfLate(force: true), screen);
                        finished = true;
                        if (handle.Failure != null) failure = handle.Failure;
                        break;
                    }
                    if (_escaped) { endNote = "Session ended by ~. (the remote process was stopped)."; break; }
                    if (_terminalGone) { endNote = "The local terminal closed; the remote process was stopped."; break; }
                    if (_inputFailure != null) { failure = _inputFailure; break; }

                    if (DateTime.UtcNow >= nextResizeCheck)
                    {
                        nextResizeCheck = DateTime.UtcNow.AddMilliseconds(250);
                        int r = sentRows, c = sentCols;
                        if (ttyName.TtyName != null && (resize == null || resize.IsCompleted) && TryGetWindowSize(ref r, ref c)
                            && (r != sentRows || c != sentCols))
                        {
                            sentRows = r;
                            sentCols = c;
                            resize = ResizeAsync(client, ttyName.TtyName, r, c);
                        }
                    }

                    try
                    {
                        // The reader loop sets _wake directly (one thread hop less than awaiting the handle); the client's
                        // wait, without waiting, still redials a dropped connection and reads back a missing last chunk.
                        if (!handle.HasUnread) _wake.Wait(50);
                        if (StopToken.IsCancellationRequested) throw new PipelineStoppedException();
                        if (handle.HasUnread) continue; // show it first
                        WaitQuietly(client.WaitForOutputAsync(handle, TimeSpan.Zero, StopToken));
                    }
                    catch (Exception ex) when (IsClientFailure(ex))
                    {
                        foreach (var chunk in handle.TakeUnread()) Show(stdout, ttyName.Push(chunk.Data), screen);
                        failure = handle.Failure ?? ex;
                        break;
                    }
                }
            }
            finally
            {
                handle.ChangedCallback = null;
                _stopInput = true;
                input?.Join(TimeSpan.FromSeconds(2));
                raw?.Restore();
                if (raw != null) ResetTerminal(stdout, screen, finished && failure == null);
                if (!finished) StopRemote(client, handle, failure == null ? ttyName.TtyName : null);
                client.Forget(handle);
            }

            if (endNote != null || failure != null)
                WriteRaw(stdout, "\r\n" + (endNote ?? (IsConnectionFailure(failure)
                    ? $"Connection to executor '{client.ExecutorId}' lost."
                    : $"The session with executor '{client.ExecutorId}' ended with an error.")) + "\r\n");
            if (handle.ExitCode is int code) SessionState.PSVariable.Set("global:LASTEXITCODE", code);
            if (failure != null) WriteFailure(failure, process);
        }

        private static bool IsConnectionFailure(Exception? ex) =>
            ex is ExecBridgeException e && (e.Kind == ExecBridgeErrorKind.ConnectionLost || e.Kind == ExecBridgeErrorKind.ConnectionRefused
                                            || e.Kind == ExecBridgeErrorKind.Timeout)
            || ex is IOException || ex is TimeoutException;

        /// <summary>
        /// Like Await, but verbose/debug lines stay queued until the terminal is restored (EndProcessing writes them): written
        /// now they would land in the middle of the remote screen, with raw-mode line endings.
        /// </summary>
        private void WaitQuietly(Task task)
        {
            try
            {
                task.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
        }

        private static void Show(Stream stdout, byte[] data, ScreenModeTracker screen)
        {
            if (data.Length == 0) return;
            screen.Scan(data);
            stdout.Write(data, 0, data.Length);
            stdout.Flush();
        }

        private static void WriteRaw(Stream stdout, string text)
        {
            try
            {
                var b = Encoding.UTF8.GetBytes(text);
                stdout.Write(b, 0, b.Length);
                stdout.Flush();
            }
            catch (IOException) { }
        }

        /// <summary>
        /// Undoes terminal modes a remote program may have left on (a killed top or vim never resets them): colours, a hidden
        /// cursor, mouse reporting, bracketed paste, and the alternate screen when it is still on.
        /// </summary>
        private static void ResetTerminal(Stream stdout, ScreenModeTracker screen, bool clean)
        {
            var sb = new StringBuilder("\u001b[0m\u001b[?25h\u001b[?1000l\u001b[?1002l\u001b[?1003l\u001b[?1006l\u001b[?2004l");
            if (screen.AlternateScreen) sb.Append("\u001b[?1049l");
            if (!clean) sb.Append("\r");
            WriteRaw(stdout, sb.ToString());
        }

        /// <summary>
        /// Keystrokes: read on this thread with poll (so it stops within 50 ms and never leaves a read pending that would take
        /// the next key from PSReadLine) and written in order, one write at a time; keys typed while a write is in flight are
        /// gathered into the next one. Reading goes on during a write, so ~. works even when the executor stops answering.
        /// </summary>
        private void InputLoop(ExecutorClient client, RemoteProcessHandle handle)
        {
            var buffer = new byte[16384];
            var escape = new ShellEscape();
            var pending = new MemoryStream();
            Task? inflight = null;
            try
            {
                while (!_stopInput)
                {
                    if (inflight != null && inflight.IsCompleted)
                    {
                        inflight.GetAwaiter().GetResult(); // a failed write ends the session
                        inflight = null;
                    }
                    if (inflight == null && pending.Length > 0)
                    {
                        inflight = WriteAsync(client, handle, pending.ToArray());
                        pending.SetLength(0);
                        continue;
                    }
                    // While a write is in flight, look back often: the next keys go out as soon as it is answered.
                    int n = RawConsole.Read(buffer, inflight != null ? 1 : 50);
                    if (n == 0) continue;
                    if (n < 0) { _terminalGone = true; _wake.Set(); return; }
                    var send = escape.Push(buffer, n, out bool escaped);
                    if (escaped) { _escaped = true; _wake.Set(); return; }
                    if (send.Length == 0) continue;
                    if (inflight == null) inflight = WriteAsync(client, handle, send);
                    else pending.Write(send, 0, send.Length);
                }
            }
            catch (Exception ex)
            {
                if (!_stopInput) { _inputFailure = ex; _wake.Set(); }
            }
        }

        private static async Task WriteAsync(ExecutorClient client, RemoteProcessHandle handle, byte[] data)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await client.WriteInputAsync(handle, new ArraySegment<byte>(data), cts.Token).ConfigureAwait(false);
        }

        /// <summary>Applies a new local size to the remote pty from a side process (stty on the pty's slave), so the kernel sends SIGWINCH.</summary>
        private static Task ResizeAsync(ExecutorClient client, string tty, int rows, int cols) =>
            RunSideProcessAsync(client, $"stty rows {rows} cols {cols} < {Quote(tty)}", TimeSpan.FromSeconds(10));

        /// <summary>
        /// The session ends from this side. Killing the shell's process group (process/terminate) does not reach the jobs it runs
        /// in their own process groups when they ignore SIGHUP, so first everything on the remote pty is killed from a side
        /// process (pkill -t, else a /proc scan), then the shell is terminated; its exit code is awaited briefly.
        /// </summary>
        private static void StopRemote(ExecutorClient client, RemoteProcessHandle handle, string? tty)
        {
            try
            {
                if (tty != null && !handle.IsFinished)
                {
                    var script = $"t={Quote(tty)}; pkill -KILL -t \"${{t#/dev/}}\" 2>/dev/null || for p in /proc/[0-9]*; do "
                                 + "[ \"$(readlink $p/fd/0 2>/dev/null)\" = \"$t\" ] && kill -9 ${p#/proc/} 2>/dev/null; done; true";
                    RunSideProcessAsync(client, script, TimeSpan.FromSeconds(2)).Wait(TimeSpan.FromSeconds(2.5));
                }
                // Bounded: an executor that stopped answering must not hold the terminal for long.
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                client.TerminateAsync(handle, cts.Token).Wait(TimeSpan.FromSeconds(2.5));
                var deadline = DateTime.UtcNow.AddSeconds(1.5);
                while (!handle.Exited && !handle.IsFinished && DateTime.UtcNow < deadline)
                    handle.WaitForChangeAsync(TimeSpan.FromMilliseconds(100), CancellationToken.None).Wait(200);
            }
            catch { /* the connection may be gone; the server reaps the session's processes */ }
        }

        /// <summary>A short non-tty helper process on the executor (resize, cleanup); best effort, never throws.</summary>
        private static async Task RunSideProcessAsync(ExecutorClient client, string script, TimeSpan timeout)
        {
            try
            {
                using var cts = new CancellationTokenSource(timeout);
                var side = await client.StartProcessAsync(new ProcessStartSpec { Argv = new[] { "/bin/sh", "-c", script } }, cts.Token)
                    .ConfigureAwait(false);
                try
                {
                    while (!side.IsFinished && !cts.IsCancellationRequested)
                        await side.WaitForChangeAsync(TimeSpan.FromMilliseconds(500), cts.Token).ConfigureAwait(false);
                }
                finally { client.Forget(side); }
            }
            catch { }
        }
    }

    /// <summary>Follows whether the remote program switched the terminal to the alternate screen (and did not switch back).</summary>
    internal sealed class ScreenModeTracker
    {
        private static readonly byte[][] On = { Ascii("\u001b[?1049h"), Ascii("\u001b[?1047h"), Ascii("\u001b[?47h") };
        private static readonly byte[][] Off = { Ascii("\u001b[?1049l"), Ascii("\u001b[?1047l"), Ascii("\u001b[?47l") };

        public bool AlternateScreen { get; private set; }

        public void Scan(byte[] data)
        {
            if (Array.IndexOf(data, (byte)0x1b) < 0) return;
            int lastOn = Last(data, On), lastOff = Last(data, Off);
            if (lastOn > lastOff) AlternateScreen = true;
            else if (lastOff > lastOn) AlternateScreen = false;
        }

        private static int Last(byte[] data, byte[][] needles)
        {
            int last = -1;
            foreach (var n in needles)
                for (int i = TtyNameFilter.IndexOf(data, n, 0); i >= 0; i = TtyNameFilter.IndexOf(data, n, i + 1))
                    if (i > last) last = i;
            return last;
        }

        private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);
    }
}
