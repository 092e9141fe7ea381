using System.Net;
using System.Net.Http.Headers;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace McpEdge.Tests.Integration;

public class PassthroughTests
{
    [Theory]
    [InlineData(202, "")]
    [InlineData(400, """{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Bad Request: missing header"}}""")]
    [InlineData(403, """{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Forbidden"}}""")]
    [InlineData(404, """{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}""")]
    [InlineData(405, """{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Method not allowed."}}""")]
    [InlineData(406, """{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Not Acceptable: Client must accept both application/json and text/event-stream"}}""")]
    public async Task Status_AndJsonRpcErrorBody_PassThroughUnchanged(int status, string body)
    {
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.StatusCode = status;
            context.Response.Headers["MCP-Protocol-Version"] = "2025-06-18";
            context.Response.Headers["X-Upstream-Marker"] = "kept";
            if (body.Length > 0)
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(body);
            }
        });
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/list")));

        Assert.Equal((HttpStatusCode)status, response.StatusCode);
        Assert.Equal(body, await response.Content.ReadAsStringAsync());
        Assert.Equal("2025-06-18", response.Headers.GetValues("MCP-Protocol-Version").Single());
        Assert.Equal("kept", response.Headers.GetValues("X-Upstream-Marker").Single());
        if (body.Length > 0)
        {
            Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        }
    }

    /// <summary>
    /// An upstream's 204 or 205 that carries a <c>Content-Length</c> (and bytes after it) reaches the
    /// client as that status with no content (RFC 9110 §8.6, §15.3.6); relayed as it came, Kestrel
    /// ended it as a 500 with an application error in the log.
    /// </summary>
    [Theory]
    [InlineData("204 No Content", HttpStatusCode.NoContent)]
    [InlineData("205 Reset Content", HttpStatusCode.ResetContent)]
    public async Task NoContentStatus_WithAContentLength_RelayedWithoutContent(string statusLine, HttpStatusCode status)
    {
        const string Json = """{"jsonrpc":"2.0","id":1,"result":{}}""";
        await using var upstream = RawUpstream.Start($"HTTP/1.1 {statusLine}\r\nContent-Length: {Json.Length}\r\nConnection: close\r\n\r\n{Json}");
        var logs = new LogCollector(LogLevel.Error);
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } },
            builder => builder.Services.AddSingleton<ILoggerProvider>(logs));

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "ping")));

        Assert.Equal(status, response.StatusCode);
        Assert.Equal("", await response.Content.ReadAsStringAsync());
        Assert.Equal(1, upstream.Requests);
        await edge.StopAsync(); // every log line of the exchange written
        Assert.Empty(logs.Entries);
    }

    /// <summary>
    /// Upstream statuses a client must not get: 101 Switching Protocols to a POST that asked for no
    /// upgrade (a bare 101 would be left on the connection) and a status outside RFC 9110's 100–599
    /// (HttpClient reads any three digits). Each becomes a 502 and a warning, never an error.
    /// </summary>
    [Theory]
    [InlineData("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "asked for no upgrade")]
    [InlineData("HTTP/1.1 999 Whatever\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", "outside 100–599")]
    public async Task UnaskedUpgradeOrStatusAbove599_502(string upstreamAnswer, string logged)
    {
        await using var upstream = RawUpstream.Start(upstreamAnswer);
        var logs = new LogCollector(LogLevel.Warning);
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } },
            builder => builder.Services.AddSingleton<ILoggerProvider>(logs));

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "ping")));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        await edge.StopAsync();
        Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Error);
        Assert.Contains(logs.Entries, e => e.Message.Contains(logged, StringComparison.Ordinal));
    }

    /// <summary>
    /// The edge's own 502 for a replica it cannot reach carries a JSON-RPC error for a request (its
    /// id, the server's name, no replica address), and nothing for a notification.
    /// </summary>
    [Fact]
    public async Task UnreachableReplica_502_WithAJsonRpcErrorForARequest()
    {
        int port;
        using (var closed = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            closed.Start();
            port = ((IPEndPoint)closed.LocalEndpoint).Port; // free again once stopped: connections are refused
        }
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: $"http://127.0.0.1:{port}/mcp") } });

        using var request = await edge.Client.SendAsync(Mcp.Post("/mcp/s", """{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{"name":"x"}}"""));
        using var notification = await edge.Client.SendAsync(Mcp.Post("/mcp/s", """{"jsonrpc":"2.0","method":"notifications/initialized"}"""));

        Assert.Equal(HttpStatusCode.BadGateway, request.StatusCode);
        Assert.Equal("application/json", request.Content.Headers.ContentType?.MediaType);
        using var error = System.Text.Json.JsonDocument.Parse(await request.Content.ReadAsStringAsync());
        Assert.Equal("\"call-7\"", error.RootElement.GetProperty("id").GetRawText());
        Assert.Equal(-32603, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal("Bad Gateway: the replica of MCP server 's' could not be reached.", error.RootElement.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.BadGateway, notification.StatusCode);
        Assert.Equal("", await notification.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task McpHeaders_AndBody_ReachUpstreamUnchanged_AtItsOwnPath()
    {
        await using var upstream = await TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 7, result = new { } }));
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });
        const string json = """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather","arguments":{"region":"eu"}}}""";
        var request = Mcp.Post("/mcp/s?tenant=a", json);
        request.Headers.Add("MCP-Protocol-Version", "2026-07-28");
        request.Headers.Add("Mcp-Method", "tools/call");
        request.Headers.Add("Mcp-Name", "get_weather");
        request.Headers.Add("Mcp-Param-Region", "eu");
        request.Headers.Add("Mcp-Param-Unknown-Future", "x");
        request.Headers.Add("Last-Event-ID", "stream-1:42");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "token-123");

        using var response = await edge.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("POST", seen.Method);
        Assert.Equal("/mcp?tenant=a", seen.PathAndQuery);
        Assert.Equal(json, seen.Body);
        Assert.Equal("2026-07-28", seen.Headers["MCP-Protocol-Version"]);
        Assert.Equal("tools/call", seen.Headers["Mcp-Method"]);
        Assert.Equal("get_weather", seen.Headers["Mcp-Name"]);
        Assert.Equal("eu", seen.Headers["Mcp-Param-Region"]);
        Assert.Equal("x", seen.Headers["Mcp-Param-Unknown-Future"]);
        Assert.Equal("stream-1:42", seen.Headers["Last-Event-ID"]);
        Assert.Equal("Bearer token-123", seen.Headers["Authorization"]);
        Assert.Equal("application/json, text/event-stream", seen.Headers["Accept"]);
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("DELETE")]
    public async Task GetAndDelete_ReachUpstream(string method)
    {
        await using var upstream = await TestUpstream.StartAsync((context, _) =>
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            context.Response.Headers.Allow = "POST";
            return Task.CompletedTask;
        });
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });

        using var response = await edge.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), "/mcp/s"));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("POST", response.Content.Headers.Allow.Single());
        Assert.Equal(method, Assert.Single(upstream.Requests).Method);
    }

    [Fact]
    public async Task TheEdge_RunsNoAuthorizationMiddleware_AndStillForwards()
    {
        // WebApplication puts AuthorizationMiddleware in front of every request when this service is
        // registered (AddReverseProxy registers it); the edge's routes carry no policy, and the step
        // cost about 425 bytes per request (docs/benchmarks.md).
        await using var upstream = await TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } }));
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });

        Assert.Null(edge.Services.GetService(typeof(Microsoft.AspNetCore.Authorization.IAuthorizationHandlerProvider)));
        Assert.NotNull(edge.Services.GetService(typeof(Microsoft.AspNetCore.Authorization.IAuthorizationPolicyProvider)));
        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/list")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(upstream.Requests);
    }
}
