using System.Net;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.Integration;

/// <summary>
/// Browser MCP clients: the edge answers CORS preflights from the origins its DNS-rebinding guard
/// allows, lets those pages read every answer (the session id included), replaces an upstream's own
/// CORS headers, and leaves requests without <c>Origin</c> untouched.
/// </summary>
public class CorsTests
{
    private const string Page = "https://app.example.com";

    private static Task<TestUpstream> UpstreamAsync(bool ownCors = false) => TestUpstream.StartAsync((context, _) =>
    {
        context.Response.Headers["Mcp-Session-Id"] = "upstream-session-1";
        if (ownCors)
        {
            context.Response.Headers["Access-Control-Allow-Origin"] = "*";
        }
        return context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } });
    });

    private static Task<TestEdge> EdgeAsync(TestUpstream upstream) => TestEdge.StartAsync(new
    {
        Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") },
        Security = new { AllowedOrigins = new[] { Page } },
    });

    private static HttpRequestMessage Preflight(string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/mcp/s");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "content-type,authorization,mcp-session-id,mcp-protocol-version");
        return request;
    }

    [Fact]
    public async Task Preflight_FromAnAllowedOrigin_AnsweredByTheEdge()
    {
        await using var upstream = await UpstreamAsync();
        await using var edge = await EdgeAsync(upstream);

        using var response = await edge.Client.SendAsync(Preflight(Page));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(Page, response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("POST", response.Headers.GetValues("Access-Control-Allow-Methods").Single());
        var allowed = response.Headers.GetValues("Access-Control-Allow-Headers").Single();
        Assert.Contains("authorization", allowed); // named: "*" would not cover it (Fetch standard)
        Assert.Contains("mcp-session-id", allowed);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task Preflight_FromAnotherOrigin_403ByTheGuard()
    {
        await using var upstream = await UpstreamAsync();
        await using var edge = await EdgeAsync(upstream);

        using var response = await edge.Client.SendAsync(Preflight("https://evil.example"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the upstream's own "*" is replaced, not doubled
    public async Task Answer_ToAnAllowedOrigin_IsReadable_WithTheSessionIdExposed(bool upstreamSetsCors)
    {
        await using var upstream = await UpstreamAsync(upstreamSetsCors);
        await using var edge = await EdgeAsync(upstream);
        var request = Mcp.Post("/mcp/s", Mcp.Call(1, "initialize"));
        request.Headers.Add("Origin", Page);

        using var response = await edge.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Page, Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Contains("Mcp-Session-Id", response.Headers.GetValues("Access-Control-Expose-Headers").Single());
        Assert.Contains("Origin", response.Headers.Vary);
        Assert.True(response.Headers.Contains("Mcp-Session-Id")); // the sealed token the page will send back
    }

    [Fact]
    public async Task Answer_WithoutOrigin_HasNoCorsHeaders()
    {
        await using var upstream = await UpstreamAsync();
        await using var edge = await EdgeAsync(upstream);

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "ping")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(response.Headers, h => h.Key.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase));
    }
}
