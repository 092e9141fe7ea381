namespace McpEdge.LoadBalancing;

/// <summary>Names of the load-balancing policies McpEdge adds to YARP's (<c>McpEdge:Servers:{name}:LoadBalancingPolicy</c>).</summary>
public static class McpLoadBalancingPolicies
{
    /// <summary>Peak-EWMA latency × (in-flight + 1), power of two random choices. See <see cref="LeastResponseTimeLoadBalancingPolicy"/>.</summary>
    public const string LeastResponseTime = "LeastResponseTime";

    /// <summary>Consistent hashing with bounded loads on a configured key. See <see cref="ConsistentHashLoadBalancingPolicy"/>.</summary>
    public const string ConsistentHash = "ConsistentHash";
}
