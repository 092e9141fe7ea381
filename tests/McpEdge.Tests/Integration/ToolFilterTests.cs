using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpEdge.Tests.Integration;

/// <summary>
/// Servers:{name}:Tools: the edge exposes only the tools the filter lets through. Hidden tools are
/// left out of tools/list answers (JSON, SSE, from the cache) and a call of one is answered as an
/// unknown tool without reaching the replica.
/// </summary>
public class ToolFilterTests
{
    private static readonly string[] UpstreamTools = ["search", "get_file", "delete_repo", "write_file"];

    private static object Filter => new { Allow = new[] { "search", "get_*", "write_*" }, Deny = new[] { "write_*" } };

    /// <summary>
    /// A replica with four tools. tools/list is answered as JSON (with a nextCursor), or as SSE (a
    /// progress notification, then the response event with an id) when the request's id is 2, or
    /// gzip-compressed when the request's id is 3; tools/call answers with the tool's name.
    /// </summary>
    private static Task<TestUpstream> UpstreamAsync() => TestUpstream.StartAsync(async (context, body) =>
    {
        using var request = JsonDocument.Parse(body);
        var root = request.RootElement;
        if (root.ValueKind == JsonValueKind.Array)
        {
            var ids = root.EnumerateArray().Select(e => e.GetProperty("id").GetInt32()).ToArray();
            await context.Response.WriteAsJsonAsync(ids.Select(id => new { jsonrpc = "2.0", id, result = new { } }));
            return;
        }
        var id = root.GetProperty("id").GetInt32();
        var method = root.GetProperty("method").GetString();
        if (method == "tools/call")
        {
            var tool = root.GetProperty("params").GetProperty("name").GetString();
            await context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id, result = new { content = new[] { new { type = "text", text = "called " + tool } } } });
            return;
        }
        var list = JsonSerializer.Serialize(new
        {
            jsonrpc = "2.0", id,
            result = new { tools = UpstreamTools.Select(name => new { name, inputSchema = new { type = "object" } }), nextCursor = "page-2" },
        });
        if (id == 2)
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync(
                "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n"
                + $"id: ev-7\nevent: message\ndata: {list}\n\n");
            return;
        }
        if (id == 3)
        {
            context.Response.ContentType = "application/json";
            context.Response.Headers.ContentEncoding = "gzip";
            using var gzip = new MemoryStream();
            using (var zip = new GZipStream(gzip, CompressionLevel.Fastest, leaveOpen: true))
            {
                zip.Write(Encoding.UTF8.GetBytes(list));
            }
            await context.Response.Body.WriteAsync(gzip.ToArray());
            return;
        }
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(list);
    });

    private static async Task<(TestUpstream Upstream, TestEdge Edge)> StartAsync(object? cache = null, object? batches = null)
    {
        var upstream = await UpstreamAsync();
        var server = (Dictionary<string, object>)Mcp.Server(upstreams: upstream.Url + "/mcp", cache: cache, batches: batches);
        server["Tools"] = Filter;
        var edge = await TestEdge.StartAsync(new { Servers = new { s = server } });
        return (upstream, edge);
    }

    private static string[] ToolNames(JsonElement response) =>
        [.. response.GetProperty("result").GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()!)];

    [Fact]
    public async Task ToolsList_Json_LeavesOutHiddenTools_KeepsTheRest_AndItsLength()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/list")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(Encoding.UTF8.GetByteCount(text), response.Content.Headers.ContentLength);
        using var json = JsonDocument.Parse(text);
        Assert.Equal(["search", "get_file"], ToolNames(json.RootElement));
        Assert.Equal("page-2", json.RootElement.GetProperty("result").GetProperty("nextCursor").GetString());
        Assert.Equal(1, json.RootElement.GetProperty("id").GetInt32());
        Assert.Equal("object", json.RootElement.GetProperty("result").GetProperty("tools")[0].GetProperty("inputSchema").GetProperty("type").GetString());
    }

    [Fact]
    public async Task ToolsList_Sse_RewritesTheResponseEventInPlace_OtherEventsUntouched()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "tools/list")));

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, events.Length);
        Assert.Contains("notifications/progress", events[0]);
        var lines = events[1].Split('\n');
        Assert.Equal(["id: ev-7", "event: message"], lines[..2]); // the event id stays for resumption
        using var json = JsonDocument.Parse(lines[2]["data: ".Length..]);
        Assert.Equal(["search", "get_file"], ToolNames(json.RootElement));
    }

    [Fact]
    public async Task ToolsCall_OfAHiddenTool_IsAnUnknownTool_AndNeverReachesTheReplica()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        using var hidden = await edge.Client.SendAsync(Mcp.Post("/mcp/s", """{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"write_file","arguments":{}}}"""));
        using var exposed = await edge.Client.SendAsync(Mcp.Post("/mcp/s", """{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"get_file","arguments":{}}}"""));

        Assert.Equal(HttpStatusCode.OK, hidden.StatusCode);
        using var error = JsonDocument.Parse(await hidden.Content.ReadAsStringAsync());
        Assert.Equal(5, error.RootElement.GetProperty("id").GetInt32());
        Assert.Equal(-32602, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal("Unknown tool: 'write_file'", error.RootElement.GetProperty("error").GetProperty("message").GetString());
        Assert.Contains("called get_file", await exposed.Content.ReadAsStringAsync());
        Assert.DoesNotContain(upstream.Requests, r => r.Body.Contains("write_file", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ToolsList_FromTheCache_IsFilteredToo()
    {
        var (upstream, edge) = await StartAsync(cache: new { Scope = "shared" });
        await using var _ = upstream;
        await using var __ = edge;

        using var miss = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/list")));
        using var hit = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/list")));

        Assert.Equal("HIT", hit.Headers.GetValues("X-Cache").Single());
        Assert.Single(upstream.Requests);
        foreach (var response in new[] { miss, hit })
        {
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(["search", "get_file"], ToolNames(json.RootElement));
        }
    }

    [Fact]
    public async Task ToolsList_AsksForNoCompression_AndACompressedAnswerIsA502_NeverTheHiddenTools()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        var request = Mcp.Post("/mcp/s", Mcp.Call(3, "tools/list"));
        request.Headers.AcceptEncoding.ParseAdd("gzip");
        using var response = await edge.Client.SendAsync(request);

        Assert.False(upstream.Requests.Single().Headers.ContainsKey("Accept-Encoding"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("compressed", body);
        Assert.DoesNotContain("write_file", body);
    }

    [Fact]
    public async Task ToolsList_LargerThanMessagesMaxBytes_Is502WithAJsonRpcError_NeverTheHiddenTools()
    {
        var padding = new string('x', 2048);
        await using var upstream = await TestUpstream.StartAsync((context, body) => context.Response.WriteAsJsonAsync(new
        {
            jsonrpc = "2.0", id = 1,
            result = new { tools = UpstreamTools.Select(name => new { name, description = padding, inputSchema = new { type = "object" } }) },
        }));
        var server = (Dictionary<string, object>)Mcp.Server(upstreams: upstream.Url + "/mcp");
        server["Tools"] = Filter;
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = server }, Messages = new { MaxBytes = 4096 } });

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/list")));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        using var error = JsonDocument.Parse(text);
        Assert.Equal(1, error.RootElement.GetProperty("id").GetInt32());
        Assert.Contains("Messages:MaxBytes", error.RootElement.GetProperty("error").GetProperty("message").GetString());
        Assert.DoesNotContain("write_file", text);
    }

    [Fact]
    public async Task Batches_Split_GetTheUnknownToolPerElement_PassthroughIsRefused()
    {
        const string batch = """[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{}}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_repo","arguments":{}}}]""";
        var (upstream, edge) = await StartAsync();
        await using (upstream)
        await using (edge)
        {
            using var split = await edge.Client.SendAsync(Mcp.Post("/mcp/s", batch));
            using var answers = JsonDocument.Parse(await split.Content.ReadAsStringAsync());
            Assert.Contains("called search", answers.RootElement[0].GetRawText());
            Assert.Equal(-32602, answers.RootElement[1].GetProperty("error").GetProperty("code").GetInt32());
            Assert.DoesNotContain(upstream.Requests, r => r.Body.Contains("delete_repo", StringComparison.Ordinal));
        }

        var (upstream2, edge2) = await StartAsync(batches: new { Mode = "passthrough" });
        await using (upstream2)
        await using (edge2)
        {
            using var passthrough = await edge2.Client.SendAsync(Mcp.Post("/mcp/s", batch));
            Assert.Equal(HttpStatusCode.BadRequest, passthrough.StatusCode);
            Assert.Contains("Batches:Mode", await passthrough.Content.ReadAsStringAsync());
            Assert.Empty(upstream2.Requests);
        }
    }

    [Fact]
    public async Task ListOnlyPermittedTools_EachCallerSeesWhatItsScopesLetItCall()
    {
        await using var issuer = await TestAuthorizationServer.StartAsync();
        await using var upstream = await UpstreamAsync();
        const string resource = "https://mcp.example.com/mcp/s";
        var server = (Dictionary<string, object>)Mcp.Server(upstreams: upstream.Url + "/mcp", cache: new { Scope = "shared" }, authentication: new
        {
            Issuer = issuer.Issuer, Resource = resource, RequireHttpsMetadata = false, ListOnlyPermittedTools = true,
            OperationScopes = new[] { new { Tool = "write_*", Scopes = new[] { "files:write" } }, new { Tool = "delete_*", Scopes = new[] { "repo:admin" } } },
        });
        server["Tools"] = new { Deny = new[] { "get_*" } }; // and a static filter on top
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = server } });

        async Task<string[]> ListAsync(string scope)
        {
            var request = Mcp.Post("/mcp/s", Mcp.Call(1, "tools/list"));
            request.Headers.Authorization = new("Bearer", issuer.Issue(resource, scope: scope));
            using var response = await edge.Client.SendAsync(request);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return ToolNames(json.RootElement);
        }

        Assert.Equal(["search"], await ListAsync("mcp:tools"));
        Assert.Equal(["search", "write_file"], await ListAsync("mcp:tools files:write"));
        Assert.Equal(["search", "delete_repo", "write_file"], await ListAsync("files:write repo:admin"));
        Assert.Single(upstream.Requests); // one cached list, filtered per caller
    }

    /// <summary>
    /// A stream resumed with Last-Event-ID (MCP 2025-11-25 resumability) replays the answer to a
    /// tools/list whose own stream was cut: it reaches the client without the hidden tools, its event
    /// id kept, and every other event, comment and the priming event byte for byte.
    /// </summary>
    [Fact]
    public async Task ResumedStream_ReplayedToolsList_LeavesOutHiddenTools_RestByteForByte()
    {
        var list = JsonSerializer.Serialize(new { jsonrpc = "2.0", id = 4, result = new { tools = UpstreamTools.Select(name => new { name }) } });
        const string progress = "id: ev-2\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n";
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("id: ev-1\nretry: 1000\ndata: \n\n" + progress + ": keep-alive\n");
            await context.Response.Body.FlushAsync();
            await context.Response.WriteAsync($"id: ev-3\nevent: message\ndata: {list}\n\n");
        });
        var server = (Dictionary<string, object>)Mcp.Server(upstreams: upstream.Url + "/mcp");
        server["Tools"] = Filter;
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = server } });

        var get = new HttpRequestMessage(HttpMethod.Get, "/mcp/s");
        get.Headers.Accept.ParseAdd("text/event-stream");
        get.Headers.Add("Last-Event-ID", "ev-0");
        using var response = await edge.Client.SendAsync(get);
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal("ev-0", upstream.Requests.Single().Headers["Last-Event-ID"]);
        Assert.StartsWith("id: ev-1\nretry: 1000\ndata: \n\n" + progress + ": keep-alive\nid: ev-3\nevent: message\ndata: ", text, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(text.Split('\n')[^3]["data: ".Length..]);
        Assert.Equal(["search", "get_file"], ToolNames(json.RootElement));
        Assert.Equal(4, json.RootElement.GetProperty("id").GetInt32());
        Assert.EndsWith("\n\n", text, StringComparison.Ordinal);
    }

    /// <summary>The official C# SDK client through the edge to the sample server, with <c>add</c> hidden.</summary>
    [Fact]
    public async Task OfficialClient_SeesOnlyTheExposedTools_AndAHiddenOneIsUnknown()
    {
        await using var sample = await TestSampleServer.StartAsync();
        var server = (Dictionary<string, object>)Mcp.Server(upstreams: sample.Url);
        server["Tools"] = new { Deny = new[] { "add" } };
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = server } });
        var transport = new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri(edge.BaseAddress, "mcp/s"), TransportMode = HttpTransportMode.StreamableHttp });
        await using var client = await McpClient.CreateAsync(transport);

        var tools = await client.ListToolsAsync();
        var echo = await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = "hi" });
        var hidden = await Assert.ThrowsAsync<McpProtocolException>(async () => await client.CallToolAsync("add", new Dictionary<string, object?> { ["a"] = 1, ["b"] = 2 }));

        Assert.Contains(tools, t => t.Name == "echo");
        Assert.DoesNotContain(tools, t => t.Name == "add");
        Assert.Contains("hi", Assert.IsType<TextContentBlock>(echo.Content.Single()).Text);
        Assert.Equal(McpErrorCode.InvalidParams, hidden.ErrorCode);
    }
}
