using System.Runtime.CompilerServices;
using McpEdge.Forwarder;
using McpEdge.LoadBalancing;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Health;

/// <summary>
/// YARP <see cref="IPassiveHealthCheckPolicy"/> <c>McpConsecutiveFailures</c>: an upstream failure
/// (<see cref="UpstreamFailures.IsUpstreamFailure"/>: transport failure, timeout, broken stream or
/// 5xx) counts against the destination, a success resets the count, and what the client caused
/// (hanging up an SSE stream, cancelling) counts as neither. At
/// <see cref="Configuration.PassiveHealthOptions.ConsecutiveFailures"/> failures in a row the
/// destination is passively unhealthy until YARP's reactivation timer
/// (<see cref="Configuration.PassiveHealthOptions.ReactivationPeriod"/>) sets it back to unknown.
/// </summary>
internal sealed partial class McpPassiveHealthPolicy(IDestinationHealthUpdater updater, ILogger<McpPassiveHealthPolicy> logger) : IPassiveHealthCheckPolicy
{
    /// <summary>The policy name set on every generated cluster.</summary>
    public const string PolicyName = "McpConsecutiveFailures";

    private static readonly TimeSpan DefaultReactivation = TimeSpan.FromSeconds(30);
    private readonly ConditionalWeakTable<DestinationState, StrongBox<int>> _failures = new();

    /// <inheritdoc />
    public string Name => PolicyName;

    /// <summary>Consecutive upstream failures of a destination so far.</summary>
    public int ConsecutiveFailures(DestinationState destination) =>
        _failures.TryGetValue(destination, out var box) ? Volatile.Read(ref box.Value) : 0;

    /// <inheritdoc />
    public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination)
    {
        if (UpstreamFailures.IsClientFailure(context) || (context.RequestAborted.IsCancellationRequested && !UpstreamFailures.IsUpstreamFailure(context)))
        {
            return;
        }
        var box = _failures.GetValue(destination, static _ => new StrongBox<int>());
        if (!UpstreamFailures.IsUpstreamFailure(context))
        {
            Volatile.Write(ref box.Value, 0);
            return;
        }

        var failures = Interlocked.Increment(ref box.Value);
        var threshold = ClusterBalancingSettings.For(cluster).ConsecutiveFailures;
        if (failures >= threshold && destination.Health.Passive != DestinationHealth.Unhealthy)
        {
            Volatile.Write(ref box.Value, 0);
            var period = cluster.Model.Config.HealthCheck?.Passive?.ReactivationPeriod ?? DefaultReactivation;
            LogUnhealthy(logger, destination.DestinationId, cluster.ClusterId, failures, period);
            updater.SetPassive(cluster, destination, DestinationHealth.Unhealthy, period);
        }
    }

    [LoggerMessage(EventId = 44, Level = LogLevel.Warning, Message = "Replica {DestinationId} of server {Server} failed {Failures} exchanges in a row; passively unhealthy for {Period}.")]
    private static partial void LogUnhealthy(ILogger logger, string destinationId, string server, int failures, TimeSpan period);
}
