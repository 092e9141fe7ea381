using McpEdge.Configuration;
using McpEdge.LoadBalancing;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Tests.LoadBalancing;

public class ConsistentHashLoadBalancingPolicyTests
{
    private static readonly string[] Keys = Enumerable.Range(0, 5000).Select(i => $"tool-{i}").ToArray();

    private static ConsistentHashLoadBalancingPolicy NewPolicy(out DestinationLoadTracker tracker)
    {
        tracker = new DestinationLoadTracker(new TestTimeProvider());
        return new ConsistentHashLoadBalancingPolicy(tracker, new LeastResponseTimeLoadBalancingPolicy(tracker, new Random(7)));
    }

    private static ClusterState Cluster(double loadFactor = 1.25) => PolicyFixtures.Cluster(m =>
    {
        m[McpProxyConfigBuilder.MetadataKeys.HashKey] = "header:X-Key";
        m[McpProxyConfigBuilder.MetadataKeys.LoadFactor] = loadFactor.ToString(System.Globalization.CultureInfo.InvariantCulture);
    });

    private static HttpContext Request(string? key)
    {
        var context = new DefaultHttpContext();
        if (key is not null)
        {
            context.Request.Headers["X-Key"] = key;
        }
        return context;
    }

    private static Dictionary<string, string> Assign(IReadOnlyList<DestinationState> destinations)
    {
        var policy = NewPolicy(out _);
        var cluster = Cluster();
        return Keys.ToDictionary(k => k, k => policy.PickDestination(Request(k), cluster, destinations)!.DestinationId);
    }

    [Fact]
    public void PickDestination_SameKey_SameReplica_AcrossRebuildsAndInstances()
    {
        // Two independent policies and destination objects, as two edge replicas (or a reload) would have.
        var first = Assign(PolicyFixtures.Destinations(5));
        var second = Assign(PolicyFixtures.Destinations(5));
        Assert.Equal(first, second);
    }

    [Fact]
    public void PickDestination_SpreadsKeysOverReplicas()
    {
        var counts = Assign(PolicyFixtures.Destinations(5)).Values.GroupBy(v => v).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(5, counts.Count);
        Assert.All(counts.Values, c => Assert.InRange(c, Keys.Length * 0.12, Keys.Length * 0.28));
    }

    [Fact]
    public void PickDestination_OneOfNLeaves_OnlyItsKeysMove()
    {
        var all = PolicyFixtures.Destinations(5);
        var before = Assign(all);
        var removed = all[2].DestinationId;
        var after = Assign(all.Where(d => d.DestinationId != removed).ToArray());

        var moved = Keys.Where(k => before[k] != after[k]).ToArray();
        Assert.All(moved, k => Assert.Equal(removed, before[k]));
        Assert.InRange(moved.Length, Keys.Length * 0.10, Keys.Length * 0.30); // about 1/5
    }

    [Fact]
    public void PickDestination_HotKey_NeverLoadsAReplicaAboveTheBound()
    {
        var policy = NewPolicy(out var tracker);
        var cluster = Cluster(loadFactor: 1.25);
        var destinations = PolicyFixtures.Destinations(4);
        var context = Request("the-one-hot-tool");
        for (var i = 0; i < 400; i++)
        {
            var total = destinations.Sum(d => tracker.Get(d).InFlight);
            var bound = ConsistentHashLoadBalancingPolicy.Capacity(total, destinations.Length, 1.25);
            var picked = policy.PickDestination(context, cluster, destinations)!;
            tracker.Get(picked).Start(); // held in flight: the load only grows
            Assert.All(destinations, d => Assert.True(tracker.Get(d).InFlight <= bound, $"{d.DestinationId}: {tracker.Get(d).InFlight} > {bound}"));
        }
        // 400 held exchanges over 4 replicas with factor 1.25: none above 125.
        Assert.All(destinations, d => Assert.InRange(tracker.Get(d).InFlight, 1, 125));
    }

    [Fact]
    public void PickDestination_HotKey_StaysOnItsReplica_WhileUnderTheBound()
    {
        var policy = NewPolicy(out var tracker);
        var cluster = Cluster();
        var destinations = PolicyFixtures.Destinations(4);
        var context = Request("calm-tool");
        var home = policy.PickDestination(context, cluster, destinations)!;
        for (var i = 0; i < 50; i++)
        {
            var picked = policy.PickDestination(context, cluster, destinations)!;
            Assert.Same(home, picked);
            tracker.Get(picked).Start();
            tracker.Get(picked).End();
        }
    }

    [Fact]
    public void PickDestination_WithoutKey_FallsBackToLeastResponseTime()
    {
        var policy = NewPolicy(out var tracker);
        var cluster = Cluster();
        var destinations = PolicyFixtures.Destinations(3);
        var halfLife = tracker.Ticks(TimeSpan.FromSeconds(10));
        tracker.Get(destinations[0]).Observe(500, tracker.Now, halfLife);
        tracker.Get(destinations[1]).Observe(1, tracker.Now, halfLife);
        tracker.Get(destinations[2]).Observe(1, tracker.Now, halfLife);
        for (var i = 0; i < 100; i++)
        {
            Assert.NotSame(destinations[0], policy.PickDestination(Request(null), cluster, destinations));
        }
    }

    [Theory]
    [InlineData("mcp-name", "McpName", "Mcp-Name")]
    [InlineData("header:X-Client-Id", "Header", "X-Client-Id")]
    [InlineData("query: tenant", "Query", "tenant")]
    [InlineData("Principal", "Principal", "")]
    public void HashKeySource_Parses(string text, string kind, string name)
    {
        Assert.True(HashKeySource.TryParse(text, out var source));
        Assert.Equal(new HashKeySource(Enum.Parse<HashKeyKind>(kind), name), source);
    }

    [Theory]
    [InlineData("")]
    [InlineData("cookie:x")]
    [InlineData("header:")]
    [InlineData("header:bad name")]
    public void HashKeySource_RejectsOtherSpellings(string text) => Assert.False(HashKeySource.TryParse(text, out _));
}
