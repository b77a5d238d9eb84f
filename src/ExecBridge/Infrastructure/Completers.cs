using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace ExecBridge.Infrastructure
{
    /// <summary>Completes -ExecutorId from this session's connections.</summary>
    public sealed class ExecutorIdCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var prefix = (wordToComplete ?? "").Trim('\'', '"');
            return SessionPool.Visible
                .Where(c => c.ExecutorId.StartsWith(prefix, System.StringComparison.OrdinalIgnoreCase))
                .Select(c => new CompletionResult(Quote(c.ExecutorId), c.ExecutorId, CompletionResultType.ParameterValue,
                    $"{c.ExecutorId} ({c.Dialect}, {c.State})"));
        }

        internal static string Quote(string s) => s.IndexOfAny(new[] { ' ', '\'', '"', '$', '`', ';', '(', ')', '{', '}', '#' }) >= 0
            ? "'" + s.Replace("'", "''") + "'" : s;
    }

    /// <summary>Completes -Encoding with the names Get-Content uses.</summary>
    public sealed class EncodingCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var prefix = (wordToComplete ?? "").Trim('\'', '"');
            return ExecBridge.Cmdlets.Files.FileCmdletBase.EncodingNames
                .Where(n => n.StartsWith(prefix, System.StringComparison.OrdinalIgnoreCase))
                .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, n));
        }
    }
}
