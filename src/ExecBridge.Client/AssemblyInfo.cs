using System.Runtime.CompilerServices;

// Secrets (tokens) are internal: only the cmdlet layer and the tests may pass them on.
[assembly: InternalsVisibleTo("ExecBridge")]
[assembly: InternalsVisibleTo("ExecBridge.Tests")]
[assembly: InternalsVisibleTo("ExecBridge.Bench")]
