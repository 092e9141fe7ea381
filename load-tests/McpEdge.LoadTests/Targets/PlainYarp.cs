using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;

namespace McpEdge.LoadTests.Targets;

/// <summary>
/// The reference the edge is measured against: YARP 2.1.0 with none of McpEdge (no JSON-RPC parse,
/// no sessions, no policies beyond round robin, no metrics, no logs). Routes <c>/mcp/sample</c> to
/// every upstream and <c>/mcp/single</c> to the first, both rewritten to the upstream's <c>/mcp</c>.
/// Run as <c>McpEdge.LoadTests plain-yarp --urls URL --upstreams A,B,C</c> (a child process of
/// <c>compare</c>).
/// </summary>
public static class PlainYarp
{
    /// <summary>Builds the proxy.</summary>
    public static WebApplication Build(string url, string[] upstreams)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url);
        builder.Logging.ClearProviders();
        RouteConfig Route(string path, string cluster) => new()
        {
            RouteId = cluster,
            ClusterId = cluster,
            Match = new RouteMatch { Path = path },
            Transforms = [new Dictionary<string, string> { ["PathSet"] = "/mcp" }],
        };
        ClusterConfig Cluster(string id, IEnumerable<string> destinations) => new()
        {
            ClusterId = id,
            LoadBalancingPolicy = "RoundRobin",
            Destinations = destinations.Select((d, i) => (d, i)).ToDictionary(x => $"d{x.i}", x => new DestinationConfig { Address = x.d }),
        };
        builder.Services.AddReverseProxy().LoadFromMemory(
            [Route("/mcp/sample", "sample"), Route("/mcp/single", "single")],
            [Cluster("sample", upstreams), Cluster("single", upstreams.Take(1))]);
        var app = builder.Build();
        app.MapReverseProxy();
        return app;
    }
}
