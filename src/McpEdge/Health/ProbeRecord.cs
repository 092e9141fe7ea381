using Yarp.ReverseProxy.Model;

namespace McpEdge.Health;

/// <summary>
/// The active-health state machine of one replica: consecutive good and failed probes against the
/// thresholds, and what the last probe said (for <c>/edge/clusters</c>). Thread-safe.
/// </summary>
/// <remarks>
/// From <see cref="DestinationHealth.Unknown"/> (never probed), one good probe makes the replica
/// healthy (as Envoy treats a newly added host) and <c>UnhealthyThreshold</c> failed probes in a row
/// make it unhealthy; from healthy, <c>UnhealthyThreshold</c> failures; from unhealthy,
/// <c>HealthyThreshold</c> good probes in a row.
/// </remarks>
public sealed class ProbeRecord
{
    private readonly Lock _lock = new();

    /// <summary>The active health decided so far.</summary>
    public DestinationHealth Health { get; private set; } = DestinationHealth.Unknown;

    /// <summary>Good probes in a row.</summary>
    public int ConsecutiveSuccesses { get; private set; }

    /// <summary>Failed probes in a row.</summary>
    public int ConsecutiveFailures { get; private set; }

    /// <summary>The last probe's result, null before the first.</summary>
    public ProbeResult? Last { get; private set; }

    /// <summary>When the last probe ended.</summary>
    public DateTimeOffset? LastAt { get; private set; }

    /// <summary>The last error seen, kept after the replica recovered.</summary>
    public string? LastError { get; private set; }

    /// <summary>When <see cref="LastError"/> was seen.</summary>
    public DateTimeOffset? LastErrorAt { get; private set; }

    /// <summary>For <c>auto</c> probes: false once the replica answered <c>server/discover</c> as a pre-2026-07-28 server.</summary>
    public bool? SpeaksDiscover { get; set; }

    /// <summary>Applies a probe result; returns the new health.</summary>
    public DestinationHealth Apply(ProbeResult result, DateTimeOffset at, int healthyThreshold, int unhealthyThreshold)
    {
        lock (_lock)
        {
            Last = result;
            LastAt = at;
            if (result.Healthy)
            {
                ConsecutiveSuccesses++;
                ConsecutiveFailures = 0;
                if (Health == DestinationHealth.Unknown || (Health == DestinationHealth.Unhealthy && ConsecutiveSuccesses >= healthyThreshold))
                {
                    Health = DestinationHealth.Healthy;
                }
            }
            else
            {
                ConsecutiveFailures++;
                ConsecutiveSuccesses = 0;
                LastError = result.Error;
                LastErrorAt = at;
                if (ConsecutiveFailures >= unhealthyThreshold)
                {
                    Health = DestinationHealth.Unhealthy;
                }
            }
            return Health;
        }
    }
}
