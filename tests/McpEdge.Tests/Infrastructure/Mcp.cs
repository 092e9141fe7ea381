using System.Net.Http.Headers;
using System.Text;

namespace McpEdge.Tests.Infrastructure;

/// <summary>Small builders for raw MCP HTTP requests.</summary>
public static class Mcp
{
    public const string Initialize = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}""";

    public static HttpRequestMessage Post(string path, string json, string? sessionId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (sessionId is not null)
        {
            request.Headers.Add("Mcp-Session-Id", sessionId);
        }
        return request;
    }

    public static string Call(int id, string method) => $$"""{"jsonrpc":"2.0","id":{{id}},"method":"{{method}}"}""";

    /// <summary>
    /// A server section for <see cref="TestEdge"/> with the given upstream URLs. Active probes are
    /// off unless <paramref name="healthCheck"/> says otherwise, so that upstreams see only the
    /// test's own requests.
    /// </summary>
    public static object Server(string policy = "RoundRobin", string transport = "streamable-http", object? timeouts = null, object? healthCheck = null,
        object? cache = null, object? batches = null, string? upstreamHttpVersion = null, object? upstreamTls = null, object? authentication = null, params string[] upstreams)
    {
        var server = new Dictionary<string, object>
        {
            ["Transport"] = transport,
            ["Upstreams"] = upstreams,
            ["LoadBalancingPolicy"] = policy,
            ["Timeouts"] = timeouts ?? new { Connect = "00:00:02", Response = "00:00:30" },
            ["HealthCheck"] = healthCheck ?? new { Active = new { Enabled = false } },
        };
        if (cache is not null)
        {
            server["Cache"] = cache;
        }
        if (batches is not null)
        {
            server["Batches"] = batches;
        }
        if (upstreamHttpVersion is not null)
        {
            server["UpstreamHttpVersion"] = upstreamHttpVersion;
        }
        if (upstreamTls is not null)
        {
            server["UpstreamTls"] = upstreamTls;
        }
        if (authentication is not null)
        {
            server["Authentication"] = authentication;
        }
        return server;
    }
}
