using System.Net.Http;
using McpEdge.Configuration;
using McpEdge.LoadBalancing;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Tests.LoadBalancing;

/// <summary>YARP model objects for policy unit tests.</summary>
internal static class PolicyFixtures
{
    private static readonly HttpMessageInvoker NoClient = new(new SocketsHttpHandler());

    public static ClusterState Cluster(Action<Dictionary<string, string>>? metadata = null)
    {
        var values = new Dictionary<string, string> { [McpProxyConfigBuilder.MetadataKeys.LatencyHalfLifeMs] = "10000" };
        metadata?.Invoke(values);
        return new ClusterState("c", new ClusterModel(new ClusterConfig { ClusterId = "c", Metadata = values }, NoClient));
    }

    public static DestinationState[] Destinations(int count) =>
        Enumerable.Range(0, count).Select(i => new DestinationState($"10.0.0.{i + 1}:3001/mcp")).ToArray();

    public static double Ticks(TimeSpan span) => span.Ticks;
}
