using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.Batching;

/// <summary>2025-03-26 JSON-RPC batches through the edge, on real sockets (127.0.0.1).</summary>
public class BatchSplitTests
{
    private const string Initialize2025 = """{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"batch-test","version":"1"}}}""";

    private static async Task<string> InitializeAsync(TestEdge edge, string path = "/mcp/s")
    {
        using var response = await edge.Client.SendAsync(Mcp.Post(path, Initialize2025));
        response.EnsureSuccessStatusCode();
        var session = response.Headers.GetValues("Mcp-Session-Id").Single();
        using var initialized = await edge.Client.SendAsync(Mcp.Post(path, """{"jsonrpc":"2.0","method":"notifications/initialized"}""", session));
        Assert.Equal(HttpStatusCode.Accepted, initialized.StatusCode);
        return session;
    }

    private static HttpRequestMessage Batch(string json, string? session, bool acceptSse = true)
    {
        var request = Mcp.Post("/mcp/s", json, session);
        if (!acceptSse)
        {
            request.Headers.Accept.Clear();
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        }
        return request;
    }

    private static Dictionary<string, JsonElement> ById(JsonElement array) =>
        array.EnumerateArray().ToDictionary(e => e.GetProperty("id").GetRawText(), e => e.Clone());

    [Fact]
    public async Task ABatch_ToAnUpstreamThatRejectsBatches_GetsEveryResponse()
    {
        // The sample server refuses arrays (400, "expected one JSON-RPC message"), as 2025-06-18+ servers do.
        await using var sample = await TestSampleServer.StartAsync();
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: sample.Url) } });
        var session = await InitializeAsync(edge);

        using (var direct = await new HttpClient().SendAsync(Mcp.Post(sample.Url, """[{"jsonrpc":"2.0","id":1,"method":"ping"}]""")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, direct.StatusCode); // the upstream really rejects batches
        }

        using var response = await edge.Client.SendAsync(Batch("""
            [
              {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"one"}}},
              {"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}},
              {"jsonrpc":"2.0","id":"b","method":"tools/list"},
              {"jsonrpc":"2.0","id":3,"method":"ping"},
              {"jsonrpc":"2.0","id":4,"method":"no/such/method"},
              {"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"whoami"}},
              {"foo":"bar"},
              {"jsonrpc":"2.0","id":6,"method":"ping","method":"tools/list"},
              {"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":5}}
            ]
            """, session));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var array = document.RootElement;
        Assert.Equal(["1", "\"b\"", "3", "4", "5", "null", "6", "7"], array.EnumerateArray().Select(e => e.GetProperty("id").GetRawText()));
        var byId = ById(array);
        Assert.Equal("Echo: one", byId["1"].GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString());
        Assert.True(byId["\"b\""].GetProperty("result").GetProperty("tools").GetArrayLength() > 0);
        Assert.Equal(JsonValueKind.Object, byId["3"].GetProperty("result").ValueKind);
        Assert.Equal(-32601, byId["4"].GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains("session", byId["5"].GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString()); // ran in the batch's session
        Assert.Equal(-32600, byId["null"].GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(-32600, byId["6"].GetProperty("error").GetProperty("code").GetInt32()); // two methods: ambiguous
        Assert.Contains("duplicate member \"method\"", byId["6"].GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(-32602, byId["7"].GetProperty("error").GetProperty("code").GetInt32()); // a tool name that is not a string
    }

    [Fact]
    public async Task ProgressEvents_OfAnElement_ComeFirstInAnSseAnswer_OrAreDroppedForAJsonOnlyClient()
    {
        await using var sample = await TestSampleServer.StartAsync();
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: sample.Url) } });
        var session = await InitializeAsync(edge);
        const string batch = """
            [{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"progress","arguments":{"steps":3,"delayMs":0},"_meta":{"progressToken":"t"}}},
             {"jsonrpc":"2.0","id":2,"method":"ping"}]
            """;

        using var sse = await edge.Client.SendAsync(Batch(batch, session));
        Assert.Equal("text/event-stream", sse.Content.Headers.ContentType?.MediaType);
        var data = (await sse.Content.ReadAsStringAsync()).Split('\n').Where(l => l.StartsWith("data: {", StringComparison.Ordinal) || l.StartsWith("data: [", StringComparison.Ordinal)).Select(l => l[6..]).ToList();
        Assert.Equal(4, data.Count);
        Assert.All(data.Take(3), d => Assert.Contains("notifications/progress", d));
        using (var array = JsonDocument.Parse(data[3]))
        {
            Assert.Equal(["1", "2"], array.RootElement.EnumerateArray().Select(e => e.GetProperty("id").GetRawText()));
            Assert.Contains("3 steps done", array.RootElement[0].GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString());
        }

        using var json = await edge.Client.SendAsync(Batch(batch, session, acceptSse: false));
        Assert.Equal("application/json", json.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await json.Content.ReadAsStringAsync());
        Assert.Equal(2, document.RootElement.GetArrayLength());
    }

    [Fact]
    public async Task OnlyNotifications_Get202()
    {
        await using var sample = await TestSampleServer.StartAsync();
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: sample.Url) } });
        var session = await InitializeAsync(edge);

        using var response = await edge.Client.SendAsync(Batch("""
            [{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}},
             {"jsonrpc":"2.0","id":"s1","result":{}}]
            """, session));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ModesAndSizeLimit()
    {
        await using var upstream = await TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new[] { new { jsonrpc = "2.0", id = 1, result = new { } } }));
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new Dictionary<string, object>
            {
                ["pass"] = Mcp.Server(batches: new { Mode = "passthrough" }, upstreams: upstream.Url + "/mcp"),
                ["no"] = Mcp.Server(batches: new { Mode = "reject" }, upstreams: upstream.Url + "/mcp"),
                ["small"] = Mcp.Server(batches: new { MaxSize = 2 }, upstreams: upstream.Url + "/mcp"),
            },
        });
        const string three = """[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"},{"jsonrpc":"2.0","id":3,"method":"ping"}]""";

        using (var passed = await edge.Client.SendAsync(Mcp.Post("/mcp/pass", three)))
        {
            Assert.Equal(HttpStatusCode.OK, passed.StatusCode);
            Assert.Equal(three, upstream.Requests.Single().Body); // as it was
        }
        foreach (var path in new[] { "/mcp/no", "/mcp/small" })
        {
            using var refused = await edge.Client.SendAsync(Mcp.Post(path, three));
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            Assert.Equal(-32600, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        }
        Assert.Single(upstream.Requests);
    }

    [Fact]
    public async Task Elements_AreRateLimitedCachedAndFailedOneByOne_OnOneReplica()
    {
        async Task Handler(HttpContext context, string body)
        {
            using var document = JsonDocument.Parse(body);
            var id = document.RootElement.GetProperty("id").GetRawText();
            var method = document.RootElement.GetProperty("method").GetString();
            if (method == "tools/call" && document.RootElement.GetProperty("params").GetProperty("name").GetString() == "broken")
            {
                context.Response.StatusCode = 500;
                await context.Response.WriteAsync("upstream exploded");
                return;
            }
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$$"""{"jsonrpc":"2.0","id":{{{id}}},"result":{"port":{{{context.Connection.LocalPort}}},"method":"{{{method}}}"}}""");
        }
        await using var a = await TestUpstream.StartAsync(Handler);
        await using var b = await TestUpstream.StartAsync(Handler);
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new { s = Mcp.Server(cache: new { Scope = "shared" }, upstreams: [a.Url + "/mcp", b.Url + "/mcp"]) },
            RateLimits = new[] { new { Name = "calls", Method = "tools/call", Tool = "echo", Limiter = "FixedWindow", PermitLimit = 1, Window = "00:10:00" } },
        });

        using var response = await edge.Client.SendAsync(Batch("""
            [{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}},
             {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}},
             {"jsonrpc":"2.0","id":3,"method":"tools/list"},
             {"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"broken"}},
             {"jsonrpc":"2.0","id":5,"method":"ping"},
             {"jsonrpc":"2.0","id":6,"method":"ping"},
             {"jsonrpc":"2.0","id":7,"method":"ping"}]
            """, session: null));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var byId = ById(document.RootElement);
        Assert.Equal(7, byId.Count);
        var limited = new[] { byId["1"], byId["2"] }.Single(e => e.TryGetProperty("error", out _));
        Assert.Equal(-32000, limited.GetProperty("error").GetProperty("code").GetInt32());
        Assert.True(limited.GetProperty("error").GetProperty("data").GetProperty("retryAfterMs").GetInt64() > 0);
        Assert.Equal(-32603, byId["4"].GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains("500", byId["4"].GetProperty("error").GetProperty("message").GetString());
        // Every element that reached an upstream reached the same one.
        Assert.True(a.Requests.IsEmpty || b.Requests.IsEmpty, $"a saw {a.Requests.Count}, b saw {b.Requests.Count}");
        Assert.Single(byId.Values.Where(e => e.TryGetProperty("result", out var r) && r.TryGetProperty("port", out _)).Select(e => e.GetProperty("result").GetProperty("port").GetInt32()).Distinct());

        // The list element was cached like any list request: a second batch's copy does not reach the upstream.
        var before = a.Requests.Count + b.Requests.Count;
        using var again = await edge.Client.SendAsync(Batch("""[{"jsonrpc":"2.0","id":"x","method":"tools/list"}]""", session: null));
        using var againDocument = JsonDocument.Parse(await again.Content.ReadAsStringAsync());
        Assert.Equal("\"x\"", againDocument.RootElement[0].GetProperty("id").GetRawText());
        Assert.Equal(before, a.Requests.Count + b.Requests.Count);
    }

    [Fact]
    public async Task AnElementAnswerOverMaxBytes_FailsThatElementOnly()
    {
        await using var upstream = await TestUpstream.StartAsync(async (context, body) =>
        {
            using var document = JsonDocument.Parse(body);
            var id = document.RootElement.GetProperty("id").GetRawText();
            var padding = document.RootElement.GetProperty("method").GetString() == "tools/call" ? new string('x', 8000) : "";
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$$"""{"jsonrpc":"2.0","id":{{{id}}},"result":{"pad":"{{{padding}}}"}}""");
        });
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") },
            Messages = new { MaxBytes = 2048 },
        });

        using var response = await edge.Client.SendAsync(Batch("""
            [{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"big"}},{"jsonrpc":"2.0","id":2,"method":"ping"}]
            """, session: null));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var byId = ById(document.RootElement);
        Assert.Equal(-32603, byId["1"].GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal("", byId["2"].GetProperty("result").GetProperty("pad").GetString());
    }
}
