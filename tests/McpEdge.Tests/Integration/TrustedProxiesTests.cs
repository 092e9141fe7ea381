using System.Net;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.Integration;

/// <summary>
/// Behind a load balancer: <c>X-Forwarded-For</c> names the client only as far as the hops that
/// wrote it are in <c>Security:TrustedProxies</c>; the upstream sees that client, and the per-client
/// limits and the loopback-only status page use it. The tests' edge is reached from 127.0.0.1.
/// </summary>
public class TrustedProxiesTests
{
    private static Task<TestUpstream> UpstreamAsync() =>
        TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } }));

    private static object Section(TestUpstream upstream, string[] trusted, object? rateLimits = null) => new
    {
        Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") },
        Security = new { TrustedProxies = trusted },
        RateLimits = rateLimits ?? Array.Empty<object>(),
    };

    private static async Task<HttpStatusCode> PostAsync(TestEdge edge, string? forwardedFor)
    {
        var request = Mcp.Post("/mcp/s", Mcp.Call(1, "resources/read")); // not ping: rate limits never count ping
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }
        using var response = await edge.Client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>The client address the upstream was given: the last entry of its <c>X-Forwarded-For</c>.</summary>
    private static string LastClientSeenUpstream(TestUpstream upstream) =>
        upstream.Requests.Last().Headers["X-Forwarded-For"].Split(',').Last().Trim();

    [Theory]
    [InlineData(null, "127.0.0.1")] // no header: the peer, the proxy itself
    [InlineData("203.0.113.9", "203.0.113.9")]
    [InlineData("198.51.100.7, 10.1.2.3", "198.51.100.7")] // through two trusted hops
    [InlineData("198.51.100.7, 203.0.113.5", "203.0.113.5")] // a client-written entry left of an untrusted hop is not believed
    [InlineData("not-an-address, 203.0.113.5", "203.0.113.5")]
    public async Task FromATrustedProxy_TheClientIsTheRightmostUntrustedHop(string? forwardedFor, string client)
    {
        await using var upstream = await UpstreamAsync();
        await using var edge = await TestEdge.StartAsync(Section(upstream, ["127.0.0.1", "10.0.0.0/8"]));

        Assert.Equal(HttpStatusCode.OK, await PostAsync(edge, forwardedFor));

        Assert.Equal(client, LastClientSeenUpstream(upstream));
    }

    [Fact]
    public async Task WithoutTrustedProxies_TheHeaderIsIgnored_AndAReloadTurnsItOn()
    {
        await using var upstream = await UpstreamAsync();
        await using var edge = await TestEdge.StartAsync(Section(upstream, []));

        await PostAsync(edge, "203.0.113.9");
        var before = LastClientSeenUpstream(upstream);
        await edge.ReloadAsync(Section(upstream, ["127.0.0.0/8"]));
        await PostAsync(edge, "203.0.113.9");

        Assert.Equal("127.0.0.1", before);
        Assert.Equal("203.0.113.9", LastClientSeenUpstream(upstream));
    }

    [Fact]
    public async Task PerClientRateLimit_CountsEachForwardedClient()
    {
        await using var upstream = await UpstreamAsync();
        var oneAMinute = new[] { new { Name = "per-client", Limiter = "FixedWindow", PermitLimit = 1, Window = "00:01:00" } };
        await using var edge = await TestEdge.StartAsync(Section(upstream, ["127.0.0.1"], oneAMinute));

        var first = await PostAsync(edge, "203.0.113.1");
        var other = await PostAsync(edge, "203.0.113.2");
        var again = await PostAsync(edge, "203.0.113.1");

        Assert.Equal(HttpStatusCode.OK, first);
        Assert.Equal(HttpStatusCode.OK, other); // its own budget: not the proxy's
        Assert.Equal(HttpStatusCode.TooManyRequests, again);
    }

    [Fact]
    public async Task StatusPage_IsForLoopbackClients_NotForForwardedOnes()
    {
        await using var upstream = await UpstreamAsync();
        await using var edge = await TestEdge.StartAsync(Section(upstream, ["127.0.0.1"]));

        using var local = await edge.Client.GetAsync("/edge/clusters");
        var forwarded = new HttpRequestMessage(HttpMethod.Get, "/edge/clusters");
        forwarded.Headers.Add("X-Forwarded-For", "203.0.113.9");
        using var remote = await edge.Client.SendAsync(forwarded);

        Assert.Equal(HttpStatusCode.OK, local.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, remote.StatusCode);
    }
}
