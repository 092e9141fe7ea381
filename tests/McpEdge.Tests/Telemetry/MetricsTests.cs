using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using McpEdge.Telemetry;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.Telemetry;

/// <summary><c>/metrics</c> after real traffic through the edge to the sample server, checked by <c>promtool</c>.</summary>
public class MetricsTests
{
    private static async Task<(string Text, HttpResponseMessage Response)> ScrapeAfterTrafficAsync(string unknownMethod)
    {
        await using var sample = await TestSampleServer.StartAsync();
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: sample.Url) } });
        // A request is counted when its response has ended, which its client may see a moment before.
        using var totals = new MetricTotals(edge.Services, "McpEdge");
        var counted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        totals.Measured += instrument =>
        {
            if (instrument == "mcpedge.requests" && totals["mcpedge.requests"] >= 6)
            {
                counted.TrySetResult();
            }
        };
        using var initialize = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize));
        var session = initialize.Headers.GetValues("Mcp-Session-Id").Single();
        for (var i = 0; i < 2; i++)
        {
            using var list = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(10 + i, "tools/list"), session));
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        }
        using (var bad = await edge.Client.SendAsync(Mcp.Post("/mcp/s", "{not json", session)))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }
        using (var unknown = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(20, unknownMethod), session)))
        {
            Assert.Equal(HttpStatusCode.OK, unknown.StatusCode); // the upstream's -32601
        }
        using (var forged = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(21, "ping"), "forged-session")))
        {
            Assert.Equal(HttpStatusCode.NotFound, forged.StatusCode);
        }
        await counted.Task.WaitAsync(TimeSpan.FromSeconds(10)); // the 6 requests above
        // Our listener may hear the 6th measurement before the SDK's listener has aggregated it (listeners
        // run one after the other on the recording thread), so scrape until the SDK shows all six.
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var response = await edge.Client.GetAsync("/metrics");
            var text = await response.Content.ReadAsStringAsync();
            if (RequestsTotal(text) >= 6 || deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                return (text, response);
            }
            response.Dispose();
        }
    }

    private static long RequestsTotal(string text) =>
        Regex.Matches(text, @"^mcpedge_requests_total\{[^}]*\} (\d+)$", RegexOptions.Multiline).Sum(m => long.Parse(m.Groups[1].Value));

    /// <summary>Asserts one series line, showing every line of that metric when it is missing.</summary>
    private static void AssertSeries(string text, string name, string labels, string value)
    {
        var pattern = Series(name, labels, value);
        if (!Regex.IsMatch(text, pattern))
        {
            var lines = text.Split('\n').Where(l => l.StartsWith(name, StringComparison.Ordinal));
            Assert.Fail($"missing {name}{{{labels.Trim()}}} {value}; the scrape has:\n" + string.Join('\n', lines));
        }
    }

    [Fact]
    public async Task RequestsActive_CountsAnOpenStream_AndDropsWhenItCloses()
    {
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync(": open\n\n");
            await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { });
        });
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });

        async Task<string> ScrapeUntilAsync(string value)
        {
            // The count drops when the edge has ended the request, a moment after the client hung up.
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                var text = await edge.Client.GetStringAsync("/metrics");
                if (Regex.IsMatch(text, Series("mcpedge_requests_active", """mcp_server="s" """, value)) || deadline.Elapsed > TimeSpan.FromSeconds(10))
                {
                    return text;
                }
            }
        }

        var open = new HttpRequestMessage(HttpMethod.Get, "/mcp/s");
        open.Headers.Accept.ParseAdd("text/event-stream");
        var stream = await edge.Client.SendAsync(open, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        AssertSeries(await edge.Client.GetStringAsync("/metrics"), "mcpedge_requests_active", """mcp_server="s" """, "1");

        stream.Dispose();
        AssertSeries(await ScrapeUntilAsync("0"), "mcpedge_requests_active", """mcp_server="s" """, "0");
    }

    [Fact]
    public async Task Metrics_AfterTraffic_HaveTheExpectedSeries_WithBoundedLabels_AndPassPromtool()
    {
        var unknownMethod = "x/" + Guid.NewGuid().ToString("N");
        var (text, response) = await ScrapeAfterTrafficAsync(unknownMethod);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Contains("# TYPE mcpedge_requests_total counter", text);
        // (OpenTelemetry sorts the labels by name.)
        AssertSeries(text, "mcpedge_requests_total", """http_response_status_code="200",mcp_method_name="tools/list",mcp_server="s",outcome="ok" """, "2");
        AssertSeries(text, "mcpedge_requests_total", """http_response_status_code="400",mcp_method_name="invalid",mcp_server="s",outcome="client_error" """, "1");
        AssertSeries(text, "mcpedge_requests_total", """http_response_status_code="200",mcp_method_name="other",mcp_server="s",outcome="ok" """, "1");
        Assert.Contains("# TYPE mcpedge_request_duration_seconds histogram", text);
        Assert.Matches("""mcpedge_request_duration_seconds_bucket\{mcp_method_name="tools/list",mcp_server="s",outcome="ok",le="\+Inf"\} 2\n""", text);
        AssertSeries(text, "mcpedge_requests_active", """mcp_server="s" """, "0");
        Assert.Matches("""mcpedge_upstream_duration_seconds_count\{mcp_server="s",mcpedge_replica="[^"]+",outcome="ok"\} \d+\n""", text);
        Assert.Matches("""mcpedge_replica_healthy\{mcp_server="s",mcpedge_replica="[^"]+"\} 1\n""", text);
        AssertSeries(text, "mcpedge_session_rejections_total", """mcp_server="s",reason="unknown" """, "1");
        AssertSeries(text, "mcpedge_cache_hits_total", """mcp_method_name="tools/list",mcp_server="s" """, "1");
        Assert.Contains("kestrel_active_connections", text); // ASP.NET Core's own meters
        Assert.Matches(@"aspnetcore_memory_pool_rented_bytes_total(\{[^}]*\})? [1-9]", text); // Kestrel's block pool (.NET 10)
        Assert.Contains("http_client_open_connections", text); // HttpClient's, to the upstream
        // Their per-request instruments repeat the edge's own and are off by default.
        Assert.DoesNotContain("http_server_request_duration_seconds", text);
        Assert.DoesNotContain("http_client_request_duration_seconds", text);
        // Bounded labels: nothing a client chose.
        Assert.DoesNotContain(unknownMethod, text);
        Assert.DoesNotContain("forged-session", text);

        var (exit, output) = await PromtoolAsync(["check", "metrics"], text);
        Assert.True(exit == 0, "promtool check metrics: " + output);
    }

    [Fact]
    public async Task FrameworkRequestMetrics_WhenConfigured_AreExported()
    {
        await using var sample = await TestSampleServer.StartAsync();
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new { s = Mcp.Server(upstreams: sample.Url) },
            Telemetry = new { FrameworkRequestMetrics = true },
        });
        using var initialize = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize));
        Assert.Equal(HttpStatusCode.OK, initialize.StatusCode);
        // Recorded when the response has ended, which the client may see a moment before: scrape until there (≤ 10 s).
        var deadline = Stopwatch.StartNew();
        string text;
        do
        {
            text = await edge.Client.GetStringAsync("/metrics");
        }
        while (!(text.Contains("http_server_request_duration_seconds_count", StringComparison.Ordinal)
            && text.Contains("http_client_request_duration_seconds_count", StringComparison.Ordinal))
            && deadline.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Contains("# TYPE http_server_request_duration_seconds histogram", text);
        Assert.Contains("# TYPE http_client_request_duration_seconds histogram", text);
    }

    [Fact]
    public async Task Scrape_ShowsThisEdgeOnly_WhenTwoEdgesShareAProcess()
    {
        await using var sample = await TestSampleServer.StartAsync();
        await using var busy = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: sample.Url) } });
        await using var idle = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: sample.Url) } });
        using var totals = new MetricTotals(busy.Services, "McpEdge");
        var counted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        totals.Measured += instrument =>
        {
            if (instrument == "mcpedge.requests")
            {
                counted.TrySetResult();
            }
        };
        using (var initialize = await busy.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize)))
        {
            Assert.Equal(HttpStatusCode.OK, initialize.StatusCode);
        }
        await counted.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var busyText = await busy.Client.GetStringAsync("/metrics");
        var idleText = await idle.Client.GetStringAsync("/metrics");

        Assert.Contains("mcpedge_requests_total{", busyText);
        Assert.DoesNotContain("mcpedge_requests_total{", idleText);
        Assert.DoesNotContain("mcpedge_request_duration_seconds_bucket{", idleText);
    }

    [Fact]
    public async Task BundledPrometheusConfig_PassesPromtool()
    {
        var root = Path.GetFullPath(Path.Combine(McpEdge.Tests.EndToEnd.PeerProcess.PeersDirectory, "../.."));
        foreach (var (command, file) in new[] { ("rules", "config/prometheus/mcpedge-alerts.yml"), ("config", "config/prometheus/scrape.yml") })
        {
            var (exit, output) = await PromtoolAsync([ "check", command, Path.Combine(root, file) ], stdin: null);
            Assert.True(exit == 0, $"promtool check {command} {file}: {output}");
        }
    }

    [Fact]
    public async Task Readme_ShowsTheBundledAlertRulesAsTheyAre()
    {
        // The README repeats config/prometheus/mcpedge-alerts.yml in its Metrics section; it drifted once.
        var root = Path.GetFullPath(Path.Combine(McpEdge.Tests.EndToEnd.PeerProcess.PeersDirectory, "../.."));
        var readme = await File.ReadAllTextAsync(Path.Combine(root, "README.md"));
        var rules = await File.ReadAllTextAsync(Path.Combine(root, "config/prometheus/mcpedge-alerts.yml"));
        var start = readme.IndexOf("```yaml\ngroups:\n", StringComparison.Ordinal);
        Assert.True(start >= 0, "the README's Metrics section shows the alert rules in a yaml block starting with 'groups:'");
        start += "```yaml\n".Length;
        Assert.Equal(rules.TrimEnd(), readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)].TrimEnd());
    }

    /// <summary>promtool (Debian package prometheus; .ci/run installs it).</summary>
    private static Task<(int Exit, string Output)> PromtoolAsync(string[] args, string? stdin) => Tool.RunAsync("promtool", args, stdin);

    private static string Series(string name, string labels, string value) =>
        Regex.Escape(name + "{" + labels.Trim() + "} " + value) + "\n";

    [Theory]
    [InlineData("mcpedge.requests", "{request}", true, "mcpedge_requests_total")]
    [InlineData("mcpedge.request.duration", "s", false, "mcpedge_request_duration_seconds")]
    [InlineData("mcpedge.streaming.bytes", "By", true, "mcpedge_streaming_bytes_total")]
    [InlineData("kestrel.active_connections", "{connection}", false, "kestrel_active_connections")]
    [InlineData("http.server.request.duration", "s", false, "http_server_request_duration_seconds")]
    [InlineData("mcpedge.ratelimit.rejections_total", "{request}", true, "mcpedge_ratelimit_rejections_total")]
    public void Names_FollowOpenTelemetrysPrometheusRules(string name, string unit, bool counter, string expected) =>
        Assert.Equal(expected, PrometheusTextExporter.MetricName(name, unit, counter));
}
