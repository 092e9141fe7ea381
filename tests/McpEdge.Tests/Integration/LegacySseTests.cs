using System.Collections.Concurrent;
using System.Net;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.Integration;

public class LegacySseTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>An HTTP+SSE (2024-11-05) replica: GET /sse sends a priming comment, then the endpoint event, then holds the stream; POST /messages?sessionId= answers 202.</summary>
    private static Task<TestUpstream> LegacyReplicaAsync(string name, ConcurrentQueue<string> posts) => TestUpstream.StartAsync(async (context, body) =>
    {
        if (HttpMethods.IsGet(context.Request.Method))
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync($": primed\r\n\r\nevent: endpoint\r\ndata: /messages?sessionId={name}-42\r\n\r\n");
            await context.Response.Body.FlushAsync();
            await context.Response.WriteAsync("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n");
            await context.Response.Body.FlushAsync();
            await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { });
            return;
        }
        posts.Enqueue($"{name} {context.Request.Path}{context.Request.QueryString} {body}");
        context.Response.StatusCode = StatusCodes.Status202Accepted;
    });

    [Fact]
    public async Task EndpointEvent_RewrittenToEdge_AndPostsReachTheReplicaHoldingTheStream()
    {
        var posts = new ConcurrentQueue<string>();
        await using var a = await LegacyReplicaAsync("a", posts);
        await using var b = await LegacyReplicaAsync("b", posts);
        await using var edge = await TestEdge.StartAsync(new { Servers = new { legacy = Mcp.Server("RoundRobin", "sse", upstreams: [a.Url + "/sse", b.Url + "/sse"]) } });

        using var stream = await edge.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/mcp/legacy"), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new SseReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal([": primed"], await reader.NextAsync(Patience));
        var endpoint = await reader.NextAsync(Patience);
        Assert.Equal("event: endpoint", endpoint![0]);
        var url = endpoint[1]["data: ".Length..];
        Assert.StartsWith("/mcp/legacy/message?sessionId=", url);
        Assert.DoesNotContain("-42", url);
        Assert.Equal("""{"jsonrpc":"2.0","method":"notifications/message"}""", await reader.NextDataAsync(Patience));

        var owner = a.Requests.Count == 1 ? "a" : "b";
        for (var i = 0; i < 4; i++)
        {
            using var post = await edge.Client.SendAsync(Mcp.Post(url, Mcp.Call(i, "ping")));
            Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        }

        Assert.Equal(4, posts.Count);
        Assert.All(posts, p => Assert.StartsWith($"{owner} /messages?sessionId={owner}-42 ", p));
    }

    [Fact]
    public async Task LegacyPost_WithForgedOrMissingSession_RejectedBeforeUpstream()
    {
        var posts = new ConcurrentQueue<string>();
        await using var a = await LegacyReplicaAsync("a", posts);
        await using var edge = await TestEdge.StartAsync(new { Servers = new { legacy = Mcp.Server("RoundRobin", "sse", upstreams: a.Url + "/sse") } });

        using var forged = await edge.Client.SendAsync(Mcp.Post("/mcp/legacy/message?sessionId=a-42", Mcp.Call(1, "ping")));
        using var missing = await edge.Client.SendAsync(Mcp.Post("/mcp/legacy/message", Mcp.Call(1, "ping")));

        Assert.Equal(HttpStatusCode.NotFound, forged.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Empty(a.Requests);
    }
}
