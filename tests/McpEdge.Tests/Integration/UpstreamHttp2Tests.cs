using System.Net;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Tests.Integration;

/// <summary>
/// <c>UpstreamHttpVersion: "2"</c>: cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3) to a sample
/// server whose only endpoint speaks HTTP/2, on loopback.
/// </summary>
public class UpstreamHttp2Tests
{
    private const string Http2Only = "--Kestrel:EndpointDefaults:Protocols=Http2";

    private static object Server(string upstream, string httpVersion) => new
    {
        Upstreams = new[] { upstream },
        UpstreamHttpVersion = httpVersion,
        LoadBalancingPolicy = "RoundRobin",
        HealthCheck = new
        {
            Active = new { Enabled = true, Probe = "auto", Interval = "00:00:00.300", Timeout = "00:00:02", UnhealthyThreshold = 1, HealthyThreshold = 1 },
            Passive = new { Enabled = false },
        },
    };

    [Fact]
    public async Task Http2Upstream_IsProbedHealthy_AndCarriesASessionAndItsProgressStream()
    {
        await using var sample = await TestSampleServer.StartAsync(Http2Only);
        using (var http11 = new HttpClient())
        {
            // The witness that the upstream speaks nothing but HTTP/2: Kestrel refuses an HTTP/1.1 request.
            using var refused = await http11.GetAsync(sample.Url);
            Assert.Contains("HTTP/2 only endpoint", await refused.Content.ReadAsStringAsync());
        }
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Server(sample.Url, "2") } });
        await edge.WaitForActiveHealthAsync("s", sample.Url, DestinationHealth.Healthy);

        using var initialized = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize));
        Assert.Equal(HttpStatusCode.OK, initialized.StatusCode);
        var session = initialized.Headers.GetValues("Mcp-Session-Id").Single();
        using (var ack = await edge.Client.SendAsync(Mcp.Post("/mcp/s", """{"jsonrpc":"2.0","method":"notifications/initialized"}""", session)))
        {
            Assert.Equal(HttpStatusCode.Accepted, ack.StatusCode);
        }
        using var call = await edge.Client.SendAsync(
            Mcp.Post("/mcp/s", """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"progress","arguments":{"steps":5,"delayMs":20},"_meta":{"progressToken":"p"}}}""", session),
            HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", call.Content.Headers.ContentType?.MediaType);

        // At the wire: every progress event, in order, then the result.
        using var events = new SseReader(await call.Content.ReadAsStreamAsync());
        var progress = new List<int>();
        while (await events.NextDataAsync(TimeSpan.FromSeconds(30)) is { } data)
        {
            using var message = JsonDocument.Parse(data.Length == 0 ? "{}" : data);
            if (message.RootElement.TryGetProperty("method", out var method) && method.GetString() == "notifications/progress")
            {
                progress.Add(message.RootElement.GetProperty("params").GetProperty("progress").GetInt32());
            }
            else if (message.RootElement.TryGetProperty("result", out var result))
            {
                Assert.Contains("5 steps done", result.GetRawText());
                break;
            }
        }
        Assert.Equal([1, 2, 3, 4, 5], progress);
    }

    [Fact]
    public async Task Http2OnlyUpstream_WithTheDefaultVersion_IsProbedUnhealthy_UntilAHotReloadSetsVersion2()
    {
        await using var sample = await TestSampleServer.StartAsync(Http2Only);
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Server(sample.Url, "auto") } });
        await edge.WaitForActiveHealthAsync("s", sample.Url, DestinationHealth.Unhealthy);

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "tools/list")));

        // Every replica unhealthy: the edge still tries one (YARP's panic mode), over HTTP/1.1, and relays Kestrel's 400.
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("HTTP/2 only endpoint", await response.Content.ReadAsStringAsync());

        // The operator's fix, without a restart: the cluster and the probes switch to HTTP/2.
        await edge.ReloadAsync(new { Servers = new { s = Server(sample.Url, "2") } });
        await edge.WaitForActiveHealthAsync("s", sample.Url, DestinationHealth.Healthy);
        using var fixedResponse = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize));
        Assert.Equal(HttpStatusCode.OK, fixedResponse.StatusCode);
        Assert.Contains("mcpedge-sample", await fixedResponse.Content.ReadAsStringAsync());
    }
}
