using McpEdge.Configuration;

namespace McpEdge.Tests.Configuration;

public class McpProxyConfigBuilderTests
{
    private static McpEdgeOptions Options(params (string Name, McpServerOptions Server)[] servers)
    {
        var options = new McpEdgeOptions();
        foreach (var (name, server) in servers)
        {
            options.Servers[name] = server;
        }
        return options;
    }

    [Fact]
    public void Build_StreamableServer_OneRouteAndClusterWithDefaultPath()
    {
        var (routes, clusters) = McpProxyConfigBuilder.Build(Options(("github", new McpServerOptions
        {
            Upstreams = ["http://10.0.0.5:3001/mcp", "http://10.0.0.6:3001/mcp/"],
            LoadBalancingPolicy = "RoundRobin",
            Timeouts = new TimeoutOptions { Connect = TimeSpan.FromSeconds(3), Response = TimeSpan.FromSeconds(42) },
        })));

        var route = Assert.Single(routes);
        Assert.Equal("github", route.RouteId);
        Assert.Equal("github", route.ClusterId);
        Assert.Equal("/mcp/github", route.Match.Path);
        Assert.Null(route.Match.Methods);
        Assert.Equal("github", route.Metadata![McpProxyConfigBuilder.MetadataKeys.Server]);
        Assert.Equal(McpProxyConfigBuilder.RouteKinds.Endpoint, route.Metadata[McpProxyConfigBuilder.MetadataKeys.RouteKind]);

        var cluster = Assert.Single(clusters);
        Assert.Equal("RoundRobin", cluster.LoadBalancingPolicy);
        Assert.Equal(TimeSpan.FromSeconds(42), cluster.HttpRequest!.ActivityTimeout);
        Assert.Equal("3000", cluster.Metadata![McpProxyConfigBuilder.MetadataKeys.ConnectTimeoutMs]);
        Assert.Equal(["10.0.0.5:3001/mcp", "10.0.0.6:3001/mcp"], cluster.Destinations!.Keys.Order());
        Assert.Equal("http://10.0.0.6:3001/mcp/", cluster.Destinations["10.0.0.6:3001/mcp"].Address);
    }

    [Fact]
    public void Build_SseServer_AddsLegacyMessageRoute()
    {
        var (routes, _) = McpProxyConfigBuilder.Build(Options(("legacy", new McpServerOptions
        {
            Path = "/tools/legacy",
            Transport = McpTransports.Sse,
            Upstreams = ["http://127.0.0.1:3001/sse"],
        })));

        Assert.Equal(2, routes.Count);
        var message = Assert.Single(routes, r => r.RouteId == "legacy/message");
        Assert.Equal("/tools/legacy/message", message.Match.Path);
        Assert.Equal(["POST"], message.Match.Methods!);
        Assert.Equal(McpProxyConfigBuilder.RouteKinds.LegacyMessage, message.Metadata![McpProxyConfigBuilder.MetadataKeys.RouteKind]);
        Assert.Equal("/tools/legacy", Assert.Single(routes, r => r.RouteId == "legacy").Match.Path);
    }

    [Fact]
    public void Build_UpstreamHeaders_BecomeSetOrRemoveTransformsOnEveryRouteOfTheServer_AndAChangeMakesANewRoute()
    {
        McpServerOptions Legacy(string key) => new()
        {
            Transport = McpTransports.Sse,
            Upstreams = ["http://127.0.0.1:3001/sse"],
            UpstreamHeaders = new(StringComparer.OrdinalIgnoreCase) { ["X-Api-Key"] = key, ["Cookie"] = "" },
        };
        var (routes, _) = McpProxyConfigBuilder.Build(Options(("legacy", Legacy("k1"))));

        Assert.Equal(2, routes.Count);
        Assert.All(routes, route => Assert.Equal(
            [
                new Dictionary<string, string> { ["RequestHeaderRemove"] = "Cookie" },
                new Dictionary<string, string> { ["RequestHeader"] = "X-Api-Key", ["Set"] = "k1" },
            ],
            route.Transforms!.Select(t => t.ToDictionary())));
        // YARP applies a route again only when it differs: a new credential must make it differ.
        var (changed, _) = McpProxyConfigBuilder.Build(Options(("legacy", Legacy("k2"))));
        Assert.NotEqual(routes[0], changed[0]);
        Assert.Equal(routes[0], McpProxyConfigBuilder.Build(Options(("legacy", Legacy("k1")))).Routes[0]);
        Assert.Null(McpProxyConfigBuilder.Build(Options(("plain", new McpServerOptions { Upstreams = ["http://127.0.0.1:3001/mcp"] }))).Routes[0].Transforms);
    }

    [Theory]
    [InlineData("auto", null, null)]
    [InlineData("1.1", "1.1", System.Net.Http.HttpVersionPolicy.RequestVersionExact)]
    [InlineData("2", "2.0", System.Net.Http.HttpVersionPolicy.RequestVersionExact)]
    public void Build_UpstreamHttpVersion_SetsTheClusterRequestVersionAndPolicy(string setting, string? version, System.Net.Http.HttpVersionPolicy? policy)
    {
        var (_, clusters) = McpProxyConfigBuilder.Build(Options(("s", new McpServerOptions
        {
            Upstreams = ["http://127.0.0.1:3001/mcp"],
            UpstreamHttpVersion = setting,
        })));

        var request = Assert.Single(clusters).HttpRequest!;
        Assert.Equal(version, request.Version?.ToString());
        Assert.Equal(policy, request.VersionPolicy);
    }

    [Fact]
    public void DestinationId_IgnoresSchemeCaseAndTrailingSlash()
    {
        Assert.Equal(McpProxyConfigBuilder.DestinationId(new Uri("http://Replica-1:80/MCP/")), McpProxyConfigBuilder.DestinationId(new Uri("http://replica-1/mcp")));
        Assert.NotEqual(McpProxyConfigBuilder.DestinationId(new Uri("http://replica-1/a")), McpProxyConfigBuilder.DestinationId(new Uri("http://replica-1/b")));
    }
}
