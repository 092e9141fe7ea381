using System.Net;
using McpEdge.Configuration;
using McpEdge.Hosting;
using McpEdge.Tests.EndToEnd;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace McpEdge.Tests.Integration;

/// <summary>
/// <c>McpEdge:Admin:Url</c>: a cleartext port of its own serving /healthz, /readyz, /metrics and
/// /edge/clusters and no MCP server; the traffic listeners keep /healthz and /readyz and stop
/// serving /metrics and /edge/clusters.
/// </summary>
public class AdminListenerTests
{
    private static Task<TestUpstream> UpstreamAsync() =>
        TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } }));

    private static HttpClient ClientFor(string baseAddress) => new() { BaseAddress = new Uri(baseAddress), Timeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public async Task AdminListener_ServesTheEdgesOwnEndpoints_TheOperatorViewToAnyAddress_AndNoMcpServer()
    {
        await using var upstream = await UpstreamAsync();
        var admin = $"http://127.0.0.1:{PeerProcess.FreePort()}";
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") },
            Security = new { TrustedProxies = new[] { "127.0.0.1" } }, // so X-Forwarded-For makes a request come from elsewhere
            Admin = new { Url = admin },
        });
        using var adminClient = ClientFor(admin);

        // The admin listener: all four, the operator view even for a client that is not on loopback, whatever the Host.
        Assert.Equal(HttpStatusCode.OK, (await adminClient.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await adminClient.GetAsync("/readyz")).StatusCode);
        using (var metrics = await adminClient.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
            Assert.Contains("mcpedge_replica_healthy{", await metrics.Content.ReadAsStringAsync());
        }
        var remote = new HttpRequestMessage(HttpMethod.Get, "/edge/clusters");
        remote.Headers.Add("X-Forwarded-For", "203.0.113.9");
        remote.Headers.Host = "10.1.2.3:9090"; // a pod IP, as Prometheus and kubelet send it
        using (var clusters = await adminClient.SendAsync(remote))
        {
            Assert.Equal(HttpStatusCode.OK, clusters.StatusCode);
            Assert.Contains("\"name\": \"s\"", await clusters.Content.ReadAsStringAsync());
        }
        // No MCP server answers there, and nothing reaches a replica.
        using (var mcp = await adminClient.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize)))
        {
            Assert.Equal(HttpStatusCode.NotFound, mcp.StatusCode);
        }
        Assert.Empty(upstream.Requests);

        // The traffic listener: probes yes; metrics and the operator view no, not even for loopback.
        Assert.Equal(HttpStatusCode.OK, (await edge.Client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await edge.Client.GetAsync("/readyz")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await edge.Client.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await edge.Client.GetAsync("/edge/clusters")).StatusCode);
        using (var mcp = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize)))
        {
            Assert.Equal(HttpStatusCode.OK, mcp.StatusCode);
        }
        Assert.Single(upstream.Requests);
    }

    [Fact]
    public async Task AdminListener_AnswersProbesInCleartext_WhileTheTrafficListenerRequiresAClientCertificate()
    {
        await using var upstream = await UpstreamAsync();
        using var certificates = new TestCertificates();
        certificates.IssueAndWrite("edge");
        var admin = $"http://127.0.0.1:{PeerProcess.FreePort()}";
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") },
            Tls = new { certificates.CertificateFile, certificates.KeyFile, ClientCertificateMode = "Require", ClientCaFile = certificates.WriteCaBundle() },
            Admin = new { Url = admin },
        }, "--urls", "https://127.0.0.1:0");

        using var withoutCertificate = new HttpClient(certificates.TrustingOnlyTheRoot()) { BaseAddress = edge.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        await Assert.ThrowsAsync<HttpRequestException>(() => withoutCertificate.GetAsync("/readyz")); // what kubelet's HTTPS probe meets
        using var adminClient = ClientFor(admin);
        Assert.Equal(HttpStatusCode.OK, (await adminClient.GetAsync("/readyz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await adminClient.GetAsync("/metrics")).StatusCode);
    }

    [Fact]
    public async Task AdminUrl_ThatCannotBeBound_StopsTheStart_NamingTheSetting()
    {
        var servers = new { s = Mcp.Server(upstreams: "http://127.0.0.1:9/mcp") };
        async Task<string> ErrorFor(string url, params string[] args) =>
            Assert.Single((await Assert.ThrowsAsync<McpEdgeConfigurationException>(() => TestEdge.StartAsync(new { Servers = servers, Admin = new { Url = url } }, args))).Errors);

        Assert.Contains("McpEdge:Admin:Url: 'https://127.0.0.1:9443': the admin listener speaks cleartext HTTP only", await ErrorFor("https://127.0.0.1:9443"));
        Assert.Contains("McpEdge:Admin:Url: 'http://127.0.0.1:0' needs a port of its own", await ErrorFor("http://127.0.0.1:0"));
        Assert.Contains("McpEdge:Admin:Url: 'http://127.0.0.1:9090/admin' has a path", await ErrorFor("http://127.0.0.1:9090/admin"));
        Assert.Contains("is not a listener URL", await ErrorFor("9090"));
        var port = PeerProcess.FreePort();
        Assert.Contains($"McpEdge:Admin:Url: port {port} is a traffic listener's ('http://127.0.0.1:{port}')",
            await ErrorFor($"http://127.0.0.1:{port}", "--urls", $"http://127.0.0.1:{port}"));
        Assert.Contains("McpEdge:Admin:Url: Kestrel:Endpoints replaces the listeners of --urls",
            await ErrorFor($"http://127.0.0.1:{port}", "--Kestrel:Endpoints:main:Url=http://127.0.0.1:0"));
    }

    [Fact]
    public async Task AdminUrl_ChangedByAReload_IsLogged_AndTheListenerStaysWhereItWasBound()
    {
        await using var upstream = await UpstreamAsync();
        var admin = $"http://127.0.0.1:{PeerProcess.FreePort()}";
        var logs = new LogCollector(LogLevel.Warning);
        object Section(string url) => new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") }, Admin = new { Url = url } };
        await using var edge = await TestEdge.StartAsync(Section(admin), builder => builder.Services.AddSingleton<ILoggerProvider>(logs));

        var moved = $"http://127.0.0.1:{PeerProcess.FreePort()}";
        await edge.ReloadAsync(Section(moved));

        Assert.Contains(logs.Entries, e => e.Category == typeof(AdminListener).FullName
            && e.Message.Contains($"McpEdge:Admin:Url changed to {moved}", StringComparison.Ordinal) && e.Message.Contains($"stays {admin}", StringComparison.Ordinal));
        using var adminClient = ClientFor(admin);
        Assert.Equal(HttpStatusCode.OK, (await adminClient.GetAsync("/metrics")).StatusCode);
        Assert.Equal(admin, edge.Services.GetRequiredService<AdminListener>().Url);
    }

    [Theory]
    [InlineData("http://+:9090", null)]
    [InlineData("http://[::]:9090", null)]
    [InlineData("http://localhost:9090", null)]
    [InlineData("http://unix:/run/mcpedge-admin.sock", "needs a TCP port")]
    [InlineData("http://+:70000", "needs a port of its own")]
    public void Problem_AcceptsTcpListenerUrls(string url, string? problem)
    {
        var found = AdminListener.Problem(url);
        if (problem is null)
        {
            Assert.Null(found);
        }
        else
        {
            Assert.Contains(problem, found);
        }
    }
}
