using System.Net.Http.Headers;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpEdge.Tests.EndToEnd;

/// <summary>List caching with real peers: the official C# SDK client and server-everything.</summary>
[Collection(EverythingCollection.Name)]
public class ListCacheEndToEndTests(EverythingFixture fixture)
{
    private Task<TestEdge> StartEdgeAsync() =>
        TestEdge.StartAsync(new { Servers = new { everything = Mcp.Server(upstreams: $"http://127.0.0.1:{fixture.Replicas[0].Port}/mcp") } });

    [Fact]
    public async Task SecondToolsList_IsServedByTheEdge()
    {
        await using var edge = await StartEdgeAsync();
        using var metrics = new MetricTotals(edge.Services, "McpEdge.Caching");
        await using var client = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri(edge.BaseAddress, "mcp/everything"), TransportMode = HttpTransportMode.StreamableHttp }),
            new McpClientOptions { ClientInfo = new Implementation { Name = "cache-e2e", Version = "1.0.0" } });

        var first = await client.ListToolsAsync();
        Assert.Equal(1, metrics["mcpedge.cache.misses"]);
        // server-everything may announce notifications/tools/list_changed shortly after initialization
        // (on the GET stream the SDK opens), which drops the cached list once: then the next list goes
        // upstream and is cached again. A list answered by the edge alone must come within a few tries.
        IList<McpClientTool>? second = null;
        for (var attempt = 0; attempt < 5 && second is null; attempt++)
        {
            var (misses, hits) = (metrics["mcpedge.cache.misses"], metrics["mcpedge.cache.hits"]);
            var listed = await client.ListToolsAsync();
            if (metrics["mcpedge.cache.hits"] == hits + 1 && metrics["mcpedge.cache.misses"] == misses)
            {
                second = listed; // the upstream saw no tools/list for this one
            }
        }
        Assert.NotNull(second);
        Assert.Contains(first, t => t.Name == "echo");
        Assert.Equal(first.Select(t => t.Name), second.Select(t => t.Name));
        // The cached answer works as the upstream's did.
        var echoed = await second.Single(t => t.Name == "echo").CallAsync(new Dictionary<string, object?> { ["message"] = "cached" });
        Assert.Contains("cached", string.Join("", echoed.Content.OfType<TextContentBlock>().Select(c => c.Text)));
    }

    /// <summary>
    /// Tool filtering (Servers:{name}:Tools) against a real server: server-everything's list through
    /// the edge lacks the hidden tools, from the upstream and from the cache, and calling one is an
    /// unknown tool for the official client, while the exposed tools work.
    /// </summary>
    [Fact]
    public async Task ToolFilter_HidesToolsOfARealServer_InListsAndCalls()
    {
        var server = (Dictionary<string, object>)Mcp.Server(upstreams: $"http://127.0.0.1:{fixture.Replicas[0].Port}/mcp");
        server["Tools"] = new { Deny = new[] { "get-*", "echo" } };
        await using var edge = await TestEdge.StartAsync(new { Servers = new { everything = server } });
        await using var client = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri(edge.BaseAddress, "mcp/everything"), TransportMode = HttpTransportMode.StreamableHttp }),
            new McpClientOptions { ClientInfo = new Implementation { Name = "filter-e2e", Version = "1.0.0" } });

        var first = await client.ListToolsAsync();
        var again = await client.ListToolsAsync();
        var hidden = await Assert.ThrowsAsync<ModelContextProtocol.McpProtocolException>(async () =>
            await client.CallToolAsync("echo", new Dictionary<string, object?> { ["message"] = "hidden" }));

        // The same server without the filter (the fixture's edge): exactly the hidden tools are missing.
        await using var unfiltered = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions { Endpoint = fixture.EverythingUrl, TransportMode = HttpTransportMode.StreamableHttp }),
            new McpClientOptions { ClientInfo = new Implementation { Name = "filter-e2e-all", Version = "1.0.0" } });
        var all = (await unfiltered.ListToolsAsync()).Select(t => t.Name).ToHashSet();
        bool Hidden(string name) => name == "echo" || name.StartsWith("get-", StringComparison.Ordinal);
        Assert.Contains("echo", all);
        Assert.Equal(all.Where(n => !Hidden(n)).Order(StringComparer.Ordinal), first.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.Equal(first.Select(t => t.Name), again.Select(t => t.Name));
        Assert.Equal(ModelContextProtocol.McpErrorCode.InvalidParams, hidden.ErrorCode);
    }

    /// <summary>
    /// Prompt and resource filtering (Servers:{name}:Prompts, Resources) against server-everything
    /// with the official client: lists lack exactly the hidden prompts and resource templates, and
    /// getting or reading a hidden one raises the not-found error of the client's revision, and so
    /// does completing a hidden prompt's argument (while the replica completes it for a client that
    /// goes to it directly).
    /// </summary>
    [Fact]
    public async Task PromptAndResourceFilters_HideThemOnARealServer()
    {
        var server = (Dictionary<string, object>)Mcp.Server(upstreams: $"http://127.0.0.1:{fixture.Replicas[0].Port}/mcp");
        server["Prompts"] = new { Deny = new[] { "args-*", "completable-*" } };
        server["Resources"] = new { Deny = new[] { "demo://resource/dynamic/blob/*" } };
        await using var edge = await TestEdge.StartAsync(new { Servers = new { everything = server } });
        await using var client = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri(edge.BaseAddress, "mcp/everything"), TransportMode = HttpTransportMode.StreamableHttp }),
            new McpClientOptions { ClientInfo = new Implementation { Name = "filter-e2e", Version = "1.0.0" } });
        await using var unfiltered = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions { Endpoint = fixture.EverythingUrl, TransportMode = HttpTransportMode.StreamableHttp }),
            new McpClientOptions { ClientInfo = new Implementation { Name = "filter-e2e-all", Version = "1.0.0" } });

        var prompts = (await client.ListPromptsAsync()).Select(p => p.Name).Order(StringComparer.Ordinal);
        var templates = (await client.ListResourceTemplatesAsync()).Select(t => t.UriTemplate).Order(StringComparer.Ordinal);
        var text = await client.ReadResourceAsync("demo://resource/dynamic/text/1");
        var hiddenPrompt = await Assert.ThrowsAsync<ModelContextProtocol.McpProtocolException>(async () =>
            await client.GetPromptAsync("args-prompt", new Dictionary<string, object?> { ["city"] = "Paris" }));
        var hiddenResource = await Assert.ThrowsAsync<ModelContextProtocol.McpProtocolException>(async () =>
            await client.ReadResourceAsync("demo://resource/dynamic/blob/1"));
        var completable = new PromptReference { Name = "completable-prompt" };
        var hiddenCompletion = await Assert.ThrowsAsync<ModelContextProtocol.McpProtocolException>(async () =>
            await client.CompleteAsync(completable, "department", "Eng"));
        var directCompletion = await unfiltered.CompleteAsync(completable, "department", "Eng");

        var allPrompts = (await unfiltered.ListPromptsAsync()).Select(p => p.Name).ToList();
        var allTemplates = (await unfiltered.ListResourceTemplatesAsync()).Select(t => t.UriTemplate).ToList();
        Assert.Contains("args-prompt", allPrompts);
        Assert.Contains("demo://resource/dynamic/blob/{resourceId}", allTemplates);
        Assert.Contains("completable-prompt", allPrompts);
        Assert.Equal(allPrompts.Where(n => n is not ("args-prompt" or "completable-prompt")).Order(StringComparer.Ordinal), prompts);
        Assert.Equal(allTemplates.Where(t => !t.StartsWith("demo://resource/dynamic/blob/", StringComparison.Ordinal)).Order(StringComparer.Ordinal), templates);
        Assert.NotEmpty(text.Contents);
        Assert.Equal(ModelContextProtocol.McpErrorCode.InvalidParams, hiddenPrompt.ErrorCode);
        Assert.Equal(ModelContextProtocol.McpErrorCode.ResourceNotFound, hiddenResource.ErrorCode);
        Assert.Equal(ModelContextProtocol.McpErrorCode.InvalidParams, hiddenCompletion.ErrorCode);
        Assert.Equal(["Engineering"], directCompletion.Completion.Values);
    }

    [Fact]
    public async Task ListChanged_FromTheUpstream_DropsTheCachedList()
    {
        // server-everything registers its client-capability tools once the client says
        // notifications/initialized, and announces them with notifications/tools/list_changed on
        // the session's GET stream: opened first here, so the notification passes through the edge.
        await using var edge = await StartEdgeAsync();
        using var metrics = new MetricTotals(edge.Services, "McpEdge.Caching");
        const string version = "2025-11-25";
        HttpRequestMessage Post(string json, string session)
        {
            var request = Mcp.Post("/mcp/everything", json, session);
            request.Headers.Add("MCP-Protocol-Version", version);
            return request;
        }
        async Task<string[]> ListToolsAsync(int id, string session)
        {
            using var response = await edge.Client.SendAsync(Post(Mcp.Call(id, "tools/list"), session));
            var text = await response.Content.ReadAsStringAsync();
            var json = response.Content.Headers.ContentType?.MediaType == "text/event-stream"
                ? text.Split('\n').Last(l => l.StartsWith("data: {", StringComparison.Ordinal))[6..]
                : text;
            using var document = JsonDocument.Parse(json);
            Assert.Equal(id, document.RootElement.GetProperty("id").GetInt32());
            return document.RootElement.GetProperty("result").GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToArray();
        }

        using var initialize = await edge.Client.SendAsync(Mcp.Post("/mcp/everything",
            $$$$"""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"{{{{version}}}}","capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"cache-e2e","version":"1"}}}"""));
        initialize.EnsureSuccessStatusCode();
        var session = initialize.Headers.GetValues("Mcp-Session-Id").Single();

        var get = new HttpRequestMessage(HttpMethod.Get, "/mcp/everything");
        get.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        get.Headers.Add("Mcp-Session-Id", session);
        get.Headers.Add("MCP-Protocol-Version", version);
        using var stream = await edge.Client.SendAsync(get, HttpCompletionOption.ResponseHeadersRead);
        stream.EnsureSuccessStatusCode();
        using var events = new StreamReader(await stream.Content.ReadAsStreamAsync());

        var before = await ListToolsAsync(2, session);
        Assert.Equal(before, await ListToolsAsync(3, session));
        Assert.Equal(1, metrics["mcpedge.cache.misses"]);
        Assert.Equal(1, metrics["mcpedge.cache.hits"]);
        Assert.DoesNotContain("get-roots-list", before);

        using (var initialized = await edge.Client.SendAsync(Post("""{"jsonrpc":"2.0","method":"notifications/initialized"}""", session)))
        {
            initialized.EnsureSuccessStatusCode();
        }
        string? line;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while ((line = await events.ReadLineAsync(timeout.Token)) is not null && !line.Contains("notifications/tools/list_changed", StringComparison.Ordinal))
        {
        }
        Assert.NotNull(line); // the client has it, so the edge relayed (and scanned) it

        var after = await ListToolsAsync(4, session);
        Assert.Equal(2, metrics["mcpedge.cache.misses"]);
        Assert.True(metrics["mcpedge.cache.invalidations"] >= 1); // one per registered tool, as server-everything sends them
        Assert.Contains("get-roots-list", after);
    }
}
