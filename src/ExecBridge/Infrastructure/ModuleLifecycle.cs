using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using System.Threading;

namespace ExecBridge.Infrastructure
{
    /// <summary>Sets up dependency loading on import; stops local exec-servers and closes connections on Remove-Module.</summary>
    public sealed class ModuleLifecycle : IModuleAssemblyInitializer, IModuleAssemblyCleanup
    {
        public void OnImport()
        {
            DependencyLoader.Register();
            StartWarmUp();
        }

        // Its own method: the client assembly is resolved when this is compiled, after the loader is registered.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        private static void StartWarmUp()
        {
            try { Client.Rpc.WarmUp.Start(); } catch { }
        }

        public void OnRemove(PSModuleInfo psModuleInfo) => SessionPool.CloseCurrent();
    }

    /// <summary>
    /// The client and the logging abstractions live in dependencies/. On PowerShell 7 they load into a private
    /// AssemblyLoadContext, so another module's Microsoft.Extensions.Logging cannot clash with ours; assemblies the
    /// host already ships (System.Text.Json, System.Memory, …) come from the host. On Windows PowerShell 5.1, which
    /// has no load contexts, they are resolved from the same folder.
    /// </summary>
    internal static class DependencyLoader
    {
        private static int _registered;

        internal static string Directory { get; } =
            Path.Combine(Path.GetDirectoryName(typeof(DependencyLoader).Assembly.Location) ?? ".", "dependencies");

        public static void Register()
        {
            if (Interlocked.Exchange(ref _registered, 1) == 1) return;
            if (RuntimeInformation.FrameworkDescription.StartsWith(".NET Framework", StringComparison.Ordinal))
                AppDomain.CurrentDomain.AssemblyResolve += ResolveOnFramework;
            else
                CoreLoader.Register(Directory);
        }

        private static Assembly? ResolveOnFramework(object? sender, ResolveEventArgs args)
        {
            var path = Path.Combine(Directory, new AssemblyName(args.Name).Name + ".dll");
            return File.Exists(path) ? Assembly.LoadFrom(path) : null;
        }
    }

    /// <summary>Kept apart so .NET Framework never compiles code that touches AssemblyLoadContext.</summary>
    internal static class CoreLoader
    {
        private static ExecBridgeLoadContext? _context;

        public static void Register(string directory)
        {
            _context = new ExecBridgeLoadContext(directory);
            AssemblyLoadContext.Default.Resolving += (_, name) => _context.Resolve(name);
        }
    }

    internal sealed class ExecBridgeLoadContext : AssemblyLoadContext
    {
        // Ours, and what could clash with another module's copy; everything else the host provides.
        private static readonly HashSet<string> Isolated = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        {
            "ExecBridge.Client",
            "Microsoft.Extensions.Logging.Abstractions",
            "Microsoft.Extensions.DependencyInjection.Abstractions",
        };

        private readonly string _directory;

        public ExecBridgeLoadContext(string directory) => _directory = directory;

        protected override Assembly? Load(AssemblyName assemblyName)
        {
            var path = PathOf(assemblyName);
            return Isolated.Contains(assemblyName.Name ?? "") && File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }

        /// <summary>For the default context: our isolated assemblies, or a dependency the host lacks.</summary>
        public Assembly? Resolve(AssemblyName assemblyName)
        {
            var path = PathOf(assemblyName);
            if (!File.Exists(path)) return null;
            return Isolated.Contains(assemblyName.Name ?? "") ? LoadFromAssemblyName(assemblyName) : LoadFromAssemblyPath(path);
        }

        private string PathOf(AssemblyName name) => Path.Combine(_directory, name.Name + ".dll");
    }
}
