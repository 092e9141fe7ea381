using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using McpEdge.Health;
using McpEdge.Tests.EndToEnd;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Tests.Integration;

/// <summary>Active probes, failover, LeastResponseTime and ConsistentHash through a running edge, on loopback.</summary>
public class HealthAndFailoverTests
{
    /// <summary>
    /// A minimal session-based MCP replica: initialize (new session id), notifications (202), ping
    /// and everything else (a result naming the replica), DELETE (200); server/discover gets 400, as
    /// from a pre-2026-07-28 server. While <see cref="Hang"/> is set it accepts requests and never
    /// answers; while <see cref="Reset"/> is set it reads each request, then resets the connection.
    /// </summary>
    private sealed class Replica
    {
        private int _sessions;

        private Replica(string name) => Name = name;

        public string Name { get; }
        public volatile bool Hang;
        public volatile bool Reset;
        public volatile string? RequiredAuthorization;
        public TimeSpan Delay;
        public TestUpstream Upstream { get; private set; } = null!;
        public string Url => Upstream.Url + "/mcp";

        /// <summary>Requests that came from clients through the edge (not from probes), by JSON-RPC method.</summary>
        public int ClientRequests(string method) =>
            Upstream.Requests.Count(r => !r.Body.Contains(McpHealthProber.ClientName) && r.Body.Contains($"\"method\":\"{method}\""));

        public static async Task<Replica> StartAsync(string name)
        {
            var replica = new Replica(name);
            replica.Upstream = await TestUpstream.StartAsync(replica.HandleAsync);
            return replica;
        }

        private async Task HandleAsync(HttpContext context, string body)
        {
            if (Hang)
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { });
                return;
            }
            if (Reset)
            {
                context.Abort();
                return;
            }
            if (Delay > TimeSpan.Zero)
            {
                await Task.Delay(Delay);
            }
            if (RequiredAuthorization is { } required && context.Request.Headers.Authorization != required)
            {
                context.Response.StatusCode = 401; // a replica that checks tokens itself
                context.Response.Headers.WWWAuthenticate = "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"";
                return;
            }
            if (HttpMethods.IsDelete(context.Request.Method))
            {
                return;
            }
            using var json = JsonDocument.Parse(body);
            var method = json.RootElement.GetProperty("method").GetString();
            if (method == "server/discover")
            {
                context.Response.StatusCode = 400;
                return;
            }
            if (!json.RootElement.TryGetProperty("id", out var id))
            {
                context.Response.StatusCode = 202;
                return;
            }
            if (method == "initialize")
            {
                context.Response.Headers["Mcp-Session-Id"] = $"{Name}-{Interlocked.Increment(ref _sessions)}";
            }
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$$"""{"jsonrpc":"2.0","id":{{{id.GetRawText()}}},"result":{"protocolVersion":"2025-06-18","replica":"{{{Name}}}"}}""");
        }
    }

    private static object Probing(string interval = "00:00:00.300", string timeout = "00:00:00.200") => new
    {
        Active = new { Enabled = true, Probe = "session", Interval = interval, Timeout = timeout, UnhealthyThreshold = 2, HealthyThreshold = 2 },
        Passive = new { Enabled = false },
    };

    private static Task WaitForHealthAsync(TestEdge edge, string destinationUrl, DestinationHealth health) =>
        edge.WaitForActiveHealthAsync("s", destinationUrl, health);

    private static async Task<HttpStatusCode> SendAsync(TestEdge edge, string json, string? mcpMethod = null)
    {
        using var request = Mcp.Post("/mcp/s", json);
        if (mcpMethod is not null)
        {
            request.Headers.Add("Mcp-Method", mcpMethod);
        }
        using var response = await edge.Client.SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task ActiveProbe_ReplicaStopsAnswering_UnhealthyWithinIntervalTimesThreshold_NoNewSessions_BackAfterRecovery()
    {
        var a = await Replica.StartAsync("a");
        var b = await Replica.StartAsync("b");
        await using var ua = a.Upstream;
        await using var ub = b.Upstream;
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server("RoundRobin", healthCheck: Probing(), upstreams: [a.Url, b.Url]) } });
        await WaitForHealthAsync(edge, a.Url, DestinationHealth.Healthy);
        await WaitForHealthAsync(edge, b.Url, DestinationHealth.Healthy);

        b.Hang = true;
        var stopwatch = Stopwatch.StartNew();
        await WaitForHealthAsync(edge, b.Url, DestinationHealth.Unhealthy);
        // Interval × threshold (600 ms) plus one probe timeout, and 1 s for a busy machine.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromMilliseconds(600 + 200 + 1000), $"marked unhealthy after {stopwatch.Elapsed.TotalMilliseconds:0} ms");

        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await SendAsync(edge, Mcp.Initialize));
        }
        Assert.Equal(8, a.ClientRequests("initialize"));
        Assert.Equal(0, b.ClientRequests("initialize"));

        b.Hang = false;
        await WaitForHealthAsync(edge, b.Url, DestinationHealth.Healthy);
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await SendAsync(edge, Mcp.Initialize));
        }
        Assert.Equal(4, b.ClientRequests("initialize")); // round-robin over both again
    }

    [Fact]
    public async Task ReadyzAndClusters_ReportProbeResults_HealthzAnswersAnyHost()
    {
        var a = await Replica.StartAsync("a");
        await using var ua = a.Upstream;
        var dead = $"http://127.0.0.1:{PeerProcess.FreePort()}/mcp";
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server("RoundRobin", healthCheck: Probing(), upstreams: [a.Url, dead]) } });
        await WaitForHealthAsync(edge, a.Url, DestinationHealth.Healthy);
        await WaitForHealthAsync(edge, dead, DestinationHealth.Unhealthy);

        using var ready = await edge.Client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        using var readyJson = JsonDocument.Parse(await ready.Content.ReadAsStringAsync());
        var server = readyJson.RootElement.GetProperty("servers")[0];
        Assert.Equal(1, server.GetProperty("healthy").GetInt32());
        Assert.Equal(2, server.GetProperty("total").GetInt32());

        using var clusters = JsonDocument.Parse(await edge.Client.GetStringAsync("/edge/clusters"));
        var replicas = clusters.RootElement.GetProperty("servers")[0].GetProperty("replicas").EnumerateArray().ToArray();
        var deadReplica = replicas.Single(r => r.GetProperty("address").GetString() == dead);
        Assert.Equal("Unhealthy", deadReplica.GetProperty("active").GetString());
        Assert.False(deadReplica.GetProperty("available").GetBoolean());
        Assert.Contains("HttpRequestException", deadReplica.GetProperty("lastError").GetString());
        Assert.Equal("session", replicas.Single(r => r.GetProperty("address").GetString() == a.Url).GetProperty("lastProbe").GetProperty("kind").GetString());

        // Kubelet probes use the pod IP as Host, which the DNS-rebinding guard would refuse.
        using var healthz = new HttpRequestMessage(HttpMethod.Get, "/healthz");
        healthz.Headers.Host = "10.1.2.3:8080";
        using var alive = await edge.Client.SendAsync(healthz);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);

        // The only healthy replica stops answering: not ready.
        a.Hang = true;
        await WaitForHealthAsync(edge, a.Url, DestinationHealth.Unhealthy);
        using var notReady = await edge.Client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
    }

    [Fact]
    public async Task ActiveProbe_ReplicaThatChecksTokens_HealthyWithProbeHeaders_UnhealthyWithoutThem_AndTheErrorSaysWhy()
    {
        const string secret = "Bearer probe-secret-0815";
        var a = await Replica.StartAsync("a");
        await using var ua = a.Upstream;
        a.RequiredAuthorization = secret;
        object Probe(object? headers) => new
        {
            Active = new { Enabled = true, Probe = "session", Interval = "00:00:00.300", Timeout = "00:00:00.200", UnhealthyThreshold = 2, HealthyThreshold = 2, Headers = headers },
            Passive = new { Enabled = false },
        };
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new
            {
                s = Mcp.Server("RoundRobin", healthCheck: Probe(new Dictionary<string, string> { ["Authorization"] = secret }), upstreams: [a.Url]),
                t = Mcp.Server("RoundRobin", healthCheck: Probe(null), upstreams: [a.Url]),
            },
        });

        await edge.WaitForActiveHealthAsync("s", a.Url, DestinationHealth.Healthy);
        await edge.WaitForActiveHealthAsync("t", a.Url, DestinationHealth.Unhealthy);

        var clusters = await edge.Client.GetStringAsync("/edge/clusters");
        using var json = JsonDocument.Parse(clusters);
        var t = json.RootElement.GetProperty("servers").EnumerateArray().Single(e => e.GetProperty("name").GetString() == "t");
        var error = t.GetProperty("replicas")[0].GetProperty("lastError").GetString();
        Assert.Equal("initialize answered HTTP 401: the replica wants credentials; give the probe some with HealthCheck:Active:Headers, or probe a path that needs none (Probe: http)", error);
        Assert.DoesNotContain("probe-secret", clusters, StringComparison.Ordinal);
        // Every request of server s's probes carried the header, the session's DELETE included.
        var probes = a.Upstream.Requests.Where(r => r.Headers.GetValueOrDefault("Authorization") == secret).ToArray();
        Assert.Contains(probes, r => r.Method == "DELETE");
        Assert.Contains(probes, r => r.Body.Contains("\"method\":\"ping\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Failover_ConnectionRefusedReplica_NoSessionlessMessageFails_AndEachRunsOnce()
    {
        var a = await Replica.StartAsync("a");
        await using var ua = a.Upstream;
        var dead = $"http://127.0.0.1:{PeerProcess.FreePort()}/mcp";
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server("RoundRobin", upstreams: [a.Url, dead]) } });

        // Round-robin sends every other message to the dead replica; the connect fails, so nothing
        // ran there, and the edge sends it to the live one: tools/call and notifications included.
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await SendAsync(edge, $$$"""{"jsonrpc":"2.0","id":{{{i}}},"method":"tools/call","params":{"name":"echo"}}"""));
            Assert.Equal(HttpStatusCode.Accepted, await SendAsync(edge, """{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"""));
            Assert.Equal(HttpStatusCode.OK, await SendAsync(edge, Mcp.Initialize));
            Assert.Equal(HttpStatusCode.OK, await SendAsync(edge, Mcp.Call(10 + i, "tools/list")));
            Assert.Equal(HttpStatusCode.OK, await SendAsync(edge, Mcp.Call(30 + i, "ping"), mcpMethod: "ping"));
        }
        Assert.Equal(10, a.ClientRequests("tools/call"));
        Assert.Equal(10, a.ClientRequests("notifications/progress"));
        Assert.Equal(10, a.ClientRequests("initialize"));
        // Counted by the replica that refused, all answered by the other.
        var metrics = await edge.Client.GetStringAsync("/metrics");
        Assert.Matches("mcpedge_failover_retries_total\\{mcp_server=\"s\",mcpedge_replica=\"[^\"]+\",result=\"ok\"\\} [1-9][0-9]*\n", metrics);
        Assert.DoesNotContain("result=\"failed\"", metrics);
    }

    [Fact]
    public async Task Failover_ReplicaFailsAfterTheConnection_ToolsCallIsNotRetried()
    {
        var a = await Replica.StartAsync("a");
        var b = await Replica.StartAsync("b");
        await using var ua = a.Upstream;
        await using var ub = b.Upstream;
        b.Reset = true;
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server("RoundRobin", upstreams: [a.Url, b.Url]) } });

        // b received its call (it may have run it) before the connection broke: not repeated on a.
        var calls = new[]
        {
            await SendAsync(edge, """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"""),
            await SendAsync(edge, """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}}"""),
        };
        Assert.Contains(HttpStatusCode.BadGateway, calls);
        Assert.Contains(HttpStatusCode.OK, calls);
        Assert.Equal(1, a.ClientRequests("tools/call"));
        Assert.Equal(1, b.ClientRequests("tools/call"));
    }

    [Fact]
    public async Task Failover_LargeChunkedBody_IsForwardedWhole()
    {
        var a = await Replica.StartAsync("a");
        var b = await Replica.StartAsync("b");
        await using var ua = a.Upstream;
        await using var ub = b.Upstream;
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server("RoundRobin", upstreams: [a.Url, b.Url]) } });
        // Larger than what failover buffers to read the method, and without Content-Length.
        var json = $$$"""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"pad":"{{{new string('x', 200_000)}}}"}}""";
        using var request = Mcp.Post("/mcp/s", "");
        request.Content = new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)));
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.TransferEncodingChunked = true;
        using var response = await edge.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = a.Upstream.Requests.Concat(b.Upstream.Requests).Single();
        Assert.Equal(json, received.Body);
        // The edge has read the whole message, so it sends it with its length (as nginx does with
        // request buffering on), never with both framings.
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(json).ToString(System.Globalization.CultureInfo.InvariantCulture), received.Headers["Content-Length"]);
        Assert.False(received.Headers.ContainsKey("Transfer-Encoding"));
    }

    [Fact]
    public async Task LeastResponseTime_ThroughTheEdge_SlowReplicaGetsAlmostNothing()
    {
        var replicas = new[] { await Replica.StartAsync("a"), await Replica.StartAsync("b"), await Replica.StartAsync("slow") };
        try
        {
            await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server("LeastResponseTime", upstreams: replicas.Select(r => r.Url).ToArray()) } });
            // Warm-up while all three are fast: a replica's first answer carries one-time costs (its
            // connection, compilation on both sides), and a peak is kept for about a half-life (10 s). A
            // first answer from a fast replica that took longer than the slow one's (it happened, in about
            // one run in twenty, on this 2-core machine) made the slow replica win its pairs for seconds.
            for (var i = 0; i < 30; i++)
            {
                Assert.Equal(HttpStatusCode.OK, await SendAsync(edge, Mcp.Call(1000 + i, "ping")));
            }
            // Far slower than any scheduling hiccup of a busy test machine, so the fast replicas never look slower.
            replicas[2].Delay = TimeSpan.FromSeconds(1);
            for (var i = 0; i < 150; i++)
            {
                Assert.Equal(HttpStatusCode.OK, await SendAsync(edge, Mcp.Call(i, "tools/list")));
            }
            Assert.InRange(replicas[2].ClientRequests("tools/list"), 0, 5);
            Assert.True(replicas[0].ClientRequests("tools/list") > 30 && replicas[1].ClientRequests("tools/list") > 30);
        }
        finally
        {
            foreach (var r in replicas)
            {
                await r.Upstream.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ConsistentHash_ThroughTheEdge_SameToolSameReplica()
    {
        var replicas = new[] { await Replica.StartAsync("a"), await Replica.StartAsync("b"), await Replica.StartAsync("c") };
        try
        {
            var server = new
            {
                Upstreams = replicas.Select(r => r.Url).ToArray(),
                LoadBalancingPolicy = "ConsistentHash",
                LoadBalancing = new { HashKey = "mcp-name" },
                HealthCheck = new { Active = new { Enabled = false } },
            };
            await using var edge = await TestEdge.StartAsync(new { Servers = new { s = server } });
            var homes = new Dictionary<string, HashSet<string>>();
            foreach (var round in Enumerable.Range(0, 5))
            {
                foreach (var tool in Enumerable.Range(0, 12).Select(t => $"tool-{t}"))
                {
                    using var request = Mcp.Post("/mcp/s", $$$"""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"{{{tool}}}"}}""");
                    request.Headers.Add("Mcp-Method", "tools/call");
                    request.Headers.Add("Mcp-Name", tool);
                    using var response = await edge.Client.SendAsync(request);
                    var replica = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("result").GetProperty("replica").GetString()!;
                    (homes.TryGetValue(tool, out var set) ? set : homes[tool] = []).Add(replica);
                }
            }
            Assert.All(homes.Values, set => Assert.Single(set));
            Assert.True(homes.Values.Select(s => s.Single()).Distinct().Count() >= 2, "12 tools all hashed to one replica");
        }
        finally
        {
            foreach (var r in replicas)
            {
                await r.Upstream.DisposeAsync();
            }
        }
    }
}
