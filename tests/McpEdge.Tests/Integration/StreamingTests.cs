using System.Net;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.Integration;

public class StreamingTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static async Task WriteEventAsync(HttpContext context, string data)
    {
        await context.Response.WriteAsync($"event: message\nid: {data}\ndata: {data}\n\n");
        await context.Response.Body.FlushAsync();
    }

    [Fact]
    public async Task SseResponse_HeadersAndFirstEvent_ReachClientBeforeUpstreamSendsSecond()
    {
        // The upstream sends the second event only once the test has read the headers and the first
        // event through the edge: an edge that held headers or buffered events would never release it.
        var firstEventSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.StartAsync();
            await context.Response.Body.FlushAsync();
            await firstEventSeen.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await WriteEventAsync(context, "one");
            await firstEventSeen.Task; // released by the test below
            await WriteEventAsync(context, "two");
        });
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });

        // Headers arrive while the upstream has sent no body byte at all.
        var responseTask = edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/call")), HttpCompletionOption.ResponseHeadersRead);
        using var response = await responseTask.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("no", response.Headers.GetValues("X-Accel-Buffering").Single());
        Assert.Empty(response.Content.Headers.ContentEncoding);

        firstEventSeen.TrySetResult();
        using var reader = new SseReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal(["event: message", "id: one", "data: one"], await reader.NextAsync(Patience));
        Assert.Equal("two", await reader.NextDataAsync(Patience));
        Assert.Null(await reader.NextAsync(Patience));
    }

    [Fact]
    public async Task SseResponse_SilentLongerThanActivityTimeout_IsNotCut()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            await WriteEventAsync(context, "before");
            await release.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await WriteEventAsync(context, "after");
        });
        var timeouts = new { Connect = "00:00:02", Response = "00:00:00.300" };
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(timeouts: timeouts, upstreams: upstream.Url + "/mcp") } });

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/call")), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new SseReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal("before", await reader.NextDataAsync(Patience));

        // The point of the test is that real time passes: five activity timeouts of silence.
        await Task.Delay(TimeSpan.FromMilliseconds(1500));
        release.TrySetResult();

        Assert.Equal("after", await reader.NextDataAsync(Patience));
        Assert.Null(await reader.NextAsync(Patience));
    }

    [Fact]
    public async Task JsonResponse_SlowerThanActivityTimeout_Gets504()
    {
        // The control for the test above: the same short timeout does cut a non-streaming response.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(30), context.RequestAborted);
            await context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } });
        });
        var timeouts = new { Connect = "00:00:02", Response = "00:00:00.300" };
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(timeouts: timeouts, upstreams: upstream.Url + "/mcp") } });

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/call")));
        release.TrySetResult();

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        using var error = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("1", error.RootElement.GetProperty("id").GetRawText());
        Assert.Equal(-32603, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal("Gateway Timeout: the replica of MCP server 's' did not answer in time.", error.RootElement.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task SseResponse_ClientHangsUp_UpstreamRequestIsCancelled()
    {
        var upstreamCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            await WriteEventAsync(context, "first");
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                upstreamCancelled.TrySetResult();
            }
        });
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });

        var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/call")), HttpCompletionOption.ResponseHeadersRead);
        var reader = new SseReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal("first", await reader.NextDataAsync(Patience));
        reader.Dispose();
        response.Dispose();

        await upstreamCancelled.Task.WaitAsync(Patience);
    }
}
