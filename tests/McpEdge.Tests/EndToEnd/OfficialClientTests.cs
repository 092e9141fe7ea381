using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpEdge.Tests.EndToEnd;

/// <summary>The official C# SDK client (ModelContextProtocol.Core 2.3.1) through the edge to server-everything.</summary>
[Collection(EverythingCollection.Name)]
public class OfficialClientTests(EverythingFixture fixture)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static Task<McpClient> ConnectAsync(Uri endpoint, HttpTransportMode mode, McpClientHandlers? handlers = null) =>
        McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions { Endpoint = endpoint, TransportMode = mode }),
            new McpClientOptions { ClientInfo = new Implementation { Name = "mcpedge-e2e", Version = "1.0.0" }, Handlers = handlers ?? new McpClientHandlers() });

    private static string Text(CallToolResult result) => string.Join("", result.Content.OfType<TextContentBlock>().Select(c => c.Text));

    /// <summary>Reports progress synchronously (Progress&lt;T&gt; would post it to the thread pool and lose the order).</summary>
    private sealed class InlineProgress(Action<ProgressNotificationValue> report) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value) => report(value);
    }

    [Fact]
    public async Task Initialize_ListTools_CallTool()
    {
        await using var client = await ConnectAsync(fixture.EverythingUrl, HttpTransportMode.StreamableHttp);

        var tools = await client.ListToolsAsync();
        var result = await client.CallToolAsync("echo", new Dictionary<string, object?> { ["message"] = "through the edge" });

        Assert.Contains(tools, t => t.Name == "trigger-long-running-operation");
        Assert.Contains("through the edge", Text(result));
        Assert.False(string.IsNullOrEmpty(client.ServerInfo?.Name));
    }

    [Fact]
    public async Task LongRunningOperation_ProgressArrivesWhileToolRuns()
    {
        await using var client = await ConnectAsync(fixture.EverythingUrl, HttpTransportMode.StreamableHttp);
        var progress = new ConcurrentQueue<(float Progress, bool CallFinished)>();
        Task<CallToolResult>? call = null;
        var reporter = new InlineProgress(p => progress.Enqueue((p.Progress, call?.IsCompleted ?? false)));

        // One step a second: in a loaded full run (2026-11-22, fresh-clone CI) a 2 s operation of five
        // steps once left the client with none of its notifications, most likely handled only after the
        // result had resolved the call (below); it passed in six runs of this class alone.
        call = client.CallToolAsync("trigger-long-running-operation", new Dictionary<string, object?> { ["duration"] = 5, ["steps"] = 5 }, reporter).AsTask();
        var result = await call.WaitAsync(Patience);

        // The SDK runs notification handlers concurrently (so their order is not kept) and drops one
        // whose handler runs after the response resolved the call, so late ones may be missing here;
        // SseWireTests shows every event crosses the edge, in order, before the result.
        Assert.Contains("Long running operation completed", Text(result));
        var received = progress.ToArray();
        Assert.InRange(received.Length, 2, 5);
        Assert.Equal(received.Length, received.Select(p => p.Progress).Distinct().Count());
        Assert.All(received, p => Assert.InRange(p.Progress, 1f, 5f));
        Assert.All(received, p => Assert.False(p.CallFinished));
    }

    [Fact]
    public async Task TwentyConcurrentSessions_TenSequentialCallsEach_AllSucceed()
    {
        var failures = new ConcurrentQueue<string>();
        await Task.WhenAll(Enumerable.Range(0, 20).Select(async session =>
        {
            await using var client = await ConnectAsync(fixture.EverythingUrl, HttpTransportMode.StreamableHttp);
            for (var call = 0; call < 10; call++)
            {
                var result = await client.CallToolAsync("get-sum", new Dictionary<string, object?> { ["a"] = session, ["b"] = call });
                if (!Text(result).Contains($"{session + call}", StringComparison.Ordinal))
                {
                    failures.Enqueue($"session {session} call {call}: {Text(result)}");
                }
            }
        })).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Empty(failures);
    }

    [Fact]
    public async Task StandaloneGetStream_DeliversServerNotification()
    {
        // Notifications unrelated to a request go to the standalone GET stream. server-everything sends
        // tools/list_changed right after notifications/initialized, which can reach it before the GET
        // stream does (two connections; it drops what it cannot deliver), so also turn on its simulated
        // logging: one notifications/message now and one every 5 s, all on the GET stream.
        var notified = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handlers = new McpClientHandlers
        {
            NotificationHandlers =
            [
                new("notifications/tools/list_changed", (_, _) =>
                {
                    notified.TrySetResult("notifications/tools/list_changed");
                    return ValueTask.CompletedTask;
                }),
                new("notifications/message", (_, _) =>
                {
                    notified.TrySetResult("notifications/message");
                    return ValueTask.CompletedTask;
                }),
            ],
        };

        await using var client = await ConnectAsync(fixture.EverythingUrl, HttpTransportMode.StreamableHttp, handlers);
        await client.CallToolAsync("toggle-simulated-logging");
        try
        {
            Assert.StartsWith("notifications/", await notified.Task.WaitAsync(Patience));
        }
        finally
        {
            await client.CallToolAsync("toggle-simulated-logging"); // off again
        }
    }

    [Fact]
    public async Task Delete_EndsTheSessionOnItsReplica()
    {
        var client = await ConnectAsync(fixture.EverythingUrl, HttpTransportMode.StreamableHttp);
        var sessionId = client.SessionId!;
        using (var alive = await fixture.Edge.Client.SendAsync(Mcp.Post("/mcp/everything", Mcp.Call(9, "ping"), sessionId)))
        {
            Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        }

        await client.DisposeAsync(); // sends DELETE through the edge

        // Pinned to the same replica, which no longer knows the session (server-everything answers
        // 400 where the spec says 404). Had the DELETE gone elsewhere, this would still be 200.
        using var after = await fixture.Edge.Client.SendAsync(Mcp.Post("/mcp/everything", Mcp.Call(10, "ping"), sessionId));
        Assert.True(after.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"got {(int)after.StatusCode}");
    }

    [Fact]
    public async Task SseTransport_InitializeListCall()
    {
        await using var client = await ConnectAsync(fixture.EverythingSseUrl, HttpTransportMode.Sse);

        var tools = await client.ListToolsAsync();
        var result = await client.CallToolAsync("echo", new Dictionary<string, object?> { ["message"] = "legacy through the edge" });

        Assert.Contains(tools, t => t.Name == "echo");
        Assert.Contains("legacy through the edge", Text(result));
    }

    [Fact]
    public async Task AutoDetect_OnStreamableServer_Works()
    {
        await using var client = await ConnectAsync(fixture.EverythingUrl, HttpTransportMode.AutoDetect);
        Assert.Contains("hi", Text(await client.CallToolAsync("echo", new Dictionary<string, object?> { ["message"] = "hi" })));
    }
}
