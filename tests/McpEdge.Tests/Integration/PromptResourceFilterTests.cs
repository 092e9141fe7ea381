using System.Net;
using System.Text.Json;
using McpEdge.Exposure;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.Integration;

/// <summary>
/// Servers:{name}:Prompts and Servers:{name}:Resources: hidden prompts and resources are left out of
/// their lists and a request naming one is answered as not found without reaching the replica.
/// </summary>
public class PromptResourceFilterTests
{
    private static readonly object PromptFilter = new { Deny = new[] { "admin_*" } };
    private static readonly object ResourceFilter = new { Allow = new[] { "file:///public/*", "https://docs.example.com/*" } };

    /// <summary>A replica with two prompts, three resources and two templates; every other request is answered with what it named.</summary>
    private static Task<TestUpstream> UpstreamAsync() => TestUpstream.StartAsync((context, body) =>
    {
        using var request = JsonDocument.Parse(body);
        var root = request.RootElement;
        if (root.ValueKind == JsonValueKind.Array)
        {
            return context.Response.WriteAsJsonAsync(root.EnumerateArray().Select(e => new { jsonrpc = "2.0", id = e.GetProperty("id").GetInt32(), result = new { } }));
        }
        var id = root.GetProperty("id").GetInt32();
        object result = root.GetProperty("method").GetString() switch
        {
            "prompts/list" => new { prompts = new[] { new { name = "summarize" }, new { name = "admin_reset" } } },
            "resources/list" => new
            {
                resources = new[] { new { uri = "file:///public/readme.md", name = "readme" }, new { uri = "file:///secret/key.pem", name = "key" }, new { uri = "https://docs.example.com/a", name = "a" } },
                nextCursor = "more",
            },
            "resources/templates/list" => new { resourceTemplates = new[] { new { uriTemplate = "file:///public/{path}", name = "public" }, new { uriTemplate = "file:///{path}", name = "any" } } },
            "completion/complete" => new
            {
                completion = new { values = new[] { "x" } },
                completed = root.GetProperty("params").GetProperty("ref") is var r && r.TryGetProperty("name", out var n) ? n.GetString() : r.GetProperty("uri").GetString(),
            },
            "subscriptions/listen" => new
            {
                listened = root.GetProperty("params").GetProperty("notifications").GetProperty("resourceSubscriptions").EnumerateArray().Select(u => u.GetString()).ToArray(),
            },
            _ => new { named = root.GetProperty("params").TryGetProperty("uri", out var uri) ? uri.GetString() : root.GetProperty("params").GetProperty("name").GetString() },
        };
        return context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id, result });
    });

    private static async Task<(TestUpstream Upstream, TestEdge Edge)> StartAsync(object? batches = null)
    {
        var upstream = await UpstreamAsync();
        var server = (Dictionary<string, object>)Mcp.Server(upstreams: upstream.Url + "/mcp", batches: batches);
        server["Prompts"] = PromptFilter;
        server["Resources"] = ResourceFilter;
        var edge = await TestEdge.StartAsync(new { Servers = new { s = server } });
        return (upstream, edge);
    }

    private static async Task<JsonElement> PostAsync(TestEdge edge, string json, string? version = null, HttpStatusCode status = HttpStatusCode.OK)
    {
        var request = Mcp.Post("/mcp/s", json);
        if (version is not null)
        {
            using var parsed = JsonDocument.Parse(json);
            request.Headers.Add("MCP-Protocol-Version", version);
            var method = parsed.RootElement.GetProperty("method").GetString();
            request.Headers.Add("Mcp-Method", method);
            if (method == "resources/read" && parsed.RootElement.GetProperty("params").TryGetProperty("uri", out var uri)) // Mcp-Name mirrors read's URI only
            {
                request.Headers.Add("Mcp-Name", uri.GetString());
            }
        }
        using var response = await edge.Client.SendAsync(request);
        Assert.Equal(status, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    private static string[] Names(JsonElement response, string array, string key) =>
        [.. response.GetProperty("result").GetProperty(array).EnumerateArray().Select(e => e.GetProperty(key).GetString()!)];

    [Fact]
    public async Task Lists_LeaveOutHiddenPromptsResourcesAndTemplates_KeepTheRest()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        var prompts = await PostAsync(edge, Mcp.Call(1, "prompts/list"));
        var resources = await PostAsync(edge, Mcp.Call(2, "resources/list"));
        var templates = await PostAsync(edge, Mcp.Call(3, "resources/templates/list"));

        Assert.Equal(["summarize"], Names(prompts, "prompts", "name"));
        Assert.Equal(["file:///public/readme.md", "https://docs.example.com/a"], Names(resources, "resources", "uri"));
        Assert.Equal("more", resources.GetProperty("result").GetProperty("nextCursor").GetString());
        Assert.Equal(["file:///public/{path}"], Names(templates, "resourceTemplates", "uriTemplate"));
    }

    [Fact]
    public async Task PromptsGet_OfAHiddenPrompt_IsAnUnknownPrompt_AndNeverReachesTheReplica()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        var hidden = await PostAsync(edge, """{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"admin_reset"}}""");
        var exposed = await PostAsync(edge, """{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"name":"summarize"}}""");

        Assert.Equal(4, hidden.GetProperty("id").GetInt32());
        Assert.Equal(-32602, hidden.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal("Unknown prompt: 'admin_reset'", hidden.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("summarize", exposed.GetProperty("result").GetProperty("named").GetString());
        Assert.DoesNotContain(upstream.Requests, r => r.Body.Contains("admin_reset", StringComparison.Ordinal));
    }

    /// <summary>
    /// A hidden resource is "Resource not found" with data.uri: -32002 before MCP 2026-07-28, -32602
    /// from it on (server/resources.mdx, "Error Handling", of each revision); subscribing is refused the same way.
    /// </summary>
    [Theory]
    [InlineData("resources/read", null, -32002)]
    [InlineData("resources/read", "2025-11-25", -32002)]
    [InlineData("resources/read", "2026-07-28", -32602)]
    [InlineData("resources/subscribe", "2025-06-18", -32002)]
    [InlineData("resources/unsubscribe", "2025-11-25", -32002)]
    public async Task HiddenResource_IsNotFound_ByRevision_AndNeverReachesTheReplica(string method, string? version, int code)
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        var hidden = await PostAsync(edge, $$$"""{"jsonrpc":"2.0","id":6,"method":"{{{method}}}","params":{"uri":"file:///secret/key.pem"}}""", version);
        var exposed = await PostAsync(edge, $$$"""{"jsonrpc":"2.0","id":7,"method":"{{{method}}}","params":{"uri":"file:///public/readme.md"}}""", version);

        Assert.Equal(6, hidden.GetProperty("id").GetInt32());
        Assert.Equal(code, hidden.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal("Resource not found", hidden.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("file:///secret/key.pem", hidden.GetProperty("error").GetProperty("data").GetProperty("uri").GetString());
        Assert.Equal("file:///public/readme.md", exposed.GetProperty("result").GetProperty("named").GetString());
        Assert.DoesNotContain(upstream.Requests, r => r.Body.Contains("secret", StringComparison.Ordinal));
    }

    /// <summary>A URI the replica could resolve past the globs (dot segments, encoded dots and slashes) is never exposed.</summary>
    [Theory]
    [InlineData("file:///public/../secret/key.pem")]
    [InlineData("file:///public/%2e%2e/secret/key.pem")]
    [InlineData("file:///public/..%2Fsecret")]
    [InlineData("file:///public/.\\..\\secret")]
    public async Task AmbiguousUri_UnderAnAllowedPrefix_IsNotFound(string uri)
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        var answer = await PostAsync(edge, JsonSerializer.Serialize(new { jsonrpc = "2.0", id = 8, method = "resources/read", @params = new { uri } }));

        Assert.Equal(-32002, answer.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData("file:///public/readme.md", false)]
    [InlineData("file:///public/v1.2/notes..txt", false)] // dots inside a segment are a name, not a step
    [InlineData("https://example.com/a/b?x=1#y", false)]
    [InlineData("file:///", false)]
    [InlineData("file:///a/./b", true)]
    [InlineData("file:///a/..", true)]
    [InlineData("file:///a/..?q", true)]
    [InlineData("file:///a\\..\\b", true)]
    [InlineData("file:///a/%2E%2e/b", true)]
    [InlineData("file:///a%2fb", true)]
    [InlineData("file:///a%5Cb", true)]
    public void IsAmbiguousUri_FindsDotSegmentsAndEncodedSeparators(string uri, bool ambiguous) =>
        Assert.Equal(ambiguous, ExposureFilter.IsAmbiguousUri(uri));

    [Fact]
    public async Task Batches_Split_JudgeEachElement_PassthroughWithAPromptRequestIsRefused()
    {
        const string batch = """[{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"summarize"}},{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///secret/key.pem"}}]""";
        var (upstream, edge) = await StartAsync();
        await using (upstream)
        await using (edge)
        {
            using var split = await edge.Client.SendAsync(Mcp.Post("/mcp/s", batch));
            using var answers = JsonDocument.Parse(await split.Content.ReadAsStringAsync());
            Assert.Equal("summarize", answers.RootElement[0].GetProperty("result").GetProperty("named").GetString());
            Assert.Equal(-32002, answers.RootElement[1].GetProperty("error").GetProperty("code").GetInt32());
            Assert.DoesNotContain(upstream.Requests, r => r.Body.Contains("secret", StringComparison.Ordinal));
        }

        var (upstream2, edge2) = await StartAsync(batches: new { Mode = "passthrough" });
        await using (upstream2)
        await using (edge2)
        {
            var refused = await PostAsync(edge2, """[{"jsonrpc":"2.0","id":1,"method":"prompts/list"}]""", status: HttpStatusCode.BadRequest);
            Assert.Equal(-32600, refused.GetProperty("error").GetProperty("code").GetInt32());
            var passed = await PostAsync(edge2, """[{"jsonrpc":"2.0","id":1,"method":"ping"}]""");
            Assert.Equal(JsonValueKind.Array, passed.ValueKind);
            Assert.Single(upstream2.Requests);
        }
    }

    /// <summary>
    /// completion/complete for a hidden prompt or resource template is -32602, as for a reference the
    /// server does not have (server/utilities/completion.mdx, "Error Handling"); others reach the replica.
    /// </summary>
    [Theory]
    [InlineData("ref/prompt", "name", "admin_reset", "Unknown prompt: 'admin_reset'")]
    [InlineData("ref/resource", "uri", "file:///{path}", "Unknown resource template: 'file:///{path}'")]
    [InlineData("ref/resource", "uri", "file:///secret/key.pem", "Unknown resource template: 'file:///secret/key.pem'")]
    [InlineData("ref/prompt", "name", "summarize", null)]
    [InlineData("ref/resource", "uri", "file:///public/{path}", null)]
    [InlineData("ref/tool", "name", "admin_reset", null)] // not a reference kind the filters know: the replica judges it
    public async Task CompletionComplete_OfAHiddenPromptOrTemplate_IsInvalidParams_AndNeverReachesTheReplica(string type, string key, string value, string? error)
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        var request = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["jsonrpc"] = "2.0", ["id"] = 10, ["method"] = "completion/complete",
            ["params"] = new Dictionary<string, object> { ["ref"] = new Dictionary<string, string> { ["type"] = type, [key] = value }, ["argument"] = new { name = "a", value = "" } },
        });
        var answer = await PostAsync(edge, request);

        Assert.Equal(10, answer.GetProperty("id").GetInt32());
        if (error is null)
        {
            Assert.Equal(value, answer.GetProperty("result").GetProperty("completed").GetString());
            Assert.Single(upstream.Requests);
        }
        else
        {
            Assert.Equal(-32602, answer.GetProperty("error").GetProperty("code").GetInt32());
            Assert.Equal(error, answer.GetProperty("error").GetProperty("message").GetString());
            Assert.Empty(upstream.Requests);
        }
    }

    /// <summary>
    /// A 2026-07-28 subscriptions/listen reaches the replica without the hidden URIs of
    /// resourceSubscriptions (so it never acknowledges them nor sends their updates), the rest of the
    /// request unchanged; one that names no hidden URI goes byte for byte.
    /// </summary>
    [Fact]
    public async Task SubscriptionsListen_LosesItsHiddenResourceSubscriptions_AndKeepsTheRest()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;
        const string listen = """{"jsonrpc":"2.0","id":11,"method":"subscriptions/listen","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"notifications":{"toolsListChanged":true,"resourceSubscriptions":["file:///public/readme.md","file:///secret/key.pem","https://docs.example.com/a","file:///public/../secret/key.pem"]}}}""";
        const string exposedOnly = """{"jsonrpc":"2.0","id":12,"method":"subscriptions/listen","params":{"notifications":{"resourceSubscriptions":[ "file:///public/readme.md" ]}}}""";

        var answer = await PostAsync(edge, listen, "2026-07-28");
        var forwarded = JsonDocument.Parse(upstream.Requests.Single().Body).RootElement;
        await PostAsync(edge, exposedOnly, "2026-07-28");

        Assert.Equal(11, answer.GetProperty("id").GetInt32());
        Assert.Equal(["file:///public/readme.md", "https://docs.example.com/a"], answer.GetProperty("result").GetProperty("listened").EnumerateArray().Select(u => u.GetString()));
        Assert.True(forwarded.GetProperty("params").GetProperty("notifications").GetProperty("toolsListChanged").GetBoolean());
        Assert.Equal("2026-07-28", forwarded.GetProperty("params").GetProperty("_meta").GetProperty("io.modelcontextprotocol/protocolVersion").GetString());
        Assert.Equal(11, forwarded.GetProperty("id").GetInt32());
        Assert.Equal(exposedOnly, upstream.Requests.Last().Body);
    }

    [Fact]
    public void WithoutHiddenSubscriptions_FiltersEveryDuplicateOnThePath_AndLeavesOtherValuesAsTheyWere()
    {
        const string body = """{"id":1,"params":{"notifications":{"resourceSubscriptions":["file:///secret/a",7,"file:///public/b"],"resourceSubscriptions":["file:///secret/c"]},"other":{"resourceSubscriptions":["file:///secret/d"]}}}""";

        var rewritten = ExposedRequests.WithoutHiddenSubscriptions(System.Text.Encoding.UTF8.GetBytes(body), 64, uri => uri.StartsWith("file:///public/", StringComparison.Ordinal), out var hidden);
        var none = ExposedRequests.WithoutHiddenSubscriptions(System.Text.Encoding.UTF8.GetBytes(body), 64, _ => true, out var noneHidden);

        Assert.Equal("""{"id":1,"params":{"notifications":{"resourceSubscriptions":[7,"file:///public/b"],"resourceSubscriptions":[]},"other":{"resourceSubscriptions":["file:///secret/d"]}}}""",
            System.Text.Encoding.UTF8.GetString(rewritten!));
        Assert.Equal(["file:///secret/a", "file:///secret/c"], hidden);
        Assert.Null(none);
        Assert.Empty(noneHidden);
    }

    [Fact]
    public async Task ResourceSubscribe_WithANonStringUri_IsInvalidParams()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        var answer = await PostAsync(edge, """{"jsonrpc":"2.0","id":9,"method":"resources/subscribe","params":{"uri":42}}""", status: HttpStatusCode.BadRequest);

        Assert.Equal(-32602, answer.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Empty(upstream.Requests);
    }
}
