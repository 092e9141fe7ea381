using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using McpEdge.Discovery;
using McpEdge.Tests.EndToEnd;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace McpEdge.Tests.Integration;

/// <summary>
/// Servers:{name}:Discovery Dns: a name's addresses are the replicas (two upstreams on 127.0.0.2 and
/// 127.0.0.3, one port, as two pods behind a headless Service), each a destination of its own that
/// gets the name as Host; a pod that leaves the answer ends its sessions with 404; a failed lookup
/// keeps the replicas; a name with no address leaves none.
/// </summary>
public class DnsDiscoveryTests
{
    private const string Name = "github-mcp.replicas.test";

    /// <summary>Answers what the test says, or throws what it says.</summary>
    private sealed class TestResolver : IUpstreamAddressResolver
    {
        public volatile Func<string, IPAddress[]> Answer = _ => throw new SocketException((int)SocketError.HostNotFound);

        public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) => Task.FromResult(Answer(host));
    }

    /// <summary>An upstream on <paramref name="address"/> that names itself in its initialize answer and opens a session.</summary>
    private static Task<TestUpstream> PodAsync(string address, int port) => TestUpstream.StartAsync((context, body) =>
    {
        context.Response.ContentType = "application/json";
        if (body.Contains("\"initialize\"", StringComparison.Ordinal))
        {
            context.Response.Headers["Mcp-Session-Id"] = "session-of-" + address;
            return context.Response.WriteAsync("""{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":""" + JsonSerializer.Serialize(address) + ""","version":"1"}}}""");
        }
        return context.Response.WriteAsync("""{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}""");
    }, url: $"http://{address}:{port}");

    [Fact]
    public async Task EachAddressIsAReplica_SessionsStayOnTheirPod_AndThePodsFollowTheAnswer()
    {
        var port = PeerProcess.FreePort();
        await using var pod2 = await PodAsync("127.0.0.2", port);
        await using var pod3 = await PodAsync("127.0.0.3", port);
        var resolver = new TestResolver { Answer = host => host == Name ? [IPAddress.Parse("127.0.0.3"), IPAddress.Parse("127.0.0.2")] : throw new SocketException((int)SocketError.HostNotFound) };
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new
            {
                s = new
                {
                    Upstreams = new[] { $"http://{Name}:{port}/mcp" }, Discovery = "Dns", DnsRefreshInterval = "01:00:00", // refreshed by the test only
                    LoadBalancingPolicy = "RoundRobin",
                    HealthCheck = new { Active = new { Probe = "http", Path = "/healthz", Interval = "01:00:00" } }, // one round, at start
                },
            },
        }, builder => builder.Services.AddSingleton<IUpstreamAddressResolver>(resolver));
        var discovery = edge.Services.GetRequiredService<DnsUpstreamDiscovery>();

        async Task<string[]> ReplicasAsync()
        {
            using var clusters = JsonDocument.Parse(await edge.Client.GetStringAsync("/edge/clusters"));
            return [.. clusters.RootElement.GetProperty("servers")[0].GetProperty("replicas").EnumerateArray().Select(r => r.GetProperty("id").GetString()!)];
        }
        async Task<(string Pod, string Session)> InitializeAsync()
        {
            using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return (body.RootElement.GetProperty("result").GetProperty("serverInfo").GetProperty("name").GetString()!, response.Headers.GetValues("Mcp-Session-Id").Single());
        }
        async Task<HttpStatusCode> ListAsync(string session)
        {
            using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "tools/list"), session));
            return response.StatusCode;
        }
        async Task ResolveAsync(Func<string, IPAddress[]> answer)
        {
            var applied = edge.NextConfigApplied();
            resolver.Answer = answer;
            Assert.True(await discovery.RefreshAsync());
            await applied.WaitAsync(TimeSpan.FromSeconds(10));
        }

        // Resolved before the first clusters: one destination per address, named by it, and probed.
        Assert.Equal([$"127.0.0.2:{port}/mcp", $"127.0.0.3:{port}/mcp"], await ReplicasAsync());
        await edge.WaitForActiveHealthAsync("s", $"http://127.0.0.2:{port}/mcp", Yarp.ReverseProxy.Model.DestinationHealth.Healthy);
        await edge.WaitForActiveHealthAsync("s", $"http://127.0.0.3:{port}/mcp", Yarp.ReverseProxy.Model.DestinationHealth.Healthy);
        Assert.Contains(pod2.Requests, r => r.PathAndQuery == "/healthz");
        var first = await InitializeAsync();
        var second = await InitializeAsync();
        Assert.Equal(["127.0.0.2", "127.0.0.3"], new[] { first.Pod, second.Pod }.Order());
        var sessions = new[] { first, second }.ToDictionary(s => s.Pod, s => s.Session);
        // Each pod saw the name it is known by, not its address, from the probe too.
        Assert.All(pod2.Requests.Concat(pod3.Requests), r => Assert.Equal($"{Name}:{port}", r.Headers["Host"]));

        // The pod on 127.0.0.2 leaves: its sessions get 404 (the client starts a new one), the other's go on.
        await ResolveAsync(host => [IPAddress.Parse("127.0.0.3")]);
        Assert.Equal([$"127.0.0.3:{port}/mcp"], await ReplicasAsync());
        Assert.Equal(HttpStatusCode.NotFound, await ListAsync(sessions["127.0.0.2"]));
        Assert.Equal(HttpStatusCode.OK, await ListAsync(sessions["127.0.0.3"]));
        Assert.Equal("127.0.0.3", (await InitializeAsync()).Pod);

        // A failed lookup (no DNS server answers) keeps the replicas.
        resolver.Answer = _ => throw new SocketException((int)SocketError.TryAgain);
        Assert.False(await discovery.RefreshAsync());
        Assert.Equal([$"127.0.0.3:{port}/mcp"], await ReplicasAsync());
        Assert.Equal(HttpStatusCode.OK, await ListAsync(sessions["127.0.0.3"]));

        // The name has no address (no ready pod): no replica, so not ready and 503.
        await ResolveAsync(_ => throw new SocketException((int)SocketError.HostNotFound));
        Assert.Empty(await ReplicasAsync());
        using (var notReady = await edge.Client.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        }
        using (var none = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, none.StatusCode);
        }

        // Both pods are back: so is the session of the pod that left, since its replica is named alike again.
        await ResolveAsync(_ => [IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.3")]);
        Assert.Equal(HttpStatusCode.OK, await ListAsync(sessions["127.0.0.2"]));
    }

    [Fact]
    public async Task AnIpv6AnswerBecomesABracketedUrl_AndAStaticServerIsLeftAlone()
    {
        var resolver = new TestResolver { Answer = _ => [IPAddress.Parse("fd00::3"), IPAddress.Parse("10.1.2.3")] };
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new
            {
                dns = new { Upstreams = new[] { "https://pods.example:8443/mcp" }, Discovery = "Dns", HealthCheck = new { Active = new { Enabled = false } } },
                fixedReplicas = new { Upstreams = new[] { "http://127.0.0.1:9/mcp" }, HealthCheck = new { Active = new { Enabled = false } } },
            },
        }, builder => builder.Services.AddSingleton<IUpstreamAddressResolver>(resolver));
        var discovery = edge.Services.GetRequiredService<DnsUpstreamDiscovery>();
        var options = edge.Services.GetRequiredService<McpEdge.Configuration.McpEdgeConfigState>().Current.Servers;

        Assert.Equal(
            [new ResolvedUpstream("https://10.1.2.3:8443/mcp", "pods.example:8443"), new ResolvedUpstream("https://[fd00::3]:8443/mcp", "pods.example:8443")],
            discovery.Get("dns", options["dns"]));
        Assert.Null(discovery.Get("fixedReplicas", options["fixedReplicas"]));
    }
}
