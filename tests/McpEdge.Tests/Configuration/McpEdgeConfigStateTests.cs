using McpEdge.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.LoadBalancing;

namespace McpEdge.Tests.Configuration;

public class McpEdgeConfigStateTests
{
    private sealed class Policy(string name) : ILoadBalancingPolicy
    {
        public string Name => name;
        public Yarp.ReverseProxy.Model.DestinationState? PickDestination(Microsoft.AspNetCore.Http.HttpContext context, Yarp.ReverseProxy.Model.ClusterState cluster, IReadOnlyList<Yarp.ReverseProxy.Model.DestinationState> availableDestinations) => null;
    }

    private static McpEdgeConfigState Create(Dictionary<string, string?> values) =>
        new(new ConfigurationBuilder().AddInMemoryCollection(values).Build(), [new Policy("RoundRobin")], NullLogger<McpEdgeConfigState>.Instance);

    [Fact]
    public void Constructor_ValidSection_BindsServers()
    {
        using var state = Create(new()
        {
            ["McpEdge:Servers:s:Upstreams:0"] = "http://127.0.0.1:1/mcp",
            ["McpEdge:Servers:s:LoadBalancingPolicy"] = "RoundRobin",
            ["McpEdge:Servers:s:Timeouts:Connect"] = "00:00:01",
        });
        Assert.Equal(TimeSpan.FromSeconds(1), state.Current.Servers["s"].Timeouts.Connect);
        Assert.Equal("http://127.0.0.1:1/mcp", Assert.Single(state.Current.Servers["s"].Upstreams));
    }

    [Fact]
    public void Constructor_UnknownKey_ThrowsNamingIt()
    {
        var ex = Assert.Throws<McpEdgeConfigurationException>(() => Create(new()
        {
            ["McpEdge:Servers:s:Upstream:0"] = "http://127.0.0.1:1/mcp",
        }));
        Assert.Contains("Upstream", ex.Message);
    }

    [Fact]
    public void Constructor_UnconvertibleValue_ThrowsNamingSetting()
    {
        var ex = Assert.Throws<McpEdgeConfigurationException>(() => Create(new()
        {
            ["McpEdge:Servers:s:Upstreams:0"] = "http://127.0.0.1:1/mcp",
            ["McpEdge:Servers:s:LoadBalancingPolicy"] = "RoundRobin",
            ["McpEdge:Servers:s:Timeouts:Connect"] = "soon",
        }));
        Assert.Contains("McpEdge:Servers:s:Timeouts:Connect", ex.Message);
    }

    [Fact]
    public void Constructor_UnknownPolicy_ListsRegisteredOnes()
    {
        var ex = Assert.Throws<McpEdgeConfigurationException>(() => Create(new()
        {
            ["McpEdge:Servers:s:Upstreams:0"] = "http://127.0.0.1:1/mcp",
            ["McpEdge:Servers:s:LoadBalancingPolicy"] = "Fastest",
        }));
        Assert.Contains("McpEdge:Servers:s:LoadBalancingPolicy: 'Fastest'", ex.Message);
        Assert.Contains("RoundRobin", ex.Message);
    }
}
