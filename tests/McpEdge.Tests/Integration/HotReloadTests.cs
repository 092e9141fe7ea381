using System.Net;
using McpEdge.Configuration;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace McpEdge.Tests.Integration;

public class HotReloadTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AddAndRemoveReplica_WhileAStreamStaysOpen()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<string, Func<HttpContext, string, Task>> replica = name => async (context, body) =>
        {
            if (body.Contains("\"stream\""))
            {
                context.Response.ContentType = "text/event-stream";
                await context.Response.WriteAsync($"data: {name} open\n\n");
                await context.Response.Body.FlushAsync();
                await release.Task.WaitAsync(TimeSpan.FromSeconds(60));
                await context.Response.WriteAsync($"data: {name} done\n\n");
                return;
            }
            await context.Response.WriteAsJsonAsync(new { replica = name });
        };
        await using var a = await TestUpstream.StartAsync(replica("a"));
        await using var b = await TestUpstream.StartAsync(replica("b"));
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server("RoundRobin", upstreams: a.Url + "/mcp") } });

        using var stream = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "stream")), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new SseReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal("a open", await reader.NextDataAsync(Patience));

        // Add b: new requests reach both replicas.
        await edge.ReloadAsync(new { Servers = new { s = Mcp.Server("RoundRobin", upstreams: [a.Url + "/mcp", b.Url + "/mcp"]) } });
        for (var i = 0; i < 4; i++)
        {
            using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "ping")));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(2, b.Requests.Count);

        // Remove a: new requests reach only b; the stream on a is still open and completes.
        await edge.ReloadAsync(new { Servers = new { s = Mcp.Server("RoundRobin", upstreams: b.Url + "/mcp") } });
        var aBefore = a.Requests.Count;
        for (var i = 0; i < 3; i++)
        {
            using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(3, "ping")));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(aBefore, a.Requests.Count);
        Assert.Equal(5, b.Requests.Count);

        release.TrySetResult();
        Assert.Equal("a done", await reader.NextDataAsync(Patience));
        Assert.Null(await reader.NextAsync(Patience));
    }

    [Fact]
    public async Task InvalidChange_KeepsLastGoodConfiguration()
    {
        await using var a = await TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new { replica = "a" }));
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: a.Url + "/mcp") } });
        var rejected = NextRejection(edge);

        await edge.WriteConfigAsync(new { Servers = new { s = Mcp.Server(upstreams: "ftp://nowhere/mcp") } });
        var errors = await rejected.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.StartsWith("McpEdge:Servers:s:Upstreams:0:", Assert.Single(errors));
        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "ping")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(a.Requests);
    }

    /// <summary>
    /// A half-saved file (not JSON) is a rejected change with the reader's reason, and the file's
    /// settings stay for every reader of the configuration (.NET's own provider empties them and
    /// logs nothing); the next valid save applies.
    /// </summary>
    [Fact]
    public async Task FileThatDoesNotParse_Rejected_SettingsStay_NextValidSaveApplies()
    {
        await using var a = await TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new { replica = "a" }));
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: a.Url + "/mcp") } });
        var rejected = NextRejection(edge);

        await edge.WriteConfigTextAsync("""{"McpEdge": {"Servers": {"s": {"Upstr""");
        var errors = await rejected.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Contains("does not parse, so its previous contents stay", Assert.Single(errors));
        Assert.Equal(a.Url + "/mcp", edge.Services.GetRequiredService<IConfiguration>()["McpEdge:Servers:s:Upstreams:0"]);
        using (var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(1, "ping"))))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await edge.ReloadAsync(new { Servers = new { t = Mcp.Server(upstreams: a.Url + "/mcp") } });

        using var moved = await edge.Client.SendAsync(Mcp.Post("/mcp/t", Mcp.Call(2, "ping")));
        using var gone = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(3, "ping")));
        Assert.Equal(HttpStatusCode.OK, moved.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    /// <summary>Completes with the reasons of the next configuration change the edge rejects.</summary>
    private static Task<IReadOnlyList<string>> NextRejection(TestEdge edge)
    {
        var rejected = new TaskCompletionSource<IReadOnlyList<string>>(TaskCreationOptions.RunContinuationsAsynchronously);
        edge.Services.GetRequiredService<McpEdgeConfigState>().Rejected += errors => rejected.TrySetResult(errors);
        return rejected.Task;
    }
}
