using McpEdge.Configuration;
using McpEdge.Protocol;
using McpEdge.Sessions;
using McpEdge.Telemetry;
using Polly;
using Polly.Retry;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Forwarder;

/// <summary>
/// Proxy-pipeline step (after session routing, around load balancing and forwarding) that retries,
/// once and on another available replica, a request whose replica could not be connected to
/// (<see cref="UpstreamFailures.IsConnectFailure"/>: refused, unreachable or connect timeout, so
/// nothing reached the upstream and nothing ran there), when the request belongs to no session.
/// Built on a Polly.Core retry pipeline (one retry, no delay).
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
/// </remarks>
internal sealed partial class FailoverMiddleware(RequestDelegate next, EdgeMetrics metrics, ILogger<FailoverMiddleware> logger)
{
    private static readonly ResiliencePipeline<bool> Pipeline = new ResiliencePipelineBuilder<bool>()
        .AddRetry(new RetryStrategyOptions<bool>
        {
            MaxRetryAttempts = 1,
            Delay = TimeSpan.Zero,
            BackoffType = DelayBackoffType.Constant,
            UseJitter = false,
            // The attempt returns true when it failed to connect and another replica is left.
            ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is null && args.Outcome.Result),
        })
        .Build();

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
        var attempt = new Attempt(context, proxy, next);
        await Pipeline.ExecuteAsync(static (attempt, _) => attempt.RunAsync(), attempt, context.RequestAborted);
        if (attempt.Retried is { } failed)
        {
            var succeeded = context.GetForwarderErrorFeature() is null;
            metrics.FailoverRetried(proxy.Cluster.Config.ClusterId, failed, succeeded);
            LogRetried(logger, proxy.Cluster.Config.ClusterId, failed, proxy.ProxiedDestination?.DestinationId ?? "-", succeeded);
        }
    }

    private static bool IsSafeToRepeat(HttpContext context)
    {
        var request = context.Request;
        // The body was read once into a seekable buffer by JsonRpcMessageMiddleware.
        return HttpMethods.IsGet(request.Method)
            || (HttpMethods.IsPost(request.Method) && context.Features.Get<JsonRpcMessageFeature>() is not null && request.Body.CanSeek);
    }

    private sealed class Attempt(HttpContext context, IReverseProxyFeature proxy, RequestDelegate next)
    {
        private readonly IReadOnlyList<DestinationState> _candidates = proxy.AvailableDestinations;
        private DestinationState? _failed;

        public string? Retried { get; private set; }

        public async ValueTask<bool> RunAsync()
        {
            if (_failed is not null)
            {
                Retried = _failed.DestinationId;
                proxy.AvailableDestinations = _candidates.Where(d => !ReferenceEquals(d, _failed)).ToArray();
                context.Features.Set<IForwarderErrorFeature?>(null);
                context.Response.StatusCode = StatusCodes.Status200OK;
                if (context.Request.Body.CanSeek)
                {
                    context.Request.Body.Position = 0;
                }
            }

            await next(context);

            var error = context.GetForwarderErrorFeature();
            if (_failed is null && error is { Error: ForwarderError.Request } && UpstreamFailures.IsConnectFailure(error.Exception)
                && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested
                && proxy.ProxiedDestination is { } destination && _candidates.Count > 1)
            {
                _failed = destination;
                return true;
            }
            return false;
        }
    }

    [LoggerMessage(EventId = 50, Level = LogLevel.Warning, Message = "Server {Server}: replica {Failed} refused the connection; retried on {Replica} (succeeded: {Succeeded}).")]
    private static partial void LogRetried(ILogger logger, string server, string failed, string replica, bool succeeded);
}
