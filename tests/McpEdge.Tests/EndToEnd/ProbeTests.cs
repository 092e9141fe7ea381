using McpEdge.Health;
using McpEdge.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Tests.EndToEnd;

/// <summary>The <c>auto</c> probe against real servers: server-everything in both transports.</summary>
[Collection(EverythingCollection.Name)]
public class ProbeTests(EverythingFixture fixture)
{
    [Fact]
    public async Task AutoProbe_ServerEverything_BothTransports_Healthy()
    {
        var streamable = fixture.Replicas.Select(r => $"http://127.0.0.1:{r.Port}/mcp").ToArray();
        var sse = $"http://127.0.0.1:{fixture.SseReplica.Port}/sse";
        var probing = new { Active = new { Enabled = true, Probe = "auto", Interval = "00:00:01", Timeout = "00:00:03" } };
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new Dictionary<string, object>
            {
                ["everything"] = Mcp.Server("RoundRobin", healthCheck: probing, upstreams: streamable),
                ["everything-sse"] = Mcp.Server("RoundRobin", "sse", healthCheck: probing, upstreams: sse),
            },
        });

        foreach (var url in streamable)
        {
            await edge.WaitForActiveHealthAsync("everything", url, DestinationHealth.Healthy);
        }
        await edge.WaitForActiveHealthAsync("everything-sse", sse, DestinationHealth.Healthy);

        var probes = edge.Services.GetRequiredService<McpHealthProbeService>();
        var record = probes.Find("everything", McpEdge.Configuration.McpProxyConfigBuilder.DestinationId(new Uri(streamable[0])))!;
        Assert.True(record.Last!.Healthy, record.Last.Error);
        // server-everything 2026.8.31 answers server/discover with 400 "Server not initialized": auto falls back to the session probe.
        Assert.Equal(ProbeKinds.Session, record.Last.Kind);
        Assert.Equal(ProbeKinds.SseEndpoint, probes.Find("everything-sse", McpEdge.Configuration.McpProxyConfigBuilder.DestinationId(new Uri(sse)))!.Last!.Kind);
        using var ready = await edge.Client.GetAsync("/readyz");
        Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);
    }
}
