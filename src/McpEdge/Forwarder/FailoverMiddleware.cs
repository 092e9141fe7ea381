using McpEdge.Configuration;
using McpEdge.Protocol;
using McpEdge.Sessions;
using McpEdge.Telemetry;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Forwarder;

/// <summary>
/// Proxy-pipeline step (after session routing, around load balancing and forwarding) that retries,
/// once and on another available replica, a request whose replica could not be connected to
/// (<see cref="UpstreamFailures.IsConnectFailure"/>: refused, unreachable or connect timeout, so
/// nothing reached the upstream and nothing ran there), when the request belongs to no session.
/// </summary>
/// <remarks>
/// <para>
/// Retried: a POST without a session whose JSON-RPC message was read into a buffer by
/// <see cref="JsonRpcMessageMiddleware"/> (every kind: request, <c>tools/call</c> included,
/// notification, batch; the buffer can be sent twice), and a GET without a session (opening an
/// HTTP+SSE stream). A failed connect is the one failure after which repeating any message is
/// safe: the message was never sent. This is what nginx's <c>proxy_next_upstream error</c> does
/// for a POST that was not yet sent and Envoy's <c>retry_on: connect-failure</c> does for any
/// method. A failure after the connection was made (reset, timeout, 5xx) is never retried: the
/// upstream may have run the message.
/// </para>
/// <para>
/// Never retried: anything of a session (<see cref="McpSessionFeature"/>: the session lives on
/// one replica only, and its client gets 404 from <see cref="SessionRoutingMiddleware"/> once that
/// replica is gone), and a POST whose body was not buffered.
/// </para>
/// <para>
/// One retry with no delay is a second call of the rest of the pipeline, written out here rather
/// than run through a Polly.Core retry pipeline (as until 2026-11-21): every session-less POST
/// takes this path, and the pipeline cost each of them about 1.1 KB of allocations and a few µs
/// of CPU, 20% more allocation per forwarded request (docs/benchmarks.md, issue 6). The first
/// attempt allocates nothing here beyond this step's async frame.
/// </para>
/// </remarks>
internal sealed partial class FailoverMiddleware(RequestDelegate next, EdgeMetrics metrics, ILogger<FailoverMiddleware> logger)
{
    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var metadata = proxy.Cluster.Config.Metadata;
        // Most requests pass straight on, without an async frame of this step.
        return proxy.AvailableDestinations.Count < 2 || context.Features.Get<McpSessionFeature>() is not null
            || metadata is null || !metadata.TryGetValue(McpProxyConfigBuilder.MetadataKeys.Failover, out var on) || on != "true"
            || !IsSafeToRepeat(context)
            ? next(context)
            : WithFailoverAsync(context, proxy);
    }

    private async Task WithFailoverAsync(HttpContext context, IReverseProxyFeature proxy)
    {
        var candidates = proxy.AvailableDestinations;
        await next(context);

        var error = context.GetForwarderErrorFeature();
        if (error is not { Error: ForwarderError.Request } || !UpstreamFailures.IsConnectFailure(error.Exception)
            || context.Response.HasStarted || context.RequestAborted.IsCancellationRequested
            || proxy.ProxiedDestination is not { } failed)
        {
            return;
        }

        // Nothing reached the failed replica: send the same message once more, to one of the others.
        proxy.AvailableDestinations = Without(candidates, failed);
        context.Features.Set<IForwarderErrorFeature?>(null);
        context.Response.StatusCode = StatusCodes.Status200OK;
        if (context.Request.Body.CanSeek)
        {
            context.Request.Body.Position = 0;
        }
        await next(context);

        var succeeded = context.GetForwarderErrorFeature() is null;
        metrics.FailoverRetried(proxy.Cluster.Config.ClusterId, failed.DestinationId, succeeded);
        LogRetried(logger, proxy.Cluster.Config.ClusterId, failed.DestinationId, proxy.ProxiedDestination?.DestinationId ?? "-", succeeded);
    }

    /// <summary>The candidates but <paramref name="failed"/> (a method of its own, so the first attempt allocates no closure).</summary>
    private static DestinationState[] Without(IReadOnlyList<DestinationState> candidates, DestinationState failed) =>
        candidates.Where(d => !ReferenceEquals(d, failed)).ToArray();

    private static bool IsSafeToRepeat(HttpContext context)
    {
        var request = context.Request;
        // The body was read once into a seekable buffer by JsonRpcMessageMiddleware.
        return HttpMethods.IsGet(request.Method)
            || (HttpMethods.IsPost(request.Method) && context.Features.Get<JsonRpcMessageFeature>() is not null && request.Body.CanSeek);
    }

    [LoggerMessage(EventId = 50, Level = LogLevel.Warning, Message = "Server {Server}: replica {Failed} refused the connection; retried on {Replica} (succeeded: {Succeeded}).")]
    private static partial void LogRetried(ILogger logger, string server, string failed, string replica, bool succeeded);
}
