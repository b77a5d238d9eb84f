using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace ExecBridge.Host
{
    /// <summary>
    /// Runs a PowerShell script in the real PowerShell 7.6 engine, in-process, for machines without pwsh:
    ///   ExecBridge.Host &lt;script.ps1&gt; [args...]
    ///   ExecBridge.Host -Command '&lt;script text&gt;'
    /// Output is formatted by Out-Default like pwsh shows it; errors, warnings, verbose, debug and
    /// Write-Host records are printed as they happen. Only the engine's core cmdlets exist (no
    /// Microsoft.PowerShell.Utility/Management modules: no Select-Object, Start-Sleep, Join-Path).
    /// Exit code: the script's `exit N`; otherwise 1 after a terminating error, a non-zero $LASTEXITCODE
    /// or any error record, else 0.
    /// </summary>
    public static class Program
    {
        public static int Main(string[] args)
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "-?")
            {
                Console.Error.WriteLine("usage: ExecBridge.Host <script.ps1> [args...]\n       ExecBridge.Host -Command '<script text>'");
                return 2;
            }

            // CreateDefault2 (not CreateDefault): the snap-in based default does not load from the NuGet package.
            // The execution policy is left alone: setting it fails outside a pwsh installation.
            var iss = InitialSessionState.CreateDefault2();
            var host = new ConsoleHost();
            using var runspace = RunspaceFactory.CreateRunspace(host, iss);
            runspace.Open();
            using var ps = PowerShell.Create();
            ps.Runspace = runspace;

            if (args[0] is "-Command" or "-c" or "--command")
            {
                ps.AddScript(string.Join(" ", args.Skip(1)));
            }
            else
            {
                var script = Path.GetFullPath(args[0]);
                if (!File.Exists(script))
                {
                    Console.Error.WriteLine($"The script '{args[0]}' does not exist.");
                    return 2;
                }
                // Invoked as a script file, so $PSScriptRoot, $args and `exit N` behave as under pwsh -File.
                ps.AddCommand(script);
                foreach (var a in args.Skip(1)) ps.AddArgument(a);
            }
            // Output is formatted by the engine's own Out-Default (format files included) onto the host.
            ps.AddCommand("Out-Default");

            // Verbose, warning, debug and Write-Host reach the console through the host; errors are printed here.
            bool sawError = false;
            ps.Streams.Error.DataAdded += (s, e) => { sawError = true; Err(Describe(ps.Streams.Error[e.Index])); };

            Console.CancelKeyPress += (s, e) =>
            {
                e.Cancel = true;
                ps.BeginStop(null, null);
            };

            try
            {
                ps.Invoke();
            }
            catch (RuntimeException ex)
            {
                Err(Describe(ex.ErrorRecord));
                return 1;
            }
            catch (Exception ex)
            {
                Err(ex.GetType().Name + ": " + ex.Message);
                return 1;
            }

            if (ps.InvocationStateInfo.State == PSInvocationState.Stopped) return 130;
            if (host.ExitCode is int exit) return exit;
            var last = runspace.SessionStateProxy.GetVariable("LASTEXITCODE");
            if (last is int code && code != 0) return code;
            return sawError ? 1 : 0;
        }

        /// <summary>pwsh's concise error view: "Command: message".</summary>
        private static string Describe(ErrorRecord record)
        {
            var message = record.ErrorDetails?.Message ?? record.Exception?.Message ?? record.ToString();
            var command = record.InvocationInfo?.MyCommand?.Name;
            var text = string.IsNullOrEmpty(command) || command!.EndsWith(".ps1", StringComparison.OrdinalIgnoreCase)
                ? message : command + ": " + message;
            return text + " [" + record.FullyQualifiedErrorId + "]";
        }

        private static void Err(string text)
        {
            lock (ConsoleUI.Lock) Console.Error.WriteLine(text);
        }
    }
}
