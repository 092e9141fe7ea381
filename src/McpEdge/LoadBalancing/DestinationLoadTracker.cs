using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Model;

namespace McpEdge.LoadBalancing;

/// <summary>
/// Holds a <see cref="DestinationLoad"/> per YARP <see cref="DestinationState"/> (in a
/// <see cref="ConditionalWeakTable{TKey,TValue}"/>, so state goes away with the destination) and the
/// clock the policies and the load-tracking step share.
/// </summary>
internal sealed class DestinationLoadTracker(TimeProvider time)
{
    private readonly ConditionalWeakTable<DestinationState, DestinationLoad> _loads = new();

    /// <summary>The clock (a fake one in tests).</summary>
    public TimeProvider Time { get; } = time;

    /// <summary>The current timestamp of <see cref="Time"/>.</summary>
    public long Now => Time.GetTimestamp();

    /// <summary>Converts a time span to timestamp ticks of <see cref="Time"/>.</summary>
    public double Ticks(TimeSpan span) => span.TotalSeconds * Time.TimestampFrequency;

    /// <summary>Converts a timestamp difference to milliseconds.</summary>
    public double Milliseconds(long start, long end) => (end - start) * 1000.0 / Time.TimestampFrequency;

    /// <summary>The load of <paramref name="destination"/>, created on first use.</summary>
    public DestinationLoad Get(DestinationState destination) => _loads.GetValue(destination, static _ => new DestinationLoad());

    /// <summary>
    /// Seeds every destination of <paramref name="destinations"/> that has no estimate with the
    /// median estimate of those that have one (nothing happens while none has). Allocation-free up
    /// to 128 destinations.
    /// </summary>
    public void SeedNewcomers(IReadOnlyList<DestinationState> destinations, long now, double halfLifeTicks)
    {
        var count = destinations.Count;
        Span<double> known = count <= 128 ? stackalloc double[count] : new double[count];
        var n = 0;
        for (var i = 0; i < count; i++)
        {
            var load = Get(destinations[i]);
            if (load.HasEstimate)
            {
                known[n++] = load.LatencyMs(now, halfLifeTicks);
            }
        }
        if (n == 0 || n == count)
        {
            return;
        }
        known = known[..n];
        known.Sort();
        var median = n % 2 == 1 ? known[n / 2] : (known[n / 2 - 1] + known[n / 2]) / 2;
        for (var i = 0; i < count; i++)
        {
            Get(destinations[i]).Seed(median, now);
        }
    }
}
