using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using McpEdge.Telemetry;
using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.Telemetry;

/// <summary>Spans per JSON-RPC message, W3C trace context upstream (header and <c>_meta</c>), and OTLP export.</summary>
public class TracingTests
{
    private const string Answer = """{"jsonrpc":"2.0","id":7,"result":{"content":[]}}""";

    private static Task AnswerAsync(Microsoft.AspNetCore.Http.HttpContext context)
    {
        context.Response.ContentType = "application/json";
        return Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, Answer);
    }

    /// <summary>Collects the stopped McpEdge spans of one trace (other tests run in parallel and have their own traces).</summary>
    private sealed class SpanCollector : IDisposable
    {
        private readonly ActivityListener _listener;

        public SpanCollector(ActivityTraceId trace)
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == McpTracing.SourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = activity =>
                {
                    if (activity.TraceId == trace)
                    {
                        Stopped.Add(activity);
                        Arrived.TrySetResult();
                    }
                },
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public ConcurrentBag<Activity> Stopped { get; } = [];

        public TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Dispose() => _listener.Dispose();
    }

    private static string ToolCall(string meta) =>
        $$$"""{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{{{meta}}}}}""";

    [Fact]
    public async Task Span_IsParentedByMetaTraceparent_AndTheUpstreamSeesTheEdgeSpanInMetaAndHeader()
    {
        var trace = ActivityTraceId.CreateRandom();
        var clientSpan = ActivitySpanId.CreateRandom();
        var clientTraceparent = $"00-{trace.ToHexString()}-{clientSpan.ToHexString()}-01";
        using var spans = new SpanCollector(trace);
        await using var upstream = await TestUpstream.StartAsync((context, _) => AnswerAsync(context));
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url) } });

        var body = ToolCall($$"""{"progressToken":"p1","traceparent":"{{clientTraceparent}}","tracestate":"vendor=1"}""");
        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await spans.Arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var span = Assert.Single(spans.Stopped);
        Assert.Equal("tools/call echo", span.DisplayName);
        Assert.Equal(ActivityKind.Server, span.Kind);
        Assert.Equal(clientSpan, span.ParentSpanId);
        Assert.Equal("vendor=1", span.TraceStateString);
        Assert.Equal("tools/call", span.GetTagItem("mcp.method.name"));
        Assert.Equal("echo", span.GetTagItem("gen_ai.tool.name"));
        Assert.Equal("7", span.GetTagItem("jsonrpc.request.id"));
        Assert.Equal("s", span.GetTagItem("mcpedge.server"));
        Assert.Equal(McpEdge.Configuration.McpProxyConfigBuilder.DestinationId(new Uri(upstream.Url)), span.GetTagItem("mcpedge.replica"));
        Assert.Equal(200, span.GetTagItem("http.response.status_code"));

        var forwarded = Assert.Single(upstream.Requests);
        var edgeTraceparent = $"00-{trace.ToHexString()}-{span.SpanId.ToHexString()}-01";
        // The _meta trace context now names the edge's span; nothing else in the body changed.
        Assert.Equal(body.Replace(clientTraceparent, edgeTraceparent, StringComparison.Ordinal), forwarded.Body);
        // The header carries the same trace (its span is the edge's, or HttpClient's child of it).
        Assert.StartsWith($"00-{trace.ToHexString()}-", forwarded.Headers["traceparent"]);
        Assert.DoesNotContain(clientSpan.ToHexString(), forwarded.Headers["traceparent"]);
    }

    [Fact]
    public async Task WithoutMetaTraceContext_TheHeaderIsTheParent_AndTheBodyIsForwardedUnchanged()
    {
        var trace = ActivityTraceId.CreateRandom();
        using var spans = new SpanCollector(trace);
        await using var upstream = await TestUpstream.StartAsync((context, _) => AnswerAsync(context));
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url) } });

        var body = ToolCall("""{"progressToken":"p1"}""");
        using var request = Mcp.Post("/mcp/s", body);
        request.Headers.Add("traceparent", $"00-{trace.ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
        using var response = await edge.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await spans.Arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(trace, Assert.Single(spans.Stopped).TraceId);
        Assert.Equal(body, Assert.Single(upstream.Requests).Body);
    }

    [Theory]
    [InlineData("""{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"}""", true, 16)]
    [InlineData("""{"a":{"traceparent":"x"},"traceparent":"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00"}""", true, 40)]
    [InlineData("""{"traceparent":"\u0030\u0030-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"}""", true, -1)] // escaped: read, not rewritten
    [InlineData("""{"traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}""", false, -1)] // all-zero trace id is invalid
    [InlineData("""{"traceparent":"not a traceparent"}""", false, -1)]
    [InlineData("""{"traceparent":1}""", false, -1)]
    [InlineData("""{}""", false, -1)]
    public void MetaTraceContext_IsReadOnlyWhenValid_AndRewrittenOnlyInPlace(string meta, bool found, int offset)
    {
        Assert.Equal(found, McpTracing.TryReadMetaTraceContext(Encoding.UTF8.GetBytes(meta), out var parent, out var valueOffset));
        Assert.Equal(offset, valueOffset);
        if (found)
        {
            Assert.Equal("0af7651916cd43dd8448eb211c80319c", parent.TraceId.ToHexString());
            Assert.True(parent.IsRemote);
        }
    }

    [Fact]
    public async Task Otlp_ExportsSpansAndMetrics_ToTheConfiguredCollector()
    {
        var traces = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var metrics = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var collector = await TestUpstream.StartAsync((context, body) =>
        {
            // OTLP/HTTP protobuf: strings are stored as raw UTF-8, so names can be found in the bytes.
            if (context.Request.Path == "/v1/traces" && body.Contains("tools/call", StringComparison.Ordinal))
            {
                traces.TrySetResult(body);
            }
            if (context.Request.Path == "/v1/metrics" && body.Contains("mcpedge.requests", StringComparison.Ordinal))
            {
                metrics.TrySetResult(body);
            }
            context.Response.ContentType = "application/x-protobuf";
            return Task.CompletedTask;
        });
        await using var upstream = await TestUpstream.StartAsync((context, _) => AnswerAsync(context));
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new { s = Mcp.Server(upstreams: upstream.Url) },
            Telemetry = new { Otlp = new { Endpoint = collector.Url, Protocol = "http/protobuf", MetricsInterval = "00:00:01", ServiceName = "mcpedge-otlp-test" } },
        });

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", ToolCall("{}")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // The batch span processor exports every 5 s, the metric reader every second (as configured).
        var spanBatch = await traces.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("mcpedge-otlp-test", spanBatch);
        Assert.Contains("gen_ai.tool.name", spanBatch);
        var metricBatch = await metrics.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("mcp.server", metricBatch);
        Assert.All(collector.Requests, r => Assert.Equal("application/x-protobuf", r.Headers["Content-Type"]));
    }

    [Theory]
    [InlineData("Endpoint", "otel-collector:4317", "Telemetry:Otlp:Endpoint")]
    [InlineData("Protocol", "http/json", "Telemetry:Otlp:Protocol")]
    [InlineData("SamplingRatio", "1.5", "Telemetry:Otlp:SamplingRatio")]
    public async Task BadOtlpSettings_AreConfigurationErrors(string setting, string value, string named)
    {
        var error = await Assert.ThrowsAsync<McpEdge.Configuration.McpEdgeConfigurationException>(() =>
            TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: "http://127.0.0.1:9/mcp") } }, $"--McpEdge:Telemetry:Otlp:{setting}={value}"));
        Assert.Contains(named, error.Message);
    }
}
