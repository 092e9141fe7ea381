using System.Net;
using System.Text;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.Integration;

/// <summary>The edge reads each POST once and refuses what is not a JSON-RPC message, before the upstream sees it.</summary>
public class JsonRpcValidationTests
{
    private static async Task<(TestUpstream Upstream, TestEdge Edge)> StartAsync(object? messages = null)
    {
        var upstream = await TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } }));
        var edge = await TestEdge.StartAsync(messages is null
            ? new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } }
            : new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") }, Messages = messages });
        return (upstream, edge);
    }

    private static async Task<JsonElement> ErrorAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    private static HttpRequestMessage Stateless(string json, string? method, string? name)
    {
        var request = Mcp.Post("/mcp/s", json);
        request.Headers.Add("MCP-Protocol-Version", "2026-07-28");
        if (method is not null)
        {
            request.Headers.Add("Mcp-Method", method);
        }
        if (name is not null)
        {
            request.Headers.Add("Mcp-Name", name);
        }
        return request;
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list""", -32700, "null")]
    [InlineData("not json", -32700, "null")]
    [InlineData("""{"jsonrpc":"2.0","id":"abc","method":7}""", -32600, "\"abc\"")]
    [InlineData("""{"jsonrpc":"1.0","id":5,"method":"ping"}""", -32600, "5")]
    public async Task BadMessage_400_WithCodeAndId_UpstreamNotCalled(string body, int code, string id)
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorAsync(response);
        Assert.Equal(code, error.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(id, error.GetProperty("id").GetRawText());
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task TooLarge_413_ByContentLengthAndByChunkedBody()
    {
        var (upstream, edge) = await StartAsync(new { MaxBytes = 2048 });
        await using var _ = upstream;
        await using var __ = edge;
        var big = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":" """ + new string('x', 4000) + "\"}}}";

        using var declared = await edge.Client.SendAsync(Mcp.Post("/mcp/s", big));
        var chunkedRequest = Mcp.Post("/mcp/s", "");
        chunkedRequest.Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big))); // no Content-Length: chunked
        chunkedRequest.Content.Headers.ContentType = new("application/json");
        using var chunked = await edge.Client.SendAsync(chunkedRequest);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunked.StatusCode);
        Assert.Equal(-32600, (await ErrorAsync(chunked)).GetProperty("error").GetProperty("code").GetInt32());
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task ChunkedBody_ForwardedWhole_WithContentLength()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;
        var json = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":" """ + new string('y', 100_000) + "\"}}}";
        var request = Mcp.Post("/mcp/s", "");
        request.Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(json)), 1000);
        request.Content.Headers.ContentType = new("application/json");

        using var response = await edge.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(upstream.Requests);
        Assert.Equal(json, received.Body);
        Assert.Equal(Encoding.UTF8.GetByteCount(json).ToString(System.Globalization.CultureInfo.InvariantCulture), received.Headers["Content-Length"]);
    }

    [Theory]
    [InlineData("tools/list", null, null)] // Mcp-Name only for tools/call, prompts/get, resources/read
    [InlineData("tools/call", "get_weather", null)]
    [InlineData("tools/call", "=?base64?Z2V0X3dlYXRoZXI=?=", null)]
    [InlineData("tools/call", null, "Mcp-Name header is required")]
    [InlineData(null, "get_weather", "Mcp-Method header is required")]
    [InlineData("tools/list", "get_weather", "Mcp-Method header value 'tools/list' does not match body value 'tools/call'")]
    [InlineData("tools/call", "get_forecast", "Mcp-Name header value 'get_forecast' does not match body value 'get_weather'")]
    [InlineData("tools/call", "=?base64?!!!?=", "malformed")]
    public async Task StatelessHeaders_MustMatchBody_Else400HeaderMismatch(string? method, string? name, string? mismatch)
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;
        var body = method == "tools/list" && name is null
            ? """{"jsonrpc":"2.0","id":"r1","method":"tools/list"}"""
            : """{"jsonrpc":"2.0","id":"r1","method":"tools/call","params":{"name":"get_weather","arguments":{}}}""";

        using var response = await edge.Client.SendAsync(Stateless(body, method, name));

        if (mismatch is null)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Single(upstream.Requests);
            return;
        }
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorAsync(response);
        Assert.Equal(-32020, error.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains(mismatch, error.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("\"r1\"", error.GetProperty("id").GetRawText());
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task OlderRevision_WithoutStandardHeaders_Passes_ButAMismatchingHeaderIsStillRefused()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;
        const string body = """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_weather"}}""";

        using var plain = await edge.Client.SendAsync(Mcp.Post("/mcp/s", body));
        var lying = Mcp.Post("/mcp/s", body);
        lying.Headers.Add("Mcp-Name", "delete_everything");
        using var refused = await edge.Client.SendAsync(lying);

        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Single(upstream.Requests);
    }
}
