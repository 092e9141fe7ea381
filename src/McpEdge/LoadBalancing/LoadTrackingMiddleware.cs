using McpEdge.Forwarder;
using McpEdge.Protocol;
using Yarp.ReverseProxy.Model;

namespace McpEdge.LoadBalancing;

/// <summary>
/// Proxy-pipeline step right after load balancing: counts the exchange as in flight on the chosen
/// destination and records its latency sample for <see cref="LeastResponseTimeLoadBalancingPolicy"/>.
/// </summary>
/// <remarks>
/// The sample is the upstream's time to response headers, taken by the response transform through
/// <see cref="LoadTrackingFeature"/>. For a POST answered with an SSE stream (headers come at once,
/// the JSON-RPC response later) it is the time until that stream ends. A failed exchange
/// (<see cref="UpstreamFailures.IsUpstreamFailure"/>) counts as a sample of
/// <see cref="Configuration.LoadBalancingOptions.FailurePenalty"/>; one the client abandoned counts as nothing.
/// GET requests (standalone and HTTP+SSE streams that live for hours) and 2026-07-28
/// <c>subscriptions/listen</c> POSTs (identified by <c>Mcp-Method</c>) are neither counted nor sampled.
/// </remarks>
internal sealed class LoadTrackingMiddleware(RequestDelegate next, DestinationLoadTracker tracker, Telemetry.EdgeMetrics metrics)
{
    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        if (proxy.AvailableDestinations.Count != 1 || HttpMethods.IsGet(context.Request.Method) || IsListenStream(context.Request))
        {
            return next(context);
        }
        return TrackAsync(context, proxy.AvailableDestinations[0], context.GetRouteModel().Cluster);
    }

    /// <summary>A 2026-07-28 <c>subscriptions/listen</c> POST, a stream that lives as long as the client wants (basic/patterns/subscriptions.mdx).</summary>
    private static bool IsListenStream(HttpRequest request) =>
        request.Headers.TryGetValue(McpHeaders.Method, out var method) && method.Count == 1 && method[0] == "subscriptions/listen";

    private async Task TrackAsync(HttpContext context, DestinationState destination, ClusterState? cluster)
    {
        var settings = cluster is null ? ClusterBalancingSettings.Default : ClusterBalancingSettings.For(cluster);
        var feature = new LoadTrackingFeature(tracker, tracker.Get(destination), tracker.Ticks(settings.LatencyHalfLife));
        context.Features.Set(feature);
        feature.Load.Start();
        var started = tracker.Now;
        try
        {
            await next(context);
        }
        finally
        {
            feature.Load.End();
            metrics.Upstream(cluster?.ClusterId ?? "-", destination.DestinationId, tracker.Time.GetElapsedTime(started).TotalSeconds, Telemetry.EdgeMetrics.Outcome(context));
            context.Features.Set<LoadTrackingFeature?>(null);
            if (UpstreamFailures.IsUpstreamFailure(context))
            {
                feature.Load.Observe(settings.FailurePenalty.TotalMilliseconds, tracker.Now, feature.HalfLifeTicks);
            }
            else if (!UpstreamFailures.IsClientFailure(context) && !context.RequestAborted.IsCancellationRequested)
            {
                feature.Complete();
            }
        }
    }
}

/// <summary>The exchange being timed; the response transform calls <see cref="Complete"/> when headers arrive.</summary>
internal sealed class LoadTrackingFeature(DestinationLoadTracker tracker, DestinationLoad load, double halfLifeTicks)
{
    private readonly long _start = tracker.Now;
    private int _sampled;

    /// <summary>The destination's load.</summary>
    public DestinationLoad Load { get; } = load;

    /// <summary>The cluster's half-life in timestamp ticks.</summary>
    public double HalfLifeTicks { get; } = halfLifeTicks;

    /// <summary>Records the time since the exchange started as its latency sample; only the first call counts.</summary>
    public void Complete()
    {
        if (Interlocked.Exchange(ref _sampled, 1) == 0)
        {
            var now = tracker.Now;
            Load.Observe(tracker.Milliseconds(_start, now), now, HalfLifeTicks);
        }
    }
}
