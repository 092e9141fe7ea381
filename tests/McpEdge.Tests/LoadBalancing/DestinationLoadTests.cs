using McpEdge.LoadBalancing;
using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.LoadBalancing;

public class DestinationLoadTests
{
    private static readonly double HalfLife = TimeSpan.FromSeconds(10).Ticks;
    private static readonly long T0 = TimeSpan.FromDays(1).Ticks;
    private static long At(double seconds) => T0 + TimeSpan.FromSeconds(seconds).Ticks;

    [Fact]
    public void Observe_FirstSample_BecomesTheEstimate()
    {
        var load = new DestinationLoad();
        Assert.False(load.HasEstimate);
        load.Observe(12, T0, HalfLife);
        Assert.True(load.HasEstimate);
        Assert.Equal(12, load.LatencyMs(T0, HalfLife), 6);
    }

    [Fact]
    public void Observe_SampleAboveEstimate_ReplacesIt()
    {
        var load = new DestinationLoad();
        load.Observe(10, T0, HalfLife);
        load.Observe(50, At(0.001), HalfLife);
        Assert.Equal(50, load.LatencyMs(At(0.001), HalfLife), 6);
    }

    [Fact]
    public void LatencyMs_DecaysOnRead_HalvingEveryHalfLife_WithoutWriting()
    {
        var load = new DestinationLoad();
        load.Observe(40, T0, HalfLife);
        Assert.Equal(20, load.LatencyMs(At(10), HalfLife), 6);
        Assert.Equal(10, load.LatencyMs(At(20), HalfLife), 6);
        Assert.Equal(40, load.LatencyMs(T0, HalfLife), 6); // reading did not change the state
    }

    [Fact]
    public void Observe_LowerSample_PullsTowardsItWithTimeWeight()
    {
        var load = new DestinationLoad();
        load.Observe(50, T0, HalfLife);
        // One half-life later: decayed estimate 25, weight 1/2 → 10 + (25 − 10) / 2.
        load.Observe(10, At(10), HalfLife);
        Assert.Equal(17.5, load.LatencyMs(At(10), HalfLife), 6);
    }

    [Fact]
    public void Observe_LowerSample_RightAfter_BarelyMovesTheEstimate()
    {
        var load = new DestinationLoad();
        load.Observe(50, T0, HalfLife);
        load.Observe(1, At(0.001), HalfLife);
        Assert.InRange(load.LatencyMs(At(0.001), HalfLife), 49.9, 50);
    }

    [Fact]
    public void Seed_OnlyWhenNothingKnown()
    {
        var load = new DestinationLoad();
        load.Seed(7, T0);
        load.Seed(99, T0);
        Assert.Equal(7, load.LatencyMs(T0, HalfLife), 6);
    }

    [Fact]
    public void SeedNewcomers_GivesTheClusterMedian_ToUnmeasuredDestinations()
    {
        var time = new TestTimeProvider();
        var tracker = new DestinationLoadTracker(time);
        var destinations = PolicyFixtures.Destinations(4);
        var now = tracker.Now;
        tracker.Get(destinations[0]).Observe(1, now, HalfLife);
        tracker.Get(destinations[1]).Observe(3, now, HalfLife);
        tracker.Get(destinations[2]).Observe(100, now, HalfLife);

        tracker.SeedNewcomers(destinations, now, HalfLife);

        Assert.Equal(3, tracker.Get(destinations[3]).LatencyMs(now, HalfLife), 6);
        Assert.Equal(100, tracker.Get(destinations[2]).LatencyMs(now, HalfLife), 6);
    }

    [Fact]
    public void InFlight_CountsStartsAndEnds()
    {
        var load = new DestinationLoad();
        load.Start();
        load.Start();
        load.End();
        Assert.Equal(1, load.InFlight);
    }
}
