using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace ExecBridge.Tests.Infrastructure
{
    /// <summary>
    /// The real PowerShell 7.6 engine, in-process, with the built module imported from its output folder
    /// exactly as a user would (Import-Module path/ExecBridge.psd1).
    /// </summary>
    public sealed class PsHost : IDisposable
    {
        private readonly Runspace _runspace;

        public PsHost(bool importModule = true)
        {
            var iss = InitialSessionState.CreateDefault2();
            _runspace = RunspaceFactory.CreateRunspace(iss);
            _runspace.Open();
            if (importModule)
            {
                var r = Run("Import-Module $args[0] -ErrorAction Stop", Peers.ModuleManifest);
                if (r.HadErrors) throw new InvalidOperationException("Import-Module failed: " + r.ErrorText);
            }
        }

        public Runspace Runspace => _runspace;

        /// <summary>Runs a script; $args carries the arguments. Never throws for script errors: inspect the result.</summary>
        public PsResult Run(string script, params object[] args)
        {
            using var ps = PowerShell.Create();
            ps.Runspace = _runspace;
            ps.AddScript(script);
            foreach (var a in args) ps.AddArgument(a);
            var result = new PsResult();
            try
            {
                result.Output = ps.Invoke().ToList();
            }
            catch (RuntimeException ex)
            {
                result.Terminating = ex.ErrorRecord;
            }
            result.Errors = ps.Streams.Error.ToList();
            result.Verbose = ps.Streams.Verbose.Select(v => v.Message).ToList();
            result.Debug = ps.Streams.Debug.Select(v => v.Message).ToList();
            result.Warnings = ps.Streams.Warning.Select(v => v.Message).ToList();
            result.Information = ps.Streams.Information.ToList();
            return result;
        }

        /// <summary>Starts a script asynchronously so a test can stop it (Ctrl+C) while it runs.</summary>
        public PowerShell Begin(string script, params object[] args)
        {
            var ps = PowerShell.Create();
            ps.Runspace = _runspace;
            ps.AddScript(script);
            foreach (var a in args) ps.AddArgument(a);
            return ps;
        }

        public void Dispose()
        {
            try { Run("Get-Module ExecBridge | Remove-Module"); } catch { }
            _runspace.Dispose();
        }
    }

    public static class PsObjectExtensions
    {
        /// <summary>A property's value as a string (the module's types are not referenced by the tests).</summary>
        public static string? P(this PSObject o, string name) => o.Properties[name]?.Value?.ToString();
    }

    public sealed class PsResult
    {
        public List<PSObject> Output { get; set; } = new List<PSObject>();
        public List<ErrorRecord> Errors { get; set; } = new List<ErrorRecord>();
        public ErrorRecord? Terminating { get; set; }
        public List<string> Verbose { get; set; } = new List<string>();
        public List<string> Debug { get; set; } = new List<string>();
        public List<string> Warnings { get; set; } = new List<string>();
        public List<InformationRecord> Information { get; set; } = new List<InformationRecord>();

        public bool HadErrors => Terminating != null || Errors.Count > 0;

        public IEnumerable<ErrorRecord> AllErrors => Terminating == null ? Errors : Errors.Prepend(Terminating);

        public string ErrorText => string.Join("\n", AllErrors.Select(e => e.FullyQualifiedErrorId + ": " + e.Exception?.Message));

        /// <summary>Fails with the error text when the script reported any error.</summary>
        public PsResult AssertOk()
        {
            if (HadErrors) throw new Xunit.Sdk.XunitException("PowerShell reported errors:\n" + ErrorText);
            return this;
        }

        public T Single<T>() => (T)Output.Single().BaseObject;

        public List<T> All<T>() => Output.Select(o => (T)o.BaseObject).ToList();
    }
}
