using System.Net;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Tests.Integration;

/// <summary>
/// <c>Servers:{name}:UpstreamHeaders</c>: a service credential the replicas check is set on every
/// proxied request and every probe, replacing what the client sent; an empty value strips the
/// client's header; a reload changes it for the next request.
/// </summary>
public class UpstreamHeadersTests
{
    /// <summary>A replica that answers 401 unless the request carries <c>X-Api-Key: {key}</c> (the probe's path included).</summary>
    private static Task<TestUpstream> KeyCheckingReplicaAsync(Func<string> key) => TestUpstream.StartAsync(async (context, body) =>
    {
        if (context.Request.Headers["X-Api-Key"] != key())
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }
        if (body.Contains("\"initialize\""))
        {
            context.Response.Headers["Mcp-Session-Id"] = "upstream-session";
        }
        await context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } });
    });

    private static object Server(string upstream, string apiKey)
    {
        var server = (Dictionary<string, object>)Mcp.Server(upstreams: upstream,
            healthCheck: new { Active = new { Probe = "http", Path = "/healthz", Interval = "00:00:01", HealthyThreshold = 1 } });
        server["UpstreamHeaders"] = new Dictionary<string, string> { ["X-Api-Key"] = apiKey, ["Cookie"] = "" };
        return new { Servers = new { s = server } };
    }

    [Fact]
    public async Task EveryRequestAndProbe_CarriesTheCredential_NotTheClients_AndAReloadChangesIt()
    {
        var expected = "key-1";
        await using var upstream = await KeyCheckingReplicaAsync(() => Volatile.Read(ref expected));
        var mcp = upstream.Url + "/mcp";
        await using var edge = await TestEdge.StartAsync(Server(mcp, "key-1"));

        // The probes carry it too: without it the replica answers 401 and never becomes healthy.
        await edge.WaitForActiveHealthAsync("s", mcp, DestinationHealth.Healthy);

        var initialize = Mcp.Post("/mcp/s", Mcp.Initialize);
        initialize.Headers.Add("X-Api-Key", "the client's own guess");
        initialize.Headers.Add("Cookie", "tracking=1");
        using (var response = await edge.Client.SendAsync(initialize))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var session = response.Headers.GetValues("Mcp-Session-Id").Single();
            foreach (var method in new[] { HttpMethod.Post, HttpMethod.Get, HttpMethod.Delete })
            {
                using var request = method == HttpMethod.Post ? Mcp.Post("/mcp/s", Mcp.Call(2, "ping"), session) : new HttpRequestMessage(method, "/mcp/s");
                if (method != HttpMethod.Post)
                {
                    request.Headers.Add("Mcp-Session-Id", session);
                }
                request.Headers.Add("Cookie", "tracking=1");
                using var answer = await edge.Client.SendAsync(request);
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            }
        }
        var proxied = upstream.Requests.Where(r => r.PathAndQuery == "/mcp").ToList();
        Assert.Equal(4, proxied.Count);
        Assert.All(proxied, r => Assert.Equal("key-1", r.Headers["X-Api-Key"]));
        Assert.All(proxied, r => Assert.False(r.Headers.ContainsKey("Cookie")));

        // A reload changes the credential for the next request (the replica now wants the new one).
        Volatile.Write(ref expected, "key-2");
        await edge.ReloadAsync(Server(mcp, "key-2"));
        using var after = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal("key-2", upstream.Requests.Last(r => r.PathAndQuery == "/mcp").Headers["X-Api-Key"]);
    }
}
