namespace McpEdge.LoadBalancing;

/// <summary>
/// What the edge knows about one destination's load: a peak-sensitive EWMA of its latency and the
/// number of request/response exchanges in flight (open SSE streams are not counted). Thread-safe.
/// </summary>
/// <remarks>
/// The model is Finagle's / Linkerd's peak EWMA ("PeakEwma"), with time from an injected clock:
/// <list type="bullet">
/// <item>the estimate decays towards zero when read, halving every half-life, so a replica that was
/// slow is tried again once its estimate has come down (<see cref="LatencyMs"/> never writes);</item>
/// <item>a sample above the current (decayed) estimate replaces it (the "peak");</item>
/// <item>a lower sample pulls the estimate towards itself with weight 1 − 2^(−Δ/half-life), Δ being
/// the time since the previous sample, so a fast replica's estimate follows it within a few half-lives.</item>
/// </list>
/// The two fields are read without a lock: a torn read only skews one pick.
/// </remarks>
internal sealed class DestinationLoad
{
    private readonly Lock _lock = new();
    private double _estimateMs;
    private long _stamp;
    private int _inFlight;
    private int _state; // 0: nothing known yet, 1: seeded or sampled

    /// <summary>Request/response exchanges in flight to the destination.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>True once the destination has a latency sample or a seed.</summary>
    public bool HasEstimate => Volatile.Read(ref _state) != 0;

    /// <summary>Counts an exchange that starts.</summary>
    public void Start() => Interlocked.Increment(ref _inFlight);

    /// <summary>Counts an exchange that ended.</summary>
    public void End() => Interlocked.Decrement(ref _inFlight);

    /// <summary>The latency estimate in milliseconds at <paramref name="now"/>, decayed since the last sample.</summary>
    /// <param name="now">A timestamp of the tracker's <see cref="TimeProvider"/>.</param>
    /// <param name="halfLifeTicks">The half-life in timestamp ticks.</param>
    public double LatencyMs(long now, double halfLifeTicks)
    {
        var estimate = Volatile.Read(ref _estimateMs);
        var elapsed = now - Volatile.Read(ref _stamp);
        return elapsed <= 0 ? estimate : estimate * Math.Pow(2, -elapsed / halfLifeTicks);
    }

    /// <summary>Records a latency sample (or a failure's penalty) in milliseconds.</summary>
    public void Observe(double sampleMs, long now, double halfLifeTicks)
    {
        lock (_lock)
        {
            var elapsed = Math.Max(0, now - _stamp);
            var weight = Math.Pow(2, -elapsed / halfLifeTicks);
            var current = _state == 0 ? 0 : _estimateMs * weight;
            var next = sampleMs >= current || _state == 0 ? sampleMs : sampleMs + (current - sampleMs) * weight;
            Volatile.Write(ref _estimateMs, next);
            Volatile.Write(ref _stamp, now);
            Volatile.Write(ref _state, 1);
        }
    }

    /// <summary>Gives a destination that has no estimate yet a starting one (the cluster's median), so a new replica is neither flooded nor starved.</summary>
    public void Seed(double estimateMs, long now)
    {
        lock (_lock)
        {
            if (_state == 0)
            {
                Volatile.Write(ref _estimateMs, estimateMs);
                Volatile.Write(ref _stamp, now);
                Volatile.Write(ref _state, 1);
            }
        }
    }
}
