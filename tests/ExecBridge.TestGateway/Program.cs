using System;
using System.Text.Json;
using System.Threading.Tasks;

namespace ExecBridge.Tests.Gateway
{
    /// <summary>
    /// Runs the gateway fixture for the Pester suite: `ExecBridge.TestGateway id=ws://127.0.0.1:port[;token-file] …`.
    /// Prints one JSON line (addresses, workspace id and the fixture's secrets, for the test that started it) and
    /// serves until its standard input closes, so it never outlives the pwsh that started it.
    /// </summary>
    public static class Program
    {
        public static async Task<int> Main(string[] args)
        {
            await using var gateway = await GatewayFixture.StartNewAsync();
            foreach (var arg in args)
            {
                var eq = arg.IndexOf('=');
                if (eq <= 0) { Console.Error.WriteLine($"expected id=ws://host:port[;tokenfile], got '{arg}'"); return 2; }
                var target = arg.Substring(eq + 1).Split(';');
                string? token = target.Length > 1 ? System.IO.File.ReadAllText(target[1]).Trim() : null;
                gateway.RegisterExecutor(arg.Substring(0, eq), new Uri(target[0]), execServerToken: token);
            }
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                BridgeUri = gateway.BridgeBaseUri.ToString(),
                BaseUri = gateway.BaseUri.ToString().TrimEnd('/'),
                gateway.WorkspaceId,
                gateway.WorkspaceToken,
                gateway.InternalSecret,
            }));
            Console.Out.Flush();
            await Console.In.ReadToEndAsync();
            return 0;
        }
    }
}
