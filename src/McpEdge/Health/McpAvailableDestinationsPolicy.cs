using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Health;

/// <summary>
/// YARP <see cref="IAvailableDestinationsPolicy"/> <c>McpHealthy</c>: a destination is available
/// unless its active health (set by <see cref="McpHealthProbeService"/>, which replaces YARP's own
/// prober) or its passive health (set by <see cref="McpPassiveHealthPolicy"/>) is
/// <see cref="DestinationHealth.Unhealthy"/>. When none is available, all are ("panic mode", as in
/// YARP's <c>HealthyOrPanic</c> and Envoy's panic threshold): a probe can be wrong, and trying a
/// replica beats failing every request with 503.
/// </summary>
internal sealed class McpAvailableDestinationsPolicy : IAvailableDestinationsPolicy
{
    /// <summary>The policy name set on every generated cluster.</summary>
    public const string PolicyName = "McpHealthy";

    /// <inheritdoc />
    public string Name => PolicyName;

    /// <inheritdoc />
    public IReadOnlyList<DestinationState> GetAvailalableDestinations(ClusterConfig config, IReadOnlyList<DestinationState> allDestinations)
    {
        var passiveEnabled = config.HealthCheck?.Passive?.Enabled == true;
        List<DestinationState>? available = null;
        for (var i = 0; i < allDestinations.Count; i++)
        {
            if (!IsHealthy(allDestinations[i], passiveEnabled))
            {
                available ??= [.. allDestinations.Take(i)];
            }
            else
            {
                available?.Add(allDestinations[i]);
            }
        }
        return available is null ? allDestinations : available.Count > 0 ? available : allDestinations;
    }

    /// <summary>True unless the destination's active health, or its passive health when passive checks are on, is unhealthy.</summary>
    public static bool IsHealthy(DestinationState destination, bool passiveEnabled) =>
        destination.Health.Active != DestinationHealth.Unhealthy
        && (!passiveEnabled || destination.Health.Passive != DestinationHealth.Unhealthy);
}
