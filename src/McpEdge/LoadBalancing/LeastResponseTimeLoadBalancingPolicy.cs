using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace McpEdge.LoadBalancing;

/// <summary>
/// <c>LeastResponseTime</c>: a YARP <see cref="ILoadBalancingPolicy"/> that picks, out of two
/// distinct destinations drawn at random ("power of two random choices", Mitzenmacher 2001), the one
/// with the lower cost = peak-EWMA latency × (in-flight exchanges + 1) (<see cref="DestinationLoad"/>).
/// </summary>
/// <remarks>
/// Latency samples are the upstream's time to response headers, recorded by
/// <see cref="LoadTrackingMiddleware"/>; in-flight counts only request/response exchanges, not open
/// SSE streams (YARP's own <c>ConcurrentRequestCount</c> counts those for their whole life). A
/// destination that has never been measured starts at the cluster's median. An estimate of zero
/// (nothing measured yet) counts as 1 µs so that in-flight still separates destinations.
/// A pick allocates nothing.
/// </remarks>
internal sealed class LeastResponseTimeLoadBalancingPolicy(DestinationLoadTracker tracker, Random? random = null) : ILoadBalancingPolicy
{
    private const double MinimumLatencyMs = 0.001;
    private readonly Random _random = random ?? Random.Shared;

    /// <inheritdoc />
    public string Name => McpLoadBalancingPolicies.LeastResponseTime;

    /// <inheritdoc />
    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        var count = availableDestinations.Count;
        if (count == 0)
        {
            return null;
        }
        if (count == 1)
        {
            return availableDestinations[0];
        }

        var settings = ClusterBalancingSettings.For(cluster);
        var halfLife = tracker.Ticks(settings.LatencyHalfLife);
        var now = tracker.Now;
        var first = _random.Next(count);
        var second = _random.Next(count - 1);
        if (second >= first)
        {
            second++;
        }
        var a = availableDestinations[first];
        var b = availableDestinations[second];
        var loadA = tracker.Get(a);
        var loadB = tracker.Get(b);
        if (!loadA.HasEstimate || !loadB.HasEstimate)
        {
            tracker.SeedNewcomers(availableDestinations, now, halfLife);
        }
        return Cost(loadA, now, halfLife) <= Cost(loadB, now, halfLife) ? a : b;
    }

    /// <summary>The cost of a destination at <paramref name="now"/>.</summary>
    internal static double Cost(DestinationLoad load, long now, double halfLifeTicks) =>
        Math.Max(load.LatencyMs(now, halfLifeTicks), MinimumLatencyMs) * (load.InFlight + 1);
}
