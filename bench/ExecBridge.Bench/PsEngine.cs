using System;
using System.Collections.ObjectModel;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace ExecBridge.Bench
{
    /// <summary>The hosted PowerShell 7.6 engine with the built module imported, as a user's session would have it.</summary>
    internal sealed class PsEngine : IDisposable
    {
        private readonly Runspace _runspace;

        public PsEngine(string manifest)
        {
            // CreateDefault2: only the core engine; ExecutionPolicy is left alone.
            _runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
            _runspace.Open();
            Run("Import-Module $args[0] -ErrorAction Stop", manifest);
        }

        public Runspace Runspace => _runspace;

        /// <summary>Runs a script ($args = the arguments) and throws on any error.</summary>
        public Collection<PSObject> Run(string script, params object?[] args)
        {
            using var ps = PowerShell.Create();
            ps.Runspace = _runspace;
            ps.AddScript(script);
            foreach (var a in args) ps.AddArgument(a);
            var output = ps.Invoke();
            ThrowIfErrors(ps);
            return output;
        }

        public bool HasCommand(string name) =>
            Run("[bool](Get-Command -Name $args[0] -ErrorAction SilentlyContinue)", name).FirstOrDefault()?.BaseObject is true;

        /// <summary>Whether the command has a parameter of that name (for cmdlets written by others while this bench was).</summary>
        public bool HasParameter(string command, string parameter) =>
            Run("$c = Get-Command -Name $args[0] -ErrorAction SilentlyContinue; [bool]($c -and $c.Parameters.ContainsKey($args[1]))", command, parameter)
                .FirstOrDefault()?.BaseObject is true;

        public static void ThrowIfErrors(PowerShell ps)
        {
            if (ps.Streams.Error.Count > 0)
            {
                var e = ps.Streams.Error[0];
                throw new InvalidOperationException($"PowerShell error {e.FullyQualifiedErrorId}: {e.Exception?.Message}");
            }
        }

        public void Dispose()
        {
            try { Run("Get-Module ExecBridge | Remove-Module"); } catch { }
            _runspace.Dispose();
        }
    }
}
