using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using McpEdge.Sessions;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace McpEdge.Tests.Integration;

public class SessionRoutingTests
{
    /// <summary>A replica that creates session <c>{name}-session</c> on initialize and echoes its name and the session header otherwise.</summary>
    private static Task<TestUpstream> ReplicaAsync(string name) => TestUpstream.StartAsync(async (context, body) =>
    {
        if (body.Contains("\"initialize\""))
        {
            context.Response.Headers["Mcp-Session-Id"] = $"{name}-session";
        }
        await context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { replica = name, session = context.Request.Headers["Mcp-Session-Id"].ToString() } });
    });

    private static async Task<string> InitializeAsync(TestEdge edge, string path = "/mcp/s")
    {
        using var response = await edge.Client.SendAsync(Mcp.Post(path, Mcp.Initialize));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.Headers.GetValues("Mcp-Session-Id").Single();
    }

    private static async Task AssertSessionNotFoundAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("2.0", json.RootElement.GetProperty("jsonrpc").GetString());
        Assert.Equal(-32001, json.RootElement.GetProperty("error").GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task Session_EveryLaterRequest_ReachesItsReplicaWithUpstreamId()
    {
        await using var a = await ReplicaAsync("a");
        await using var b = await ReplicaAsync("b");
        await using var c = await ReplicaAsync("c");
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server("RoundRobin", upstreams: [a.Url + "/mcp", b.Url + "/mcp", c.Url + "/mcp"]) } });
        var replicas = new[] { a, b, c };

        var token = await InitializeAsync(edge);
        var ownerIndex = Array.FindIndex(replicas, r => r.Requests.Count == 1);
        var owner = replicas[ownerIndex];
        var upstreamId = $"{"abc"[ownerIndex]}-session";
        Assert.DoesNotContain("-session", token); // the client never sees the upstream's id

        foreach (var method in new[] { "POST", "GET", "DELETE", "POST", "POST", "POST" })
        {
            var request = method == "POST" ? Mcp.Post("/mcp/s", Mcp.Call(2, "ping"), token) : new HttpRequestMessage(new HttpMethod(method), "/mcp/s");
            if (method != "POST")
            {
                request.Headers.Add("Mcp-Session-Id", token);
                request.Headers.Add("Last-Event-ID", "e-1");
            }
            using var response = await edge.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            // An upstream that echoes no session header: the response carries none either.
            Assert.False(response.Headers.Contains("Mcp-Session-Id"));
        }

        Assert.Equal(7, owner.Requests.Count);
        Assert.All(replicas.Where(r => r != owner), r => Assert.Empty(r.Requests));
        Assert.All(owner.Requests.Skip(1), r => Assert.Equal(upstreamId, r.Headers["Mcp-Session-Id"]));
    }

    [Fact]
    public async Task UpstreamEchoingSessionId_ClientGetsItsOwnTokenBack()
    {
        await using var upstream = await TestUpstream.StartAsync((context, _) =>
        {
            context.Response.Headers["Mcp-Session-Id"] = "fixed-upstream-id";
            return context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } });
        });
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });
        var token = await InitializeAsync(edge);

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "ping"), token));

        Assert.Equal(token, response.Headers.GetValues("Mcp-Session-Id").Single());
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("")]
    [InlineData("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w")]
    public async Task MalformedOrForgedToken_404_NeverReachesUpstream(string token)
    {
        await using var upstream = await ReplicaAsync("a");
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "ping"), token));

        await AssertSessionNotFoundAsync(response);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task TamperedToken_404_NeverReachesUpstream()
    {
        await using var upstream = await ReplicaAsync("a");
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });
        var token = await InitializeAsync(edge);
        var tampered = token[..^3] + (token[^3] == 'A' ? 'B' : 'A') + token[^2..];

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "ping"), tampered));

        await AssertSessionNotFoundAsync(response);
        Assert.Single(upstream.Requests); // the initialize only
    }

    [Fact]
    public async Task TokenOfAnotherServer_404()
    {
        await using var a = await ReplicaAsync("a");
        await using var b = await ReplicaAsync("b");
        await using var edge = await TestEdge.StartAsync(new { Servers = new { one = Mcp.Server(upstreams: a.Url + "/mcp"), two = Mcp.Server(upstreams: b.Url + "/mcp") } });
        var token = await InitializeAsync(edge, "/mcp/one");

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/two", Mcp.Call(2, "ping"), token));

        await AssertSessionNotFoundAsync(response);
        Assert.Empty(b.Requests);
    }

    [Fact]
    public async Task TokenOfAnEdgeWithAnotherKey_404()
    {
        await using var upstream = await ReplicaAsync("a");
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });
        using var foreign = new SessionTokenSealer(SessionKeyRing.FromOptions(new McpEdge.Configuration.McpSessionOptions()));
        var destination = McpEdge.Configuration.McpProxyConfigBuilder.DestinationId(new Uri(upstream.Url + "/mcp"));

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "ping"),
            foreign.Seal(SessionTokenKind.StreamableHttp, "s", destination, "a-session")));

        await AssertSessionNotFoundAsync(response);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task EdgesSharingAKey_RouteEachOthersSessions()
    {
        await using var a = await ReplicaAsync("a");
        await using var b = await ReplicaAsync("b");
        var section = new
        {
            Servers = new { s = Mcp.Server(upstreams: [a.Url + "/mcp", b.Url + "/mcp"]) },
            Sessions = new { Keys = new[] { "a shared secret of at least 32 characters" } },
        };
        await using var edge1 = await TestEdge.StartAsync(section);
        await using var edge2 = await TestEdge.StartAsync(section);
        var token = await InitializeAsync(edge1);
        var owner = a.Requests.IsEmpty ? b : a;

        for (var i = 0; i < 4; i++)
        {
            using var response = await edge2.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "ping"), token));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(5, owner.Requests.Count);
    }

    [Fact]
    public async Task ReplicaRemovedFromConfiguration_404_OtherReplicaUntouched()
    {
        await using var a = await ReplicaAsync("a");
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: a.Url + "/mcp") } });
        var token = await InitializeAsync(edge);
        await using var b = await ReplicaAsync("b");
        await edge.ReloadAsync(new { Servers = new { s = Mcp.Server(upstreams: b.Url + "/mcp") } });

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "ping"), token));

        await AssertSessionNotFoundAsync(response);
        Assert.Single(a.Requests);
        Assert.Empty(b.Requests);
    }

    [Fact]
    public async Task ReplicaRefusesConnections_404_SoClientStartsOver()
    {
        await using var a = await ReplicaAsync("a");
        var deadPort = McpEdge.Tests.EndToEnd.PeerProcess.FreePort();
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server("FirstAlphabetical", upstreams: [$"http://127.0.0.1:{deadPort}/mcp", a.Url + "/mcp"]) } });
        var sealer = edge.Services.GetRequiredService<SessionTokenSealer>();
        var token = sealer.Seal(SessionTokenKind.StreamableHttp, "s", $"127.0.0.1:{deadPort}/mcp", "lost-session");

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "ping"), token));

        await AssertSessionNotFoundAsync(response);
        Assert.Empty(a.Requests);
    }

    [Fact]
    public async Task ReplicaConnectTimesOut_404()
    {
        // A listener whose accept queue is full: the kernel drops further SYNs, so connecting hangs
        // until the edge's connect timeout (1 s here). Loopback only.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                try
                {
                    await filler.ConnectAsync(IPAddress.Loopback, port, cts.Token);
                }
                catch (OperationCanceledException)
                {
                    break; // the queue is full
                }
            }
            var timeouts = new { Connect = "00:00:01", Response = "00:00:30" };
            await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(timeouts: timeouts, upstreams: $"http://127.0.0.1:{port}/mcp") } });
            var token = edge.Services.GetRequiredService<SessionTokenSealer>().Seal(SessionTokenKind.StreamableHttp, "s", $"127.0.0.1:{port}/mcp", "x");

            using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "ping"), token));

            await AssertSessionNotFoundAsync(response);
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public async Task NoSession_UnreachableReplica_502NotA404()
    {
        var deadPort = McpEdge.Tests.EndToEnd.PeerProcess.FreePort();
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: $"http://127.0.0.1:{deadPort}/mcp") } });

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    [Fact]
    public async Task TwoSessionHeaderLines_400_NeverReachesUpstream()
    {
        await using var upstream = await ReplicaAsync("a");
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });
        var token = await InitializeAsync(edge);
        var body = Mcp.Call(2, "ping");

        // HttpClient folds repeated values into one line, so write the request by hand.
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, edge.BaseAddress.Port);
        var stream = client.GetStream();
        var raw = $"POST /mcp/s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nMcp-Session-Id: {token}\r\nMcp-Session-Id: {token}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(raw));
        var answer = await new StreamReader(stream).ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.StartsWith("HTTP/1.1 400", answer);
        Assert.Contains("-32600", answer);
        Assert.Single(upstream.Requests);
    }
}
