using System;
using System.Management.Automation;
using System.Reflection;
using System.Runtime.ExceptionServices;

namespace ExecBridge.Infrastructure
{
    /// <summary>One line a remote process wrote to stderr, as an error record's exception.</summary>
    public sealed class RemoteStderrException : Exception
    {
        public RemoteStderrException(string line) : base(line) { }
    }

    /// <summary>
    /// Writes remote stderr lines to the error stream the way pwsh 7.4+ writes a native command's: non-terminating,
    /// not failing $?, and not stopped by -ErrorAction Stop / $ErrorActionPreference = 'Stop' (the exit code decides
    /// whether the command failed). Public WriteError cannot do that, so this uses the runtime's own entry for native
    /// stderr (MshCommandRuntime._WriteErrorSkipAllowCheck(record, preference, isFromNativeStdError: true)); where
    /// that is missing (Windows PowerShell) the caller falls back to the information stream.
    /// </summary>
    internal static class StderrWriter
    {
        private static readonly MethodInfo? Method = typeof(PSObject).Assembly
            .GetType("System.Management.Automation.MshCommandRuntime")
            ?.GetMethod("_WriteErrorSkipAllowCheck", BindingFlags.NonPublic | BindingFlags.Instance, null,
                new[] { typeof(ErrorRecord), typeof(ActionPreference?), typeof(bool) }, null);

        public static ErrorRecord NewRecord(string line, object? target) =>
            new ErrorRecord(new RemoteStderrException(line), "RemoteStderr", ErrorCategory.NotSpecified, target);

        // The native path records nothing in -ErrorVariable or $Error; a cmdlet's errors belong there, so add them.
        private static readonly MethodInfo? Append = Method?.DeclaringType!.GetMethod("AppendErrorToVariables",
            BindingFlags.NonPublic | BindingFlags.Instance, null, new[] { typeof(object) }, null);

        // Public WriteError stamps the cmdlet's invocation on the record; without it the host shows the exception's type
        // name ("RemoteStderrException: ...") instead of "Invoke-RemoteCommand: ...".
        private static readonly MethodInfo? SetInvocation = typeof(ErrorRecord).GetMethod("SetInvocationInfo",
            BindingFlags.NonPublic | BindingFlags.Instance, null, new[] { typeof(InvocationInfo) }, null);

        /// <summary>False when the runtime has no native-stderr entry; the line was not written then.</summary>
        public static bool TryWrite(PSCmdlet cmdlet, ErrorRecord record)
        {
            var runtime = cmdlet.CommandRuntime;
            if (Method == null || Append == null || runtime == null || !Method.DeclaringType!.IsInstanceOfType(runtime)) return false;
            // Ignore and SilentlyContinue are honoured (like 2>$null); Stop and Inquire are not, as for native stderr.
            var preference = EffectivePreference(cmdlet);
            if (preference == ActionPreference.Ignore) return true;
            try
            {
                SetInvocation?.Invoke(record, new object?[] { cmdlet.MyInvocation });
                Append.Invoke(runtime, new object?[] { record });
                if (preference != ActionPreference.SilentlyContinue)
                    Method.Invoke(runtime, new object?[] { record, ActionPreference.Continue, true });
                return true;
            }
            catch (TargetInvocationException tie) when (tie.InnerException != null)
            {
                ExceptionDispatchInfo.Capture(tie.InnerException).Throw();
                throw;
            }
        }

        private static ActionPreference EffectivePreference(PSCmdlet cmdlet)
        {
            object? value = cmdlet.MyInvocation.BoundParameters.TryGetValue("ErrorAction", out var bound) ? bound
                : cmdlet.GetVariableValue("ErrorActionPreference");
            if (value is PSObject pso) value = pso.BaseObject;
            if (value is ActionPreference ap) return ap;
            return value != null && Enum.TryParse(value.ToString(), true, out ActionPreference parsed) ? parsed : ActionPreference.Continue;
        }
    }
}
