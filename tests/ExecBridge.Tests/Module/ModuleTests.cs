using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Xml.Linq;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Module
{
    /// <summary>One engine with the built module imported, shared by the module tests (they only read).</summary>
    public sealed class ModuleFixture : IDisposable
    {
        public PsHost Ps { get; } = new PsHost();

        public void Dispose() => Ps.Dispose();
    }

    /// <summary>The built module folder as a user gets it: manifest, one version, exports, output types, help.</summary>
    public sealed class ModuleTests : IClassFixture<ModuleFixture>
    {
        /// <summary>The issue's core cmdlets: these must have full help.</summary>
        private static readonly string[] Core =
        {
            "Connect-ExecBridge", "Disconnect-ExecBridge", "Get-ExecBridgeConnection", "Start-RemoteProcess", "Get-RemoteProcess",
            "Receive-RemoteOutput", "Send-RemoteInput", "Stop-RemoteProcess", "Invoke-RemoteCommand",
        };

        /// <summary>Cmdlets that declare [OutputType(typeof(void))] on purpose.</summary>
        private static readonly string[] VoidCore = { "Disconnect-ExecBridge", "Send-RemoteInput" };

        private readonly PsHost _ps;

        public ModuleTests(ModuleFixture fixture) => _ps = fixture.Ps;

        private List<string> Strings(string script, params object[] args) =>
            _ps.Run(script, args).AssertOk().Output.Select(o => o?.ToString() ?? "").ToList();

        private List<string> Exported() => Strings("(Get-Command -Module ExecBridge -CommandType Cmdlet).Name");

        [Fact]
        public void TestModuleManifestPasses()
        {
            var r = _ps.Run("Test-ModuleManifest -Path $args[0]", Peers.ModuleManifest).AssertOk();
            var info = r.Output.Single();
            Assert.Equal("ExecBridge", info.P("Name"));
            Assert.Equal("ExecBridge.dll", info.P("RootModule"));
        }

        [Fact]
        public void ManifestVersionIsTheAssemblyVersion()
        {
            var moduleVersion = Version.Parse(Strings("(Test-ModuleManifest -Path $args[0]).Version.ToString()", Peers.ModuleManifest).Single());
            var folder = Path.GetDirectoryName(Peers.ModuleManifest)!;
            var dlls = new List<string> { Path.Combine(folder, "ExecBridge.dll") };
            dlls.AddRange(Directory.GetFiles(folder, "ExecBridge.Client.dll", SearchOption.AllDirectories));
            Assert.Equal(2, dlls.Count);
            foreach (var dll in dlls)
            {
                var v = AssemblyName.GetAssemblyName(dll).Version!;
                Assert.True(new Version(v.Major, v.Minor, v.Build) == new Version(moduleVersion.Major, moduleVersion.Minor, Math.Max(0, moduleVersion.Build)),
                    $"{Path.GetFileName(dll)} is version {v}, the manifest says {moduleVersion}.");
            }

            // The one version source is the repository's ExecBridge.psd1, copied unchanged into the module folder.
            var source = File.ReadAllText(Path.Combine(Peers.RepoRoot, "ExecBridge.psd1"));
            Assert.Contains($"ModuleVersion        = '{moduleVersion}'", source);
        }

        [Fact]
        public void ExportedCmdletsMatchTheManifest()
        {
            var declared = Strings(@"
                $ast = [System.Management.Automation.Language.Parser]::ParseFile($args[0], [ref]$null, [ref]$null)
                $ast.Find({ $args[0] -is [System.Management.Automation.Language.HashtableAst] }, $false).SafeGetValue().CmdletsToExport", Peers.ModuleManifest);
            var exported = Exported();
            // Every [Cmdlet] class in ExecBridge.dll; one missing from CmdletsToExport would be silently hidden.
            var implemented = Strings(@"
                (Get-Module ExecBridge).ImplementingAssembly.GetTypes() |
                    Where-Object { -not $_.IsAbstract } |
                    ForEach-Object { $_.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false) } |
                    ForEach-Object { $_.VerbName + '-' + $_.NounName }");

            Assert.NotEmpty(exported);
            var notExported = declared.Except(exported, StringComparer.OrdinalIgnoreCase).ToList();
            var notDeclared = exported.Concat(implemented).Except(declared, StringComparer.OrdinalIgnoreCase).Distinct().ToList();
            Assert.True(notExported.Count == 0 && notDeclared.Count == 0,
                "In CmdletsToExport but not exported by the module (not implemented?): " + string.Join(", ", notExported) +
                "\nImplemented or exported but missing from CmdletsToExport: " + string.Join(", ", notDeclared));
        }

        [Fact]
        public void EveryCmdletDeclaresItsOutputType()
        {
            var lines = Strings(@"Get-Command -Module ExecBridge -CommandType Cmdlet | ForEach-Object { $_.Name + '=' + (($_.OutputType | ForEach-Object { $_.Name }) -join ',') }");
            Assert.NotEmpty(lines);
            var problems = new List<string>();
            foreach (var line in lines)
            {
                var name = line.Substring(0, line.IndexOf('='));
                var types = line.Substring(name.Length + 1).Split(',', StringSplitOptions.RemoveEmptyEntries);
                if (types.Length == 0) problems.Add(name + " has no [OutputType]");
                else if (Core.Contains(name) && !VoidCore.Contains(name) && types.All(t => t == "System.Void"))
                    problems.Add(name + " declares only System.Void");
            }
            Assert.True(problems.Count == 0, string.Join("; ", problems));
            foreach (var v in VoidCore) Assert.Contains(v + "=System.Void", lines);
        }

        [Fact]
        public void EveryCmdletHasHelpWithSynopsisAndExample()
        {
            var exported = Exported();
            Assert.Superset(new HashSet<string>(Core), new HashSet<string>(exported));
            var problems = new List<string>();
            foreach (var name in exported)
            {
                var help = Strings(@"
                    $h = Get-Help -Name $args[0] -Full
                    [string]$h.Synopsis
                    [string]@($h.examples.example | Where-Object { $_ -and $_.code }).Count
                    [string]@($h.description | Where-Object { $_ -and $_.Text }).Count", name);
                var synopsis = help[0].Trim();
                // Without a help file Get-Help makes up a synopsis from the syntax ("Name [-Param] <type> ...").
                if (synopsis.Length == 0 || synopsis.StartsWith(name, StringComparison.OrdinalIgnoreCase))
                    problems.Add($"{name}: no synopsis");
                if (int.Parse(help[1]) < 1) problems.Add($"{name}: no example");
                if (int.Parse(help[2]) < 1) problems.Add($"{name}: no description");
            }
            Assert.True(problems.Count == 0, "Help missing (docs/en-US/<cmdlet>.md, built into en-US by ./build.ps1): " + string.Join("; ", problems));
        }

        [Fact]
        public void EveryParameterIsDocumented()
        {
            var lines = Strings(@"
                $common = @([System.Management.Automation.Cmdlet]::CommonParameters) + @([System.Management.Automation.Cmdlet]::OptionalCommonParameters)
                foreach ($c in Get-Command -Module ExecBridge -CommandType Cmdlet) {
                    $documented = @{}
                    foreach ($p in @((Get-Help -Name $c.Name -Full).parameters.parameter)) {
                        $text = (@($p.description) | ForEach-Object { $_.Text }) -join ' '
                        if ($text.Trim()) { $documented[$p.name] = $true }
                    }
                    foreach ($name in $c.Parameters.Keys) {
                        if ($common -notcontains $name -and -not $documented.ContainsKey($name)) { $c.Name + ' -' + $name }
                    }
                }");
            Assert.True(lines.Count == 0, "Parameters without help (docs/en-US/<cmdlet>.md, built into en-US by ./build.ps1): " + string.Join(", ", lines));
        }

        [Fact]
        public void HelpFileShipsInTheModuleFolder()
        {
            var help = Path.Combine(Path.GetDirectoryName(Peers.ModuleManifest)!, "en-US", "ExecBridge.dll-Help.xml");
            Assert.True(File.Exists(help), help + " is missing: ./build.ps1 writes it from docs/en-US (a plain dotnet build does not)");
            var doc = XDocument.Load(help);
            XNamespace command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
            var names = doc.Descendants(command + "name").Select(e => e.Value.Trim()).ToList();
            foreach (var name in Core) Assert.Contains(name, names);
        }
    }
}
