using System.Net;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpEdge.Tests.EndToEnd;

/// <summary>Rate limits with the official C# SDK client through the edge to server-everything.</summary>
[Collection(EverythingCollection.Name)]
public class RateLimitTests(EverythingFixture fixture)
{
    [Fact]
    public async Task Burst_OverTheLimit_429WithRetryAfterAndJsonRpcError_ClientRecoversAfterWaiting()
    {
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new { limited = Mcp.Server(upstreams: $"http://127.0.0.1:{fixture.Replicas[0].Port}/mcp") },
            RateLimits = new[]
            {
                new { Name = "sums", Method = "tools/call", Tool = "get-sum", Limiter = "TokenBucket", PermitLimit = 3, Window = "00:00:02" },
            },
        });
        await using var client = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri(edge.BaseAddress, "mcp/limited"), TransportMode = HttpTransportMode.StreamableHttp }),
            new McpClientOptions { ClientInfo = new Implementation { Name = "ratelimit-e2e", Version = "1.0.0" } });
        var args = new Dictionary<string, object?> { ["a"] = 1, ["b"] = 2 };

        // Not counted: other tools and other methods.
        await client.CallToolAsync("echo", new Dictionary<string, object?> { ["message"] = "x" });
        await client.ListToolsAsync();
        var burst = await Task.WhenAll(Enumerable.Range(0, 5).Select(async _ =>
        {
            try
            {
                await client.CallToolAsync("get-sum", args);
                return (HttpStatusCode?)HttpStatusCode.OK;
            }
            catch (HttpRequestException ex)
            {
                return ex.StatusCode;
            }
        }));

        Assert.Equal(3, burst.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(2, burst.Count(s => s == HttpStatusCode.TooManyRequests));

        // At the wire, on the same session: Retry-After and a JSON-RPC error with the request's id.
        var raw = Mcp.Post("/mcp/limited", """{"jsonrpc":"2.0","id":"burst-7","method":"tools/call","params":{"name":"get-sum","arguments":{"a":1,"b":2}}}""", client.SessionId);
        raw.Headers.Add("MCP-Protocol-Version", client.NegotiatedProtocolVersion);
        using var refused = await edge.Client.SendAsync(raw);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        var retryAfter = int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 2);
        using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Equal("\"burst-7\"", error.RootElement.GetProperty("id").GetRawText());
        Assert.Equal(-32000, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal("sums", error.RootElement.GetProperty("error").GetProperty("data").GetProperty("limit").GetString());
        Assert.InRange(error.RootElement.GetProperty("error").GetProperty("data").GetProperty("retryAfterMs").GetInt64(), 1, 2000);

        // The client waits as told (the behaviour under test, not synchronisation) and is served again.
        await Task.Delay(TimeSpan.FromSeconds(retryAfter));
        var result = await client.CallToolAsync("get-sum", args);
        Assert.Contains("3", string.Join("", result.Content.OfType<TextContentBlock>().Select(c => c.Text)));
    }
}
