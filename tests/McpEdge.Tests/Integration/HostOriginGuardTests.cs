using System.Net;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.Integration;

public class HostOriginGuardTests
{
    private static async Task<(TestUpstream Upstream, TestEdge Edge)> StartAsync(object? security = null)
    {
        var upstream = await TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new { ok = true }));
        var edge = security is null
            ? await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } })
            : await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") }, Security = security });
        return (upstream, edge);
    }

    private static HttpRequestMessage Request(string? origin = null, string? host = null)
    {
        var request = Mcp.Post("/mcp/s", Mcp.Call(1, "ping"));
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }
        if (host is not null)
        {
            request.Headers.Host = host;
        }
        return request;
    }

    [Theory]
    [InlineData("http://evil.example")]
    [InlineData("null")]
    [InlineData("http://localhost.evil.example:8080")]
    public async Task DisallowedOrigin_403WithJsonRpcError_NotProxied(string origin)
    {
        var (upstream, edge) = await StartAsync();
        await using (upstream)
        await using (edge)
        {
            using var response = await edge.Client.SendAsync(Request(origin));

            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("id").ValueKind);
            Assert.True(json.RootElement.TryGetProperty("error", out _));
            Assert.Empty(upstream.Requests);
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData("http://localhost:3000")]
    [InlineData("http://127.0.0.1")]
    public async Task NoOriginOrLocalOrigin_Proxied(string? origin)
    {
        var (upstream, edge) = await StartAsync();
        await using (upstream)
        await using (edge)
        {
            using var response = await edge.Client.SendAsync(Request(origin));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Single(upstream.Requests);
        }
    }

    [Fact]
    public async Task UnexpectedHost_400_NotProxied()
    {
        var (upstream, edge) = await StartAsync();
        await using (upstream)
        await using (edge)
        {
            using var response = await edge.Client.SendAsync(Request(host: "attacker.example"));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Empty(upstream.Requests);
        }
    }

    [Fact]
    public async Task ConfiguredHostsAndOrigins_Replace_Defaults()
    {
        var (upstream, edge) = await StartAsync(new { AllowedHosts = new[] { "mcp.example.com", "127.0.0.1" }, AllowedOrigins = new[] { "https://app.example.com" } });
        await using (upstream)
        await using (edge)
        {
            using var allowed = await edge.Client.SendAsync(Request("https://app.example.com", "mcp.example.com"));
            using var localOrigin = await edge.Client.SendAsync(Request("http://127.0.0.1"));
            using var localhost = await edge.Client.SendAsync(Request(host: "localhost"));

            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, localOrigin.StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, localhost.StatusCode);
            Assert.Single(upstream.Requests);
        }
    }
}
