namespace McpEdge.LoadTests.Engine;

/// <summary>Exact percentiles of recorded samples by the nearest-rank method (no interpolation, no histogram buckets).</summary>
public static class Percentiles
{
    /// <summary>The percentiles every report shows.</summary>
    public static readonly double[] Reported = [50, 75, 95, 99, 99.9];

    /// <summary>
    /// The <paramref name="percentile"/>-th percentile (0–100) of <paramref name="sorted"/> (ascending):
    /// the smallest sample such that at least <paramref name="percentile"/> % of the samples are
    /// less than or equal to it, i.e. <c>sorted[ceil(p/100 · n) − 1]</c>; 0 → the minimum.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">No samples, or a percentile outside 0–100.</exception>
    public static long Of(ReadOnlySpan<long> sorted, double percentile)
    {
        ArgumentOutOfRangeException.ThrowIfZero(sorted.Length);
        ArgumentOutOfRangeException.ThrowIfNegative(percentile);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(percentile, 100);
        var rank = (int)Math.Ceiling(percentile / 100 * sorted.Length - 1e-9);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }
}
