using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using McpEdge.Streaming;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Xunit.Abstractions;

namespace McpEdge.Tests.Integration;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class StreamingLoadCollection
{
    /// <summary>Heap measurements need the process to themselves.</summary>
    public const string Name = "streaming under load (not parallel)";
}

/// <summary>Backpressure, slow consumers, keep-alives, stream limits and drain, on loopback with real sockets.</summary>
[Collection(StreamingLoadCollection.Name)]
public class StreamingLoadTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private static object Edge(string upstreamUrl, object streaming, string responseTimeout = "00:00:30", string? upstreamHttpVersion = null) => new
    {
        Servers = new { s = Mcp.Server(timeouts: new { Connect = "00:00:02", Response = responseTimeout }, upstreamHttpVersion: upstreamHttpVersion, upstreams: upstreamUrl + "/mcp") },
        Streaming = streaming,
    };

    private static HttpRequestMessage OpenStream()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/mcp/s");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        return request;
    }

    /// <remarks>Over HTTP/2 (<c>UpstreamHttpVersion: "2"</c>) the pause is the stream's flow-control window (RFC 9113 §5.2) instead of TCP's.</remarks>
    [Theory]
    [InlineData("1.1")]
    [InlineData("2")]
    public async Task Flood_ClientReadsNothing_HeapStaysFlat_UpstreamPaused_BothCutAfterSlowConsumerTimeout(string upstreamHttpVersion)
    {
        const long Flood = 512L * 1024 * 1024;
        long written = 0;
        var upstreamDone = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var chunk = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("data: " + new string('x', 1000) + "\n\n", 64)));
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            try
            {
                // Kestrel may accept writes to a connection already closed: stop at the abort.
                while (Interlocked.Read(ref written) < Flood && !context.RequestAborted.IsCancellationRequested)
                {
                    await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                    Interlocked.Add(ref written, chunk.Length);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
            {
                // The edge closed the connection: what we measure.
            }
            // Writes after a close may complete as no-ops; the abort is the proof that the edge closed this side.
            var closed = await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted).ContinueWith(t => t.IsCanceled);
            upstreamDone.TrySetResult(closed ? Interlocked.Read(ref written) : -1);
        }, http2Only: upstreamHttpVersion == "2");
        await using var edge = await TestEdge.StartAsync(Edge(upstream.Url, new { SlowConsumerTimeout = "00:00:02" }, upstreamHttpVersion: upstreamHttpVersion));
        using var totals = new MetricTotals(edge.Services, StreamingMetrics.MeterName);

        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        var peak = baseline;
        using var sampling = new CancellationTokenSource();
        var writtenAtCut = -1L;
        totals.Measured += name =>
        {
            if (name == "mcpedge.sse.slow_consumer.cuts")
            {
                Interlocked.Exchange(ref writtenAtCut, Interlocked.Read(ref written));
            }
        };
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(false));
                await Task.Delay(10);
            }
        });
        var clock = Stopwatch.StartNew();
        using var response = await edge.Client.SendAsync(OpenStream(), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var closedAfter = await upstreamDone.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var elapsed = clock.Elapsed;
        await sampling.CancelAsync();
        await sampler;

        output.WriteLine($"upstream had written {writtenAtCut / 1048576.0:0.0} MiB when the edge cut the client; upstream side closed at {elapsed.TotalMilliseconds:0} ms; heap peak +{(peak - baseline) / 1048576.0:0.0} MiB; pauses {totals["mcpedge.sse.backpressure.pauses"]}");
        Assert.True(closedAfter >= 0, "the edge did not close the upstream connection");
        Assert.InRange(writtenAtCut, 0, 64L * 1024 * 1024); // paused, far short of 512 MiB
        Assert.True(elapsed >= TimeSpan.FromSeconds(2), $"cut after {elapsed.TotalMilliseconds:0} ms, before SlowConsumerTimeout");
        Assert.True(peak - baseline < 16L * 1024 * 1024, $"the managed heap grew by {(peak - baseline) / 1048576.0:0.0} MiB");
        Assert.Equal(1, totals["mcpedge.sse.slow_consumer.cuts"]);
        Assert.True(totals["mcpedge.sse.backpressure.pauses"] >= 1);

        // The client's side is closed too: what was buffered drains, then the stream ends or breaks.
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[256 * 1024];
        try
        {
            while (await body.ReadAsync(buffer).AsTask().WaitAsync(Patience) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
        }
    }

    /// <summary>A client that reads at most 4 KiB every 20 ms (about 200 KiB/s).</summary>
    private sealed class SlowStream(Stream inner) : ReadOnlyTestStream
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(20, cancellationToken);
            return await inner.ReadAsync(buffer[..Math.Min(buffer.Length, 4096)], cancellationToken);
        }
    }

    [Fact]
    public async Task SlowReader_ReceivesEveryEventInOrder()
    {
        const int Events = 2000;
        var pad = new string('p', 500);
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            for (var i = 0; i < Events; i++)
            {
                await context.Response.WriteAsync($"id: {i}\ndata: {i} {pad}\n\n", context.RequestAborted);
            }
        });
        await using var edge = await TestEdge.StartAsync(Edge(upstream.Url, new { SlowConsumerTimeout = "00:00:05" }));
        using var response = await edge.Client.SendAsync(OpenStream(), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new SseReader(new SlowStream(await response.Content.ReadAsStreamAsync()));

        var received = new List<int>();
        while (await reader.NextDataAsync(Patience) is { } data)
        {
            received.Add(int.Parse(data.Split(' ')[0]));
        }
        Assert.Equal(Enumerable.Range(0, Events), received);
    }

    [Fact]
    public async Task IdleStream_GetsKeepAlivesOnTime_AndOutlivesEveryTimeout()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: hello\n\n");
            await release.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await context.Response.WriteAsync("data: bye\n\n");
        });
        // Keep-alive 500 ms; response timeout and slow-consumer timeout 1 s; 8 s of upstream silence.
        await using var edge = await TestEdge.StartAsync(Edge(upstream.Url, new { KeepAliveInterval = "00:00:00.500", SlowConsumerTimeout = "00:00:01" }, responseTimeout: "00:00:01"));
        using var response = await edge.Client.SendAsync(OpenStream(), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        async Task<string?> LineAsync()
        {
            using var timeout = new CancellationTokenSource(Patience);
            return await reader.ReadLineAsync(timeout.Token);
        }

        Assert.Equal("data: hello", await LineAsync());
        Assert.Equal("", await LineAsync());
        var clock = Stopwatch.StartNew();
        var arrivals = new List<TimeSpan>();
        while (arrivals.Count < 16)
        {
            Assert.Equal(": keep-alive", await LineAsync());
            arrivals.Add(clock.Elapsed);
        }
        var gaps = arrivals.Zip(arrivals.Skip(1), (a, b) => b - a).Prepend(arrivals[0]).ToArray();
        output.WriteLine($"keep-alive gaps: max {gaps.Max().TotalMilliseconds:0} ms, mean {gaps.Average(g => g.TotalMilliseconds):0} ms");
        Assert.True(gaps.Max() < TimeSpan.FromMilliseconds(1500), $"a keep-alive came {gaps.Max().TotalMilliseconds:0} ms after the previous write");
        Assert.True(clock.Elapsed > TimeSpan.FromSeconds(7));

        release.TrySetResult();
        Assert.Equal("data: bye", await LineAsync());
    }

    [Fact]
    public async Task KeepAlive_NeverSplitsALine_AndResumesAtTheNextEventBoundary()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            if (context.Request.Headers["X-Test-Stream"] == "witness")
            {
                await context.Response.WriteAsync("data: witness\n\n");
                await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { });
                return;
            }
            // Stops in the middle of a line, then finishes it much later.
            await context.Response.WriteAsync("data: par");
            await release.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await context.Response.WriteAsync("tial\n\n");
            await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { });
        });
        await using var edge = await TestEdge.StartAsync(Edge(upstream.Url, new { KeepAliveInterval = "00:00:00.200" }));
        using var partial = await edge.Client.SendAsync(OpenStream(), HttpCompletionOption.ResponseHeadersRead);
        var body = await partial.Content.ReadAsStreamAsync();
        var buffer = new byte[256];
        var text = new StringBuilder();

        async Task ReadUntilAsync(string expected)
        {
            using var timeout = new CancellationTokenSource(Patience);
            while (!text.ToString().Contains(expected, StringComparison.Ordinal))
            {
                var read = await body.ReadAsync(buffer, timeout.Token);
                Assert.NotEqual(0, read);
                text.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }

        await ReadUntilAsync("data: par");

        // The witness: a second stream opened after the partial line was relayed. Once it has had two
        // keep-alives, more than one interval has passed since the partial stream's last write, so its
        // keep-alive timer has fired at least once while it was mid-line.
        var open = OpenStream();
        open.Headers.Add("X-Test-Stream", "witness");
        using var witness = await edge.Client.SendAsync(open, HttpCompletionOption.ResponseHeadersRead);
        using (var reader = new StreamReader(await witness.Content.ReadAsStreamAsync()))
        {
            using var timeout = new CancellationTokenSource(Patience);
            var keepAlives = 0;
            while (keepAlives < 2 && await reader.ReadLineAsync(timeout.Token) is { } line)
            {
                keepAlives += line == ": keep-alive" ? 1 : 0;
            }
            Assert.Equal(2, keepAlives);
        }

        release.TrySetResult();
        await ReadUntilAsync("data: partial\n\n: keep-alive\n");
        Assert.StartsWith("data: partial\n\n", text.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamLimits_PerClient429_Total503_WithRetryAfterAndJsonRpcError()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync(": open\n\n");
            await release.Task.WaitAsync(context.RequestAborted).ContinueWith(_ => { });
        });

        async Task AssertRefusedAsync(TestEdge edge, HttpStatusCode status)
        {
            var open = new List<HttpResponseMessage>();
            try
            {
                for (var i = 0; i < 2; i++)
                {
                    var ok = await edge.Client.SendAsync(OpenStream(), HttpCompletionOption.ResponseHeadersRead);
                    Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
                    open.Add(ok);
                }
                using var refused = await edge.Client.SendAsync(OpenStream());
                Assert.Equal(status, refused.StatusCode);
                Assert.Equal(TimeSpan.FromSeconds(5), refused.Headers.RetryAfter!.Delta);
                using var json = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
                Assert.Equal(-32000, json.RootElement.GetProperty("error").GetProperty("code").GetInt32());

                // A POST is no stream: not limited.
                using var post = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "ping")), HttpCompletionOption.ResponseHeadersRead);
                Assert.Equal(HttpStatusCode.OK, post.StatusCode);
            }
            finally
            {
                open.ForEach(r => r.Dispose());
            }
        }

        await using (var perClient = await TestEdge.StartAsync(Edge(upstream.Url, new { MaxStreamsPerClient = 2 })))
        {
            await AssertRefusedAsync(perClient, HttpStatusCode.TooManyRequests);
        }
        await using (var total = await TestEdge.StartAsync(Edge(upstream.Url, new { MaxStreams = 2, MaxStreamsPerClient = 10 })))
        {
            await AssertRefusedAsync(total, HttpStatusCode.ServiceUnavailable);
        }
        release.TrySetResult();
    }

    [Fact]
    public async Task Drain_StreamClosedWithRetry_InFlightPostCompletes()
    {
        var postArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releasePost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            if (HttpMethods.IsGet(context.Request.Method))
            {
                context.Response.ContentType = "text/event-stream";
                await context.Response.WriteAsync("id: 1\ndata: one\n\n");
                await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { });
                return;
            }
            postArrived.TrySetResult();
            await releasePost.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } });
        });
        var edge = await TestEdge.StartAsync(Edge(upstream.Url, new { ShutdownGracePeriod = "00:00:20", DrainRetry = "00:00:01.500" }));
        await using var _ = edge;
        using var stream = await edge.Client.SendAsync(OpenStream(), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new SseReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal("one", await reader.NextDataAsync(Patience));
        var post = edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/call")));
        await postArrived.Task.WaitAsync(Patience);

        var stopping = edge.StopAsync();
        Assert.Equal(["retry: 1500"], await reader.NextAsync(Patience));
        Assert.Null(await reader.NextAsync(Patience)); // a clean end: the client reconnects after 1.5 s

        Assert.False(stopping.IsCompleted); // the POST still runs within the grace period
        releasePost.TrySetResult();
        using var answered = await post.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        await stopping.WaitAsync(Patience);
    }
}
