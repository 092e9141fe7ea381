using McpEdge.LoadTests.Engine;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.LoadTests;

/// <summary>The latency probe (one connection, fixed rate) against a real Kestrel upstream on 127.0.0.1.</summary>
public class LatencyProbeTests
{
    [Fact]
    public async Task Probe_FramesBothBodyKinds_CountsFailuresByStatus_AndSendsTheStatelessCall()
    {
        var served = 0;
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            var n = Interlocked.Increment(ref served);
            context.Response.ContentType = "application/json";
            if (n == 5)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return;
            }
            var json = """{"jsonrpc":"2.0","id":1,"result":{}}"""u8.ToArray();
            if (n % 2 == 0)
            {
                context.Response.ContentLength = json.Length;
            }
            // Without a length Kestrel sends the body chunked, in two chunks here.
            await context.Response.Body.WriteAsync(json.AsMemory(0, 10));
            await context.Response.Body.FlushAsync();
            await context.Response.Body.WriteAsync(json.AsMemory(10));
        });
        var target = new Uri(upstream.Url + "/mcp");

        var result = await Task.Run(() => LatencyProbe.Run(target, LatencyProbe.StatelessCall(target), rate: 200, TimeSpan.FromSeconds(0.5)));

        Assert.Equal(100, served);
        Assert.Equal(99, result.Latencies.Length);
        Assert.Equal(new Dictionary<string, int> { ["HTTP 503"] = 1 }, result.Failures);
        Assert.Equal(result.Latencies.Order(), result.Latencies);
        var request = upstream.Requests.First();
        Assert.Equal(("POST", "/mcp"), (request.Method, request.PathAndQuery));
        Assert.Equal("2026-07-28", request.Headers["MCP-Protocol-Version"]);
        Assert.Equal("tools/call", request.Headers["Mcp-Method"]);
        Assert.Contains("\"name\":\"echo\"", request.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_ReconnectsAfterConnectionClose_WithoutCountingAFailure()
    {
        var served = 0;
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            // Every third answer ends its connection, as nginx does after keepalive_requests.
            if (Interlocked.Increment(ref served) % 3 == 0)
            {
                context.Response.Headers.Connection = "close";
            }
            context.Response.ContentLength = 2;
            await context.Response.WriteAsync("{}");
        });
        var target = new Uri(upstream.Url + "/mcp");

        var result = await Task.Run(() => LatencyProbe.Run(target, LatencyProbe.StatelessCall(target), rate: 200, TimeSpan.FromSeconds(0.3)));

        Assert.Empty(result.Failures);
        Assert.Equal(60, result.Latencies.Length);
        Assert.Equal(60, served);
    }

    [Fact]
    public async Task Probe_TimesRequestsFromTheirDueTime_SoAStallShowsInEveryRequestItDelayed()
    {
        var served = 0;
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            // The 20th request stalls the only connection for 100 ms.
            if (Interlocked.Increment(ref served) == 20)
            {
                await Task.Delay(100);
            }
            context.Response.ContentLength = 2;
            await context.Response.WriteAsync("{}");
        });
        var target = new Uri(upstream.Url + "/mcp");

        var result = await Task.Run(() => LatencyProbe.Run(target, LatencyProbe.StatelessCall(target), rate: 200, TimeSpan.FromSeconds(1)));

        Assert.Equal(200, result.Latencies.Length);
        // Requests are due every 5 ms: those due in the first half of the stall waited 50 ms or more
        // from their due time. A generator that waited for each answer before scheduling the next
        // (coordinated omission) would show one slow request.
        Assert.True(result.Latencies.Count(l => l >= 50_000) >= 8, $"slow requests: {result.Latencies.Count(l => l >= 50_000)}");
        // The stalled request itself (a timer may fire a millisecond early against the Stopwatch).
        Assert.True(result.Latencies[^1] >= 95_000, $"slowest: {result.Latencies[^1]} µs");
    }
}
