using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading.Tasks;
using System.Xml.Linq;
using ExecBridge.Tests.Gateway;
using ExecBridge.Tests.Infrastructure;
using Xunit;

namespace ExecBridge.Tests.Relay
{
    /// <summary>Set-ExecBridgeRelay and New-RelayTicket through the real engine, against the gateway fixture.</summary>
    public sealed class RelayCmdletTests : IClassFixture<GatewayWithExecutors>
    {
        private readonly GatewayWithExecutors _f;

        public RelayCmdletTests(GatewayWithExecutors f) => _f = f;

        private GatewayFixture G => _f.Gateway;

        private const string SetRelay =
            "$sec = [System.Net.NetworkCredential]::new('', $args[2]).SecurePassword; Set-ExecBridgeRelay -InternalUri $args[0] -WorkspaceId $args[1] -Secret $sec";

        [Fact]
        public async Task New_RelayTicket_mints_a_usable_ticket_whose_ToString_and_verbose_are_masked()
        {
            using var ps = new PsHost();
            ps.Run(SetRelay + " -Verbose", G.InternalBaseUri, G.WorkspaceId, G.InternalSecret).AssertOk();
            int minted = G.TicketsMinted;
            var r = ps.Run("$t = New-RelayTicket -SourceExecutorId $args[0] -DestinationExecutorId $args[1] -TimeToLive ([TimeSpan]::FromSeconds(90)) -MaxBytes 1000 -Verbose; " +
                           "$t; $t.ToString(); \"$t\"; $t.GetTicket(); $t.GetUploadUri(); $t.GetDownloadUri()", GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId).AssertOk();
            Assert.Equal(minted + 1, G.TicketsMinted);
            var t = r.Output[0];
            Assert.Equal("ExecBridge.RelayTicket", t.TypeNames[0]);
            var ticket = r.Output[3].ToString();
            Assert.IsType<System.Security.SecureString>(t.Properties["Ticket"].Value);
            Assert.StartsWith("rly_", ticket);
            Assert.Contains(ticket, G.MintedTickets);
            Assert.Equal(GatewayWithExecutors.LegacyId, t.P("SourceExecutorId"));
            Assert.Equal(GatewayWithExecutors.CurrentId, t.P("DestinationExecutorId"));
            Assert.Equal("1000", t.P("MaxBytes"));
            Assert.Equal(new Uri(G.BaseUri, "relay/" + ticket), (Uri)r.Output[4].BaseObject);
            Assert.DoesNotContain(ticket, t.P("UploadUri"));
            Assert.DoesNotContain(ticket, t.P("DownloadUri"));
            Assert.Contains("/relay/rly_", t.P("DownloadUri"));
            var expires = (DateTimeOffset)t.Properties["ExpiresAt"].Value;
            Assert.InRange(expires, DateTimeOffset.UtcNow.AddSeconds(60), DateTimeOffset.UtcNow.AddSeconds(95));
            foreach (var text in new[] { r.Output[1].ToString(), r.Output[2].ToString(), t.ToString() })
            {
                Assert.DoesNotContain(ticket, text);
                Assert.Contains("rly_", text);
                Assert.Contains(GatewayWithExecutors.LegacyId, text);
            }
            Assert.NotEmpty(r.Verbose);
            foreach (var v in r.Verbose)
            {
                Assert.DoesNotContain(ticket, v);
                Assert.DoesNotContain(G.InternalSecret, v);
            }

            // The ticket works: the relay carries bytes with it.
            using var http = new HttpClient();
            using var get = new HttpRequestMessage(HttpMethod.Get, (Uri)r.Output[5].BaseObject);
            get.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ticket);
            var download = http.SendAsync(get);
            using var put = new HttpRequestMessage(HttpMethod.Put, (Uri)r.Output[4].BaseObject) { Content = new ByteArrayContent(new byte[] { 42, 43 }) };
            put.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ticket);
            using var putResp = await http.SendAsync(put);
            Assert.Equal(200, (int)putResp.StatusCode);
            using var got = await download;
            Assert.Equal(new byte[] { 42, 43 }, await got.Content.ReadAsByteArrayAsync());
        }

        [Fact]
        public void Without_relay_settings_New_RelayTicket_is_RelayNotConfigured()
        {
            using var ps = new PsHost();
            var e = ps.Run("New-RelayTicket -SourceExecutorId a -DestinationExecutorId b").AllErrors.Single();
            Assert.Equal("RelayNotConfigured,ExecBridge.Cmdlets.Relay.NewRelayTicket", e.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.NotEnabled, e.CategoryInfo.Category);
            Assert.Contains("Set-ExecBridgeRelay", e.Exception.Message);
        }

        [Fact]
        public void Wrong_internal_secret_is_an_authentication_error_without_the_secret()
        {
            const string wrong = "igs_not-the-internal-secret-at-all-42";
            using var ps = new PsHost();
            ps.Run(SetRelay, G.InternalBaseUri, G.WorkspaceId, wrong).AssertOk();
            var e = ps.Run("New-RelayTicket -SourceExecutorId $args[0] -DestinationExecutorId $args[1]",
                GatewayWithExecutors.LegacyId, GatewayWithExecutors.CurrentId).AllErrors.Single();
            Assert.Equal("AuthenticationFailed,ExecBridge.Cmdlets.Relay.NewRelayTicket", e.FullyQualifiedErrorId);
            Assert.Contains("401", e.Exception.Message);
            Assert.DoesNotContain(wrong, e.ToString());
            Assert.DoesNotContain(wrong, e.Exception.ToString());
            Assert.DoesNotContain(G.InternalSecret, e.Exception.ToString());

            // An executor outside the workspace: 403, also an authentication error.
            ps.Run(SetRelay, G.InternalBaseUri, G.WorkspaceId, G.InternalSecret).AssertOk();
            var e2 = ps.Run("New-RelayTicket -SourceExecutorId $args[0] -DestinationExecutorId $args[1]",
                GatewayWithExecutors.LegacyId, GatewayWithExecutors.ForeignId).AllErrors.Single();
            Assert.Equal("AuthenticationFailed,ExecBridge.Cmdlets.Relay.NewRelayTicket", e2.FullyQualifiedErrorId);
            Assert.Contains("403", e2.Exception.Message);
        }

        [Fact]
        public void Secret_from_an_environment_variable_and_no_plain_text_secret_parameter()
        {
            var name = "EB_RELAY_SECRET_" + Guid.NewGuid().ToString("N").Substring(0, 8);
            using var ps = new PsHost();
            var missing = ps.Run("Set-ExecBridgeRelay -InternalUri $args[0] -WorkspaceId $args[1] -SecretEnvironmentVariable $args[2]",
                G.InternalBaseUri, G.WorkspaceId, name).AllErrors.Single();
            Assert.Equal("InvalidArgument,ExecBridge.Cmdlets.Relay.SetExecBridgeRelay", missing.FullyQualifiedErrorId);
            Assert.Contains(name, missing.Exception.Message);

            Environment.SetEnvironmentVariable(name, G.InternalSecret);
            try
            {
                ps.Run("Set-ExecBridgeRelay -InternalUri $args[0] -WorkspaceId $args[1] -SecretEnvironmentVariable $args[2]",
                    G.InternalBaseUri, G.WorkspaceId, name).AssertOk();
                var t = ps.Run("(New-RelayTicket $args[0] $args[1]).GetTicket()", GatewayWithExecutors.CurrentId, GatewayWithExecutors.LegacyId).AssertOk().Output.Single().ToString();
                Assert.StartsWith("rly_", t);
                G.ExpireTicket(t);
            }
            finally
            {
                Environment.SetEnvironmentVariable(name, null);
            }

            // A plain string for -Secret is refused by parameter binding; no parameter takes the secret as text.
            var plain = ps.Run("Set-ExecBridgeRelay -InternalUri $args[0] -WorkspaceId $args[1] -Secret 'plain-text'", G.InternalBaseUri, G.WorkspaceId).AllErrors.Single();
            Assert.StartsWith("CannotConvertArgumentNoMessage,", plain.FullyQualifiedErrorId);
            Assert.Contains("SecureString", plain.Exception.Message);
            var parameters = ps.Run("(Get-Command Set-ExecBridgeRelay).Parameters.Values | ForEach-Object { $_.Name + ':' + $_.ParameterType.Name }").AssertOk()
                .Output.Select(o => o.ToString()).ToList();
            Assert.Contains("Secret:SecureString", parameters);
            Assert.DoesNotContain(parameters, p => p.StartsWith("Secret:String", StringComparison.Ordinal));
            var bad = ps.Run(SetRelay, new Uri("ftp://example.invalid/"), G.WorkspaceId, "x").AllErrors.Single();
            Assert.Equal("InvalidArgument,ExecBridge.Cmdlets.Relay.SetExecBridgeRelay", bad.FullyQualifiedErrorId);
        }

        [Fact]
        public void The_default_views_never_show_the_ticket_or_the_urls()
        {
            var manifest = Peers.ModuleManifest;
            var file = Path.Combine(Path.GetDirectoryName(manifest)!, "ExecBridge.Relay.format.ps1xml");
            var xml = XDocument.Load(file);
            var views = xml.Descendants("View").Where(v => v.Descendants("TypeName").Any(t => t.Value == "ExecBridge.RelayTicket")).ToList();
            Assert.Equal(2, views.Count); // table and list
            var shown = views.SelectMany(v => v.Descendants("PropertyName").Concat(v.Descendants("ScriptBlock"))).Select(e => e.Value.Trim()).ToList();
            Assert.Contains("MaskedTicket", shown);
            foreach (var secret in new[] { "Ticket", "UploadUri", "DownloadUri", "$_.Ticket", "$_.UploadUri", "$_.DownloadUri" })
                Assert.DoesNotContain(secret, shown);
            Assert.DoesNotContain(shown, s => s.Contains(".Ticket") || s.Contains("Uri"));

            // The engine loaded the views (FormatsToProcess).
            using var ps = new PsHost();
            var loaded = ps.Run("(Get-Module ExecBridge).ExportedFormatFiles | ForEach-Object { [IO.Path]::GetFileName($_) }").AssertOk();
            Assert.Contains("ExecBridge.Relay.format.ps1xml", loaded.Output.Select(o => o.ToString()));
        }
    }
}
