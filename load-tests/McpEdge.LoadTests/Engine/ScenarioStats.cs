namespace McpEdge.LoadTests.Engine;

/// <summary>
/// What one scenario run recorded: every request's latency (microseconds, from its scheduled start
/// for open models), its outcome, and one-second windows for the charts. Thread-safe.
/// </summary>
public sealed class ScenarioStats(string scenario, string target, LoadSimulation simulation)
{
    private readonly Lock _lock = new();
    private readonly List<long> _latencies = [];
    private readonly List<long> _lags = [];
    private readonly Dictionary<string, long> _failures = new(StringComparer.Ordinal);
    private readonly List<Window> _windows = [];
    private long _ok;

    /// <summary>One second of the run: requests that ended in it.</summary>
    public sealed class Window
    {
        internal List<long> Latencies { get; } = [];

        /// <summary>Successful requests.</summary>
        public long Ok { get; internal set; }

        /// <summary>Failed requests.</summary>
        public long Failed { get; internal set; }

        /// <summary>The window's p50, p99 and max latency in microseconds (0 when empty).</summary>
        public (long P50, long P99, long Max) Latency()
        {
            if (Latencies.Count == 0)
            {
                return default;
            }
            var sorted = Latencies.ToArray();
            Array.Sort(sorted);
            return (Percentiles.Of(sorted, 50), Percentiles.Of(sorted, 99), sorted[^1]);
        }
    }

    /// <summary>The scenario's name.</summary>
    public string Scenario { get; } = scenario;

    /// <summary>The URL the scenario ran against (or a label of it).</summary>
    public string Target { get; } = target;

    /// <summary>The load simulation.</summary>
    public LoadSimulation Simulation { get; } = simulation;

    /// <summary>How long the run took from the first scheduled start to the last request's end.</summary>
    public TimeSpan Elapsed { get; internal set; }

    /// <summary>
    /// Records one request ending <paramref name="endedAt"/> after the run's start,
    /// <paramref name="latencyMicroseconds"/> after its scheduled start, having started
    /// <paramref name="lagMicroseconds"/> after it (the load generator's own lateness, part of the latency).
    /// </summary>
    public void Record(TimeSpan endedAt, long latencyMicroseconds, StepResult result, long lagMicroseconds = 0)
    {
        var second = (int)Math.Max(0, endedAt.TotalSeconds);
        lock (_lock)
        {
            while (_windows.Count <= second)
            {
                _windows.Add(new Window());
            }
            var window = _windows[second];
            _lags.Add(lagMicroseconds);
            if (result.Ok)
            {
                _ok++;
                window.Ok++;
                _latencies.Add(latencyMicroseconds);
                window.Latencies.Add(latencyMicroseconds);
            }
            else
            {
                window.Failed++;
                var reason = result.Reason ?? "unknown";
                _failures[reason] = _failures.GetValueOrDefault(reason) + 1;
            }
        }
    }

    /// <summary>The summary: counts, failures by reason, throughput and latency percentiles of the successful requests.</summary>
    public Summary Summarize()
    {
        lock (_lock)
        {
            var sorted = _latencies.ToArray();
            Array.Sort(sorted);
            var failed = _failures.Values.Sum();
            var lags = _lags.ToArray();
            Array.Sort(lags);
            var seconds = Math.Max(Elapsed.TotalSeconds, 1e-9);
            return new Summary(Scenario, Target, Simulation.ToString(), _ok + failed, _ok, new SortedDictionary<string, long>(_failures, StringComparer.Ordinal),
                _ok / seconds, sorted.Length == 0 ? [] : Percentiles.Reported.Select(p => Percentiles.Of(sorted, p)).ToArray(),
                sorted.Length == 0 ? 0 : sorted[^1], sorted.Length == 0 ? 0 : sorted.Average(), Elapsed,
                lags.Length == 0 ? 0 : Percentiles.Of(lags, 50), lags.Length == 0 ? 0 : Percentiles.Of(lags, 99));
        }
    }

    /// <summary>A copy of the one-second windows.</summary>
    public IReadOnlyList<Window> Windows()
    {
        lock (_lock)
        {
            return [.. _windows];
        }
    }
}

/// <summary>
/// A scenario's figures. Latencies in microseconds; <see cref="Percentiles"/> in the order of
/// <see cref="Engine.Percentiles.Reported"/>. <see cref="StartLagP50"/>/<see cref="StartLagP99"/>: how
/// late requests started after their scheduled time (the generator's timer and CPU), included in the latencies.
/// </summary>
public sealed record Summary(string Scenario, string Target, string Simulation, long Count, long Ok, IReadOnlyDictionary<string, long> Failures,
    double Throughput, long[] Percentiles, long Max, double Mean, TimeSpan Elapsed, long StartLagP50 = 0, long StartLagP99 = 0)
{
    /// <summary>Failed requests.</summary>
    public long Failed => Count - Ok;
}
