using McpEdge.LoadBalancing;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Tests.LoadBalancing;

public class LeastResponseTimeLoadBalancingPolicyTests
{
    private readonly TestTimeProvider _time = new();
    private readonly DestinationLoadTracker _tracker;
    private readonly LeastResponseTimeLoadBalancingPolicy _policy;
    private readonly ClusterState _cluster = PolicyFixtures.Cluster();
    private readonly DestinationState[] _destinations = PolicyFixtures.Destinations(3);

    public LeastResponseTimeLoadBalancingPolicyTests()
    {
        _tracker = new DestinationLoadTracker(_time);
        _policy = new LeastResponseTimeLoadBalancingPolicy(_tracker, new Random(1234));
    }

    /// <summary>Sends <paramref name="count"/> requests one after another, 10 ms apart; returns how many each destination got.</summary>
    private int[] Run(int count, Func<int, double> latencyMsOf)
    {
        var hits = new int[_destinations.Length];
        var context = new DefaultHttpContext();
        var halfLife = _tracker.Ticks(TimeSpan.FromSeconds(10));
        for (var i = 0; i < count; i++)
        {
            var picked = _policy.PickDestination(context, _cluster, _destinations)!;
            var index = Array.IndexOf(_destinations, picked);
            hits[index]++;
            var load = _tracker.Get(picked);
            var latency = latencyMsOf(index);
            load.Start();
            _time.Advance(TimeSpan.FromMilliseconds(latency));
            load.End();
            load.Observe(latency, _tracker.Now, halfLife);
            _time.Advance(TimeSpan.FromMilliseconds(Math.Max(0, 10 - latency)));
        }
        return hits;
    }

    [Fact]
    public void PickDestination_MovesTrafficAwayFromASlowReplica_AndBackWhenItRecovers()
    {
        // Warm-up: three equal replicas share the traffic.
        var warm = Run(3000, _ => 1);
        Assert.All(warm, h => Assert.InRange(h, 600, 1400));

        // Replica 1 turns slow (+50 ms): after its first slow answers it gets (almost) nothing.
        Run(100, i => i == 1 ? 51 : 1);
        var slow = Run(3000, i => i == 1 ? 51 : 1);
        Assert.True(slow[1] <= 30, $"the slow replica still got {slow[1]} of 3000");

        // It recovers: once its estimate has decayed (a few half-lives) it is tried again, and shares.
        Run(9000, _ => 1);
        var recovered = Run(3000, _ => 1);
        Assert.True(recovered[1] >= 600, $"the recovered replica got only {recovered[1]} of 3000");
    }

    [Fact]
    public void PickDestination_EqualLatency_PrefersFewerInFlight()
    {
        var halfLife = _tracker.Ticks(TimeSpan.FromSeconds(10));
        foreach (var d in _destinations)
        {
            _tracker.Get(d).Observe(5, _tracker.Now, halfLife);
        }
        for (var i = 0; i < 4; i++)
        {
            _tracker.Get(_destinations[0]).Start();
        }
        var context = new DefaultHttpContext();
        for (var i = 0; i < 200; i++)
        {
            Assert.NotSame(_destinations[0], _policy.PickDestination(context, _cluster, _destinations));
        }
    }

    [Fact]
    public void PickDestination_NewReplica_StartsAtTheMedian_NotAtZero()
    {
        var halfLife = _tracker.Ticks(TimeSpan.FromSeconds(10));
        _tracker.Get(_destinations[0]).Observe(2, _tracker.Now, halfLife);
        _tracker.Get(_destinations[1]).Observe(4, _tracker.Now, halfLife);
        _tracker.Get(_destinations[2]).Observe(6, _tracker.Now, halfLife);
        var newcomer = new DestinationState("10.0.0.9:3001/mcp");
        var withNewcomer = _destinations.Append(newcomer).ToArray();

        _policy.PickDestination(new DefaultHttpContext(), _cluster, withNewcomer);

        Assert.Equal(4, _tracker.Get(newcomer).LatencyMs(_tracker.Now, halfLife), 6);
    }

    [Fact]
    public void PickDestination_OneOrNone()
    {
        var context = new DefaultHttpContext();
        Assert.Null(_policy.PickDestination(context, _cluster, []));
        Assert.Same(_destinations[2], _policy.PickDestination(context, _cluster, [_destinations[2]]));
    }
}
