using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace McpEdge.Tests.Caching;

/// <summary>List caching through a real edge and upstream on 127.0.0.1: what reaches the upstream, and what clients get.</summary>
public class ListCacheTests
{
    private const string Stateless = "2026-07-28";

    /// <summary>An upstream whose <c>initialize</c> opens a session and whose lists answer with <paramref name="listResult"/>.</summary>
    private static Task<TestUpstream> StartUpstreamAsync(Func<string, string, string> listResult, Func<HttpContext, string, Task>? other = null) =>
        TestUpstream.StartAsync(async (context, body) =>
        {
            using var document = JsonDocument.Parse(body.Length == 0 ? "{}" : body);
            var root = document.RootElement;
            var method = root.TryGetProperty("method", out var m) ? m.GetString() : null;
            var id = root.TryGetProperty("id", out var i) ? i.GetRawText() : "null";
            if (method == "initialize")
            {
                context.Response.Headers["Mcp-Session-Id"] = "upstream-" + Guid.NewGuid().ToString("N");
                await context.Response.WriteAsync($$$$"""{"jsonrpc":"2.0","id":{{{{id}}}},"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"t","version":"1"}}}""");
            }
            else if (method is not null && method.EndsWith("/list", StringComparison.Ordinal))
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(listResult(method, id));
            }
            else if (other is not null)
            {
                await other(context, body);
            }
            else
            {
                context.Response.StatusCode = 202;
            }
        });

    private static int ListCalls(TestUpstream upstream, string method = "tools/list") =>
        upstream.Requests.Count(r => r.Body.Contains($"\"method\":\"{method}\"", StringComparison.Ordinal));

    private static async Task<string> InitializeAsync(TestEdge edge)
    {
        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize));
        response.EnsureSuccessStatusCode();
        return response.Headers.GetValues("Mcp-Session-Id").Single();
    }

    private static async Task<(HttpResponseMessage Response, JsonElement Body)> ListAsync(TestEdge edge, int id, string? session = null,
        string? authorization = null, bool stateless = false, string method = "tools/list", string? accept = null)
    {
        var request = Mcp.Post("/mcp/s", $$"""{"jsonrpc":"2.0","id":{{id}},"method":"{{method}}"}""", session);
        if (stateless)
        {
            request.Headers.Add("MCP-Protocol-Version", Stateless);
            request.Headers.Add("Mcp-Method", method);
        }
        if (authorization is not null)
        {
            request.Headers.Authorization = AuthenticationHeaderValue.Parse(authorization);
        }
        if (accept is not null)
        {
            request.Headers.Accept.Clear();
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        }
        var response = await edge.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.Content.Headers.ContentType?.MediaType == "text/event-stream")
        {
            // The response is the last event with data (after any notifications).
            text = text.Split('\n').Where(l => l.StartsWith("data: ", StringComparison.Ordinal) && l.Length > 6).Select(l => l[6..]).Last();
        }
        using var document = JsonDocument.Parse(text);
        return (response, document.RootElement.Clone());
    }

    private static string Tools(string id, string extra = "") => $$$"""{"jsonrpc":"2.0","id":{{{id}}},"result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]{{{extra}}}}}""";

    [Fact]
    public async Task OlderUpstream_CachesPerSession_AnsweringWithTheCallersId()
    {
        await using var upstream = await StartUpstreamAsync((_, id) => Tools(id));
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });
        var session = await InitializeAsync(edge);

        var (first, firstBody) = await ListAsync(edge, 2, session);
        var (second, secondBody) = await ListAsync(edge, 3, session);

        Assert.Equal(1, ListCalls(upstream));
        Assert.False(first.Headers.Contains("X-Cache"));
        Assert.Equal("HIT", second.Headers.GetValues("X-Cache").Single());
        Assert.Equal(2, firstBody.GetProperty("id").GetInt32());
        Assert.Equal(3, secondBody.GetProperty("id").GetInt32());
        Assert.Equal(firstBody.GetProperty("result").GetRawText(), secondBody.GetProperty("result").GetRawText());

        // Another session of the same client is another cache partition.
        var other = await InitializeAsync(edge);
        await ListAsync(edge, 4, other);
        Assert.Equal(2, ListCalls(upstream));
        // Other list methods are keyed apart.
        await ListAsync(edge, 5, session, method: "prompts/list");
        Assert.Equal(1, ListCalls(upstream, "prompts/list"));
    }

    [Fact]
    public async Task PublicResult_IsSharedByEveryCaller_PrivateOnlyPerAuthorization()
    {
        await using var upstream = await StartUpstreamAsync((method, id) => Tools(id,
            method == "tools/list" ? ""","ttlMs":60000,"cacheScope":"public" """ : ""","ttlMs":60000,"cacheScope":"private" """));
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });

        await ListAsync(edge, 1, stateless: true, authorization: "Bearer alice");
        await ListAsync(edge, 2, stateless: true, authorization: "Bearer bob");
        var (hit, _) = await ListAsync(edge, 3, stateless: true);
        Assert.Equal(1, ListCalls(upstream));
        Assert.Equal("HIT", hit.Headers.GetValues("X-Cache").Single());

        await ListAsync(edge, 4, stateless: true, authorization: "Bearer alice", method: "prompts/list");
        await ListAsync(edge, 5, stateless: true, authorization: "Bearer alice", method: "prompts/list");
        Assert.Equal(1, ListCalls(upstream, "prompts/list"));
        await ListAsync(edge, 6, stateless: true, authorization: "Bearer bob", method: "prompts/list");
        Assert.Equal(2, ListCalls(upstream, "prompts/list"));
        // Without an Authorization value or a session there is no partition for a private result.
        await ListAsync(edge, 7, stateless: true, method: "prompts/list");
        await ListAsync(edge, 8, stateless: true, method: "prompts/list");
        Assert.Equal(4, ListCalls(upstream, "prompts/list"));
    }

    [Fact]
    public async Task Ttl_FromTtlMs_CappedByMaxTtl_AndTheHitTellsTheTimeLeft()
    {
        var time = new TestTimeProvider();
        await using var upstream = await StartUpstreamAsync((method, id) => Tools(id,
            method == "tools/list" ? ""","ttlMs":1000,"cacheScope":"public" """ : ""","ttlMs":600000,"cacheScope":"public" """));
        await using var edge = await TestEdge.StartAsync(
            new { Servers = new { s = Mcp.Server(cache: new { MaxTtl = "00:00:05" }, upstreams: upstream.Url + "/mcp") } },
            builder => builder.Services.AddSingleton<TimeProvider>(time));

        await ListAsync(edge, 1, stateless: true);
        time.Advance(TimeSpan.FromMilliseconds(400));
        var (_, hit) = await ListAsync(edge, 2, stateless: true);
        Assert.Equal(1, ListCalls(upstream));
        Assert.Equal(600, hit.GetProperty("result").GetProperty("ttlMs").GetInt64());
        time.Advance(TimeSpan.FromMilliseconds(600));
        await ListAsync(edge, 3, stateless: true);
        Assert.Equal(2, ListCalls(upstream));

        await ListAsync(edge, 4, stateless: true, method: "prompts/list");
        time.Advance(TimeSpan.FromSeconds(4.9));
        var (_, capped) = await ListAsync(edge, 5, stateless: true, method: "prompts/list");
        Assert.Equal(1, ListCalls(upstream, "prompts/list"));
        Assert.Equal(100, capped.GetProperty("result").GetProperty("ttlMs").GetInt64());
        time.Advance(TimeSpan.FromSeconds(0.1));
        await ListAsync(edge, 6, stateless: true, method: "prompts/list");
        Assert.Equal(2, ListCalls(upstream, "prompts/list"));
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":ID,"error":{"code":-32603,"message":"boom"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":ID,"result":{"tools":[],"ttlMs":0,"cacheScope":"public"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":ID,"result":{"tools":[],"cacheScope":"public"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":ID,"result":{"resultType":"input_required","inputRequests":{}}}""")]
    public async Task ErrorsAndResultsNotMeantForCaching_AlwaysReachTheUpstream(string answer)
    {
        await using var upstream = await StartUpstreamAsync((_, id) => answer.Replace("ID", id, StringComparison.Ordinal));
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(cache: new { Scope = "shared" }, upstreams: upstream.Url + "/mcp") } });

        for (var i = 1; i <= 3; i++)
        {
            var (response, body) = await ListAsync(edge, i);
            Assert.Equal(i, body.GetProperty("id").GetInt32());
            Assert.False(response.Headers.Contains("X-Cache"));
        }
        Assert.Equal(3, ListCalls(upstream));
    }

    [Fact]
    public async Task ConcurrentMisses_ReachTheUpstreamOnce()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (context, body) =>
        {
            arrived.TrySetResult();
            await gate.Task;
            var id = JsonDocument.Parse(body).RootElement.GetProperty("id").GetRawText();
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(Tools(id));
        });
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(cache: new { Scope = "shared" }, upstreams: upstream.Url + "/mcp") } });

        var calls = Enumerable.Range(1, 10).Select(i => ListAsync(edge, i)).ToArray();
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10)); // the leader's fetch is under way; the others join it or hit
        gate.SetResult();
        var answers = await Task.WhenAll(calls);

        Assert.Equal(1, ListCalls(upstream));
        Assert.Equal(Enumerable.Range(1, 10), answers.Select(a => a.Body.GetProperty("id").GetInt32()));
        Assert.All(answers, a => Assert.Equal("echo", a.Body.GetProperty("result").GetProperty("tools")[0].GetProperty("name").GetString()));
    }

    [Fact]
    public async Task AnSseAnswer_IsUnderstood_AndAHitFollowsTheCallersAccept()
    {
        await using var upstream = await TestUpstream.StartAsync(async (context, body) =>
        {
            var id = JsonDocument.Parse(body).RootElement.GetProperty("id").GetRawText();
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("id: 1-0\nretry: 1000\ndata: \n\n");
            await context.Response.WriteAsync("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"x\"}}\n\n");
            await context.Response.WriteAsync($"event: message\nid: 1-1\ndata: {Tools(id)}\n\n");
        });
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(cache: new { Scope = "shared" }, upstreams: upstream.Url + "/mcp") } });

        using var miss = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/list")));
        Assert.Equal("text/event-stream", miss.Content.Headers.ContentType?.MediaType);
        var missText = await miss.Content.ReadAsStringAsync();
        // The leader got the upstream's stream as it was: priming event, notification, response.
        Assert.StartsWith("id: 1-0\nretry: 1000\ndata: \n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"", missText);
        Assert.EndsWith(Tools("1") + "\n\n", missText);

        var (json, jsonBody) = await ListAsync(edge, 2);
        Assert.Equal("application/json", json.Content.Headers.ContentType?.MediaType);
        Assert.Equal(2, jsonBody.GetProperty("id").GetInt32());

        var (sse, sseBody) = await ListAsync(edge, 3, accept: "text/event-stream");
        Assert.Equal("text/event-stream", sse.Content.Headers.ContentType?.MediaType);
        Assert.Equal(3, sseBody.GetProperty("id").GetInt32());
        Assert.Equal(1, ListCalls(upstream));
    }

    [Fact]
    public async Task ListChanged_OnTheSessionsStream_DropsTheCachedList()
    {
        var stream = new TaskCompletionSource<HttpContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        var streamDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await StartUpstreamAsync((_, id) => Tools(id), async (context, _) =>
        {
            if (HttpMethods.IsGet(context.Request.Method))
            {
                context.Response.ContentType = "text/event-stream";
                await context.Response.WriteAsync(": open\n\n");
                await context.Response.Body.FlushAsync();
                stream.SetResult(context);
                await streamDone.Task.WaitAsync(context.RequestAborted);
            }
        });
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });
        var session = await InitializeAsync(edge);
        await ListAsync(edge, 2, session);
        await ListAsync(edge, 3, session);
        Assert.Equal(1, ListCalls(upstream));

        var get = new HttpRequestMessage(HttpMethod.Get, "/mcp/s");
        get.Headers.Accept.ParseAdd("text/event-stream");
        get.Headers.Add("Mcp-Session-Id", session);
        using var open = await edge.Client.SendAsync(get, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await open.Content.ReadAsStreamAsync());
        var upstreamSide = await stream.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // The event is cut in two writes, so the name straddles two reads at the edge.
        await upstreamSide.Response.WriteAsync("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/li");
        await upstreamSide.Response.Body.FlushAsync();
        await upstreamSide.Response.WriteAsync("st_changed\"}\n\n");
        await upstreamSide.Response.Body.FlushAsync();
        string? line;
        while ((line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))) is not null && !line.Contains("list_changed", StringComparison.Ordinal))
        {
        }
        Assert.NotNull(line); // the client has the notification, so the edge has seen it

        var (after, _) = await ListAsync(edge, 4, session);
        Assert.False(after.Headers.Contains("X-Cache"));
        Assert.Equal(2, ListCalls(upstream));
        streamDone.SetResult();
    }

    [Fact]
    public async Task Disabled_OrParamsBeyondCursor_PassThrough()
    {
        await using var upstream = await StartUpstreamAsync((_, id) => Tools(id));
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new Dictionary<string, object>
            {
                ["s"] = Mcp.Server(cache: new { Scope = "shared" }, upstreams: upstream.Url + "/mcp"),
                ["off"] = Mcp.Server(cache: new { Enabled = false, Scope = "shared" }, upstreams: upstream.Url + "/mcp"),
            },
        });
        for (var i = 0; i < 2; i++)
        {
            using var off = await edge.Client.SendAsync(Mcp.Post("/mcp/off", Mcp.Call(1, "tools/list")));
            using var state = await edge.Client.SendAsync(Mcp.Post("/mcp/s", """{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"requestState":"r"}}"""));
            Assert.Equal(HttpStatusCode.OK, state.StatusCode);
        }
        Assert.Equal(4, ListCalls(upstream));
    }
}
