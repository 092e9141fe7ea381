using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.EndToEnd;

/// <summary>
/// Three replicas of <c>server-everything</c> (Streamable HTTP) behind the edge at
/// <c>/mcp/everything</c>, and one in <c>sse</c> mode at <c>/mcp/everything-sse</c>.
/// </summary>
public sealed class EverythingFixture : IAsyncLifetime
{
    public List<PeerProcess> Replicas { get; } = [];
    public PeerProcess SseReplica { get; private set; } = null!;
    public TestEdge Edge { get; private set; } = null!;

    public Uri EverythingUrl => new(Edge.BaseAddress, "mcp/everything");
    public Uri EverythingSseUrl => new(Edge.BaseAddress, "mcp/everything-sse");

    public async Task InitializeAsync()
    {
        var started = await Task.WhenAll(
            PeerProcess.StartEverythingAsync("streamableHttp"),
            PeerProcess.StartEverythingAsync("streamableHttp"),
            PeerProcess.StartEverythingAsync("streamableHttp"),
            PeerProcess.StartEverythingAsync("sse"));
        Replicas.AddRange(started[..3]);
        SseReplica = started[3];
        Edge = await TestEdge.StartAsync(new
        {
            Servers = new Dictionary<string, object>
            {
                ["everything"] = Mcp.Server("RoundRobin", upstreams: Replicas.Select(r => $"http://127.0.0.1:{r.Port}/mcp").ToArray()),
                ["everything-sse"] = Mcp.Server("RoundRobin", "sse", upstreams: $"http://127.0.0.1:{SseReplica.Port}/sse"),
            },
        });
    }

    public async Task DisposeAsync()
    {
        if (Edge is not null)
        {
            await Edge.DisposeAsync();
        }
        foreach (var peer in Replicas.Append(SseReplica).Where(p => p is not null))
        {
            await peer.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class EverythingCollection : ICollectionFixture<EverythingFixture>
{
    public const string Name = "server-everything behind the edge";
}
