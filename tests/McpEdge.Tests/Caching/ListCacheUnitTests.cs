using System.Text;
using System.Text.Json;
using McpEdge.Caching;
using McpEdge.Protocol;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace McpEdge.Tests.Caching;

/// <summary>The cache store, keys, scopes, TTL, invalidation and the reading of upstream answers, without sockets.</summary>
public class ListCacheUnitTests
{
    private static MemoryHybridCache Store(TestTimeProvider time, long limit = 1 << 20, Action? evicted = null) =>
        new(limit, v => v is byte[] b ? b.Length : 1, time, evicted);

    [Fact]
    public async Task ConcurrentMisses_RunTheFactoryOnce_AndShareItsValue()
    {
        using var store = Store(new TestTimeProvider());
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        async ValueTask<string> Factory(CancellationToken _)
        {
            Interlocked.Increment(ref calls);
            return await release.Task;
        }
        var waiting = Enumerable.Range(0, 8).Select(_ => store.GetOrCreateAsync("k", Factory).AsTask()).ToArray();
        release.SetResult("value");
        var values = await Task.WhenAll(waiting);

        Assert.Equal(1, calls);
        Assert.All(values, v => Assert.Equal("value", v));
        Assert.Equal("value", await store.GetOrCreateAsync<string>("k", _ => throw new InvalidOperationException("must be a hit")));
    }

    [Fact]
    public async Task AFailedFactory_StoresNothing_AndItsWaitersSeeTheFailure()
    {
        using var store = Store(new TestTimeProvider());
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var leader = store.GetOrCreateAsync("k", async _ => await release.Task).AsTask();
        var joiner = store.GetOrCreateAsync<string>("k", _ => throw new InvalidOperationException("the joiner must not run its own factory")).AsTask();
        release.SetException(new TimeoutException("upstream"));

        await Assert.ThrowsAsync<TimeoutException>(() => leader);
        await Assert.ThrowsAsync<TimeoutException>(() => joiner);
        Assert.Equal("fresh", await store.GetOrCreateAsync("k", _ => ValueTask.FromResult("fresh")));
    }

    [Fact]
    public async Task Entries_ExpireOnTheInjectedClock()
    {
        var time = new TestTimeProvider();
        using var store = Store(time);
        var options = new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(10) };
        await store.SetAsync("k", "old", options);

        time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.Equal("old", await store.GetOrCreateAsync("k", _ => ValueTask.FromResult("new"), options));
        time.Advance(TimeSpan.FromSeconds(0.2));
        Assert.Equal("new", await store.GetOrCreateAsync("k", _ => ValueTask.FromResult("new"), options));
    }

    [Fact]
    public async Task RemoveByTag_DropsTaggedEntries_IncludingOneWhoseFetchWasUnderWay()
    {
        var time = new TestTimeProvider();
        using var store = Store(time);
        await store.SetAsync("tools", "t", tags: ["s\ntools/list"]);
        await store.SetAsync("prompts", "p", tags: ["s\nprompts/list"]);

        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var fetching = store.GetOrCreateAsync("tools2", async _ => await release.Task, tags: ["s\ntools/list"]).AsTask();
        await store.RemoveByTagAsync("s\ntools/list");
        release.SetResult("stale");
        Assert.Equal("stale", await fetching); // its caller gets it, but it is not stored

        Assert.Equal("miss", await store.GetOrCreateAsync("tools", _ => ValueTask.FromResult("miss")));
        Assert.Equal("miss", await store.GetOrCreateAsync("tools2", _ => ValueTask.FromResult("miss")));
        Assert.Equal("p", await store.GetOrCreateAsync("prompts", _ => ValueTask.FromResult("miss")));
        time.Advance(TimeSpan.FromSeconds(1));
        await store.SetAsync("tools3", "t3", tags: ["s\ntools/list"]);
        Assert.Equal("t3", await store.GetOrCreateAsync("tools3", _ => ValueTask.FromResult("miss"))); // only what was there before
    }

    [Fact]
    public async Task SizeLimit_RefusesEntriesPastIt_AndReportsTheEviction()
    {
        var evicted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var store = Store(new TestTimeProvider(), limit: 10_000, () => evicted.TrySetResult());
        for (var i = 0; i < 30; i++)
        {
            await store.SetAsync($"k{i}", new byte[1000]);
        }
        Assert.True(store.Count <= 10, $"{store.Count} entries of 1000 bytes stored under a 10000-byte limit");
        await evicted.Task.WaitAsync(TimeSpan.FromSeconds(10)); // the memory cache reports on its own thread
    }

    [Fact]
    public void Keys_SeparateServerMethodVersionCursorAndPartition()
    {
        var a = Request(body: """{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", session: "S1", authorization: "Bearer alice");
        var b = Request(body: """{"jsonrpc":"2.0","id":9,"method":"tools/list"}""", session: "S2", authorization: "Bearer bob");
        var paged = Request(body: """{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"p2"}}""", session: "S1", authorization: "Bearer alice");
        var prompts = Request(body: """{"jsonrpc":"2.0","id":1,"method":"prompts/list"}""", session: "S1", authorization: "Bearer alice");
        var otherVersion = Request(body: """{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", session: "S1", authorization: "Bearer alice", version: "2025-03-26");
        var anonymous = Request(body: """{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", session: null, authorization: null);

        Assert.Equal(a.KeyFor(ListCacheScope.Shared), b.KeyFor(ListCacheScope.Shared)); // the id is never part of a key
        Assert.NotEqual(a.KeyFor(ListCacheScope.Principal), b.KeyFor(ListCacheScope.Principal));
        Assert.NotEqual(a.KeyFor(ListCacheScope.Session), b.KeyFor(ListCacheScope.Session));
        Assert.NotEqual(a.KeyFor(ListCacheScope.Shared), paged.KeyFor(ListCacheScope.Shared));
        Assert.NotEqual(a.KeyFor(ListCacheScope.Shared), prompts.KeyFor(ListCacheScope.Shared));
        Assert.NotEqual(a.KeyFor(ListCacheScope.Shared), otherVersion.KeyFor(ListCacheScope.Shared));
        Assert.DoesNotContain("alice", a.KeyFor(ListCacheScope.Principal)); // a digest, never the secret
        Assert.Null(anonymous.KeyFor(ListCacheScope.Session));
        Assert.Null(anonymous.KeyFor(ListCacheScope.Principal)); // private without principal or session: not cached
        Assert.NotNull(anonymous.KeyFor(ListCacheScope.Shared));
        var sessionOnly = Request(body: """{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", session: "S1", authorization: null);
        Assert.Equal(sessionOnly.KeyFor(ListCacheScope.Session), sessionOnly.KeyFor(ListCacheScope.Principal)); // narrowed to the session
    }

    private static ListCacheRequest Request(string body, string? session, string? authorization, string version = "2025-11-25")
    {
        var context = new DefaultHttpContext();
        context.Request.Headers["MCP-Protocol-Version"] = version;
        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }
        if (session is not null)
        {
            context.Features.Set(new McpEdge.Sessions.McpSessionFeature(session, McpEdge.Sessions.SessionTokenKind.StreamableHttp, default!));
        }
        var bytes = Encoding.UTF8.GetBytes(body);
        Assert.Equal(JsonRpcParseStatus.Ok, JsonRpcEnvelope.Parse(bytes, 64, out var envelope, out _));
        return ListCacheRequest.From(context, "s", new JsonRpcMessageFeature(bytes, bytes.Length, envelope));
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", false)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"x","_meta":{"progressToken":1}}}""", false)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"requestState":"abc"}}""", true)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"inputResponses":{}}}""", true)]
    public void ListRequests_WithMoreThanACursor_AreMarked(string body, bool beyond)
    {
        Assert.Equal(JsonRpcParseStatus.Ok, JsonRpcEnvelope.Parse(Encoding.UTF8.GetBytes(body), 64, out var envelope, out _));
        Assert.Equal(beyond, envelope.ParamsBeyondCursor);
    }

    [Fact]
    public void UpstreamAnswer_JsonBody_ReadsResultScopeAndTtl()
    {
        var body = """{"jsonrpc":"2.0","id":"a\u0062","result":{"tools":[{"name":"x"}],"ttlMs":60000,"cacheScope":"public","resultType":"complete"}}"""u8.ToArray();
        var answer = UpstreamAnswer.Find(body, eventStream: false, "\"ab\""u8);

        Assert.NotNull(answer);
        Assert.False(answer.IsError);
        Assert.Equal(60000, answer.TtlMs);
        Assert.Equal("public", answer.CacheScope);
        Assert.Equal("complete", answer.ResultType);
        Assert.Equal("60000", Encoding.UTF8.GetString(answer.Message.Span.Slice(answer.TtlOffset, answer.TtlLength)));
        using var result = JsonDocument.Parse(answer.Result);
        Assert.Equal("x", result.RootElement.GetProperty("tools")[0].GetProperty("name").GetString());
        Assert.Null(UpstreamAnswer.Find(body, eventStream: false, "\"other\""u8));
    }

    [Fact]
    public void UpstreamAnswer_EventStream_FindsTheResponseAmongNotifications()
    {
        var body = Encoding.UTF8.GetBytes(
            "id: 1-0\nretry: 1000\ndata: \n\n" +
            ": keep-alive\n" +
            "event: message\nid: 1-1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n" +
            "event: message\r\nid: 1-2\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\r\ndata: \"result\":{\"tools\":[]}}\r\n\r\n");
        var others = new List<string>();
        var answer = UpstreamAnswer.Find(body, eventStream: true, "7"u8, e => others.Add(Encoding.UTF8.GetString(e.Span)));

        Assert.NotNull(answer);
        Assert.Equal("{\"jsonrpc\":\"2.0\",\"id\":7,\n\"result\":{\"tools\":[]}}", Encoding.UTF8.GetString(answer.Message.Span));
        Assert.Equal("{\"tools\":[]}", Encoding.UTF8.GetString(answer.Result.Span));
        Assert.Single(others); // the progress notification; the priming event carries no data
        Assert.Contains("notifications/progress", others[0]);
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"nope"}}""", true)]
    [InlineData("""{"jsonrpc":"2.0","id":7,"method":"tools/list"}""", false)]
    [InlineData("""{"jsonrpc":"2.0","id":7}""", false)]
    [InlineData("""not json""", false)]
    public void UpstreamAnswer_ErrorsAndNonResponses(string body, bool isErrorResponse)
    {
        var answer = UpstreamAnswer.Find(Encoding.UTF8.GetBytes(body), eventStream: false, "7"u8);
        Assert.Equal(isErrorResponse, answer is { IsError: true });
        if (!isErrorResponse)
        {
            Assert.Null(answer);
        }
    }

    [Fact]
    public async Task AHit_CarriesTheCallersId_AndTheTimeLeftAsTtl()
    {
        var result = """{"tools":[],"ttlMs":60000,"cacheScope":"public"}"""u8.ToArray();
        var offset = Encoding.UTF8.GetString(result).IndexOf("60000", StringComparison.Ordinal);
        var entry = new CachedListResult(result, offset, 5, 0, ListCacheScope.Shared);

        var json = await WriteHitAsync(entry, "application/json, text/event-stream");
        Assert.Equal("application/json", json.ContentType);
        using (var document = JsonDocument.Parse(json.Body))
        {
            Assert.Equal("caller-9", document.RootElement.GetProperty("id").GetString());
            Assert.Equal(12345, document.RootElement.GetProperty("result").GetProperty("ttlMs").GetInt64());
        }
        Assert.Equal("HIT", json.Cache);

        var pretty = new CachedListResult("{\n  \"tools\": []\n}"u8.ToArray(), -1, 0, 0, ListCacheScope.Session);
        var sse = await WriteHitAsync(pretty, "text/event-stream");
        Assert.Equal("text/event-stream", sse.ContentType);
        Assert.Equal("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"caller-9\",\"result\":{\ndata:   \"tools\": []\ndata: }}\n\n", sse.Body);
    }

    private static async Task<(string? ContentType, string Body, string Cache)> WriteHitAsync(CachedListResult entry, string accept)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.Accept = accept;
        var body = new MemoryStream();
        context.Response.Body = body;
        await ListCacheMiddleware.WriteHitAsync(context, entry, "\"caller-9\""u8.ToArray(), 12345);
        return (context.Response.ContentType, Encoding.UTF8.GetString(body.ToArray()), context.Response.Headers["X-Cache"].ToString());
    }

    [Fact]
    public void Scanner_FindsListChanged_AlsoAcrossReadBoundaries_OncePerNotification()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var store = new RecordingCache();
        var cache = new ListCache(store, services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), NullLogger<ListCache>.Instance);

        var stream = Encoding.UTF8.GetBytes(
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n" +
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/list_changed\"}\n\n" +
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n");
        // Every way of cutting the stream into reads of 1..97 bytes sees the same two notifications.
        foreach (var size in new[] { 1, 2, 3, 7, 13, 31, 36, 37, 40, 41, 97, stream.Length })
        {
            store.RemovedTags.Clear();
            var s = new ListChangedScanner(cache, "s");
            for (var offset = 0; offset < stream.Length; offset += size)
            {
                s.Scan(stream.AsSpan(offset, Math.Min(size, stream.Length - offset)));
            }
            Assert.Equal(["s\nresources/list", "s\nresources/templates/list", "s\ntools/list"], store.RemovedTags.Order());
        }
    }

    /// <summary>Records tag removals; nothing else is called by <see cref="ListCache.ListChanged"/>.</summary>
    private sealed class RecordingCache : HybridCache
    {
        public List<string> RemovedTags { get; } = [];

        public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null,
            CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
        {
            RemovedTags.Add(tag);
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task ListChanged_DropsWhatItCovers_ForThatServerOnly()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var store = Store(new TestTimeProvider());
        var cache = new ListCache(store, services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), NullLogger<ListCache>.Instance);
        await store.SetAsync("a", "tools of s", tags: [ListCache.Tag("s", "tools/list")]);
        await store.SetAsync("b", "templates of s", tags: [ListCache.Tag("s", "resources/templates/list")]);
        await store.SetAsync("c", "tools of t", tags: [ListCache.Tag("t", "tools/list")]);
        await store.SetAsync("d", "prompts of s", tags: [ListCache.Tag("s", "prompts/list")]);

        cache.ListChanged("S", McpMethods.ToolsListChanged); // server names are case-insensitive
        cache.ListChanged("s", McpMethods.ResourcesListChanged);

        Assert.Equal("miss", await store.GetOrCreateAsync("a", _ => ValueTask.FromResult("miss")));
        Assert.Equal("miss", await store.GetOrCreateAsync("b", _ => ValueTask.FromResult("miss")));
        Assert.Equal("tools of t", await store.GetOrCreateAsync("c", _ => ValueTask.FromResult("miss")));
        Assert.Equal("prompts of s", await store.GetOrCreateAsync("d", _ => ValueTask.FromResult("miss")));
    }
}
