using System.Threading.RateLimiting;
using McpEdge.Configuration;
using McpEdge.Protocol;

namespace McpEdge.Streaming;

/// <summary>
/// Proxy-pipeline step (first) that bounds the SSE streams the edge holds open: in total
/// (<see cref="StreamingOptions.MaxStreams"/>, else 503) and per client
/// (<see cref="StreamingOptions.MaxStreamsPerClient"/>, else 429), with
/// <see cref="System.Threading.RateLimiting"/> concurrency limiters (no queue). A client is the
/// authenticated principal, else the remote IP address. Streams are GET requests that accept
/// <c>text/event-stream</c> (the standalone stream of MCP 2025-03-26 … 2025-11-25, the HTTP+SSE
/// stream of 2024-11-05, resumptions) and 2026-07-28 <c>subscriptions/listen</c> POSTs. A refusal
/// carries <c>Retry-After</c> and a JSON-RPC error (-32000). The limiters follow configuration reloads;
/// streams already open keep their permit.
/// </summary>
internal sealed partial class StreamLimitMiddleware(RequestDelegate next, McpEdgeConfigState config, StreamingMetrics metrics, ILogger<StreamLimitMiddleware> logger)
{
    private const int RetryAfterSeconds = 5;
    private Limiters _limiters = Limiters.From(config.Current.Streaming);

    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        if (!IsStream(context.Request))
        {
            return next(context);
        }
        var limiters = _limiters;
        if (!ReferenceEquals(limiters.Source, config.Current.Streaming))
        {
            _limiters = limiters = Limiters.From(config.Current.Streaming);
        }
        return LimitedAsync(context, limiters);
    }

    private async Task LimitedAsync(HttpContext context, Limiters limiters)
    {
        var server = context.GetReverseProxyFeature().Cluster.Config.ClusterId;
        var client = Security.BearerAuthentication.PrincipalOf(context) ?? context.Connection.RemoteIpAddress?.ToString() ?? "-";
        using var perClient = limiters.PerClient.AttemptAcquire(client);
        if (!perClient.IsAcquired)
        {
            metrics.Rejected(server, "client");
            LogRejected(logger, server, client, "per-client", limiters.Source.MaxStreamsPerClient);
            await RefuseAsync(context, StatusCodes.Status429TooManyRequests, $"Too many open streams for this client (limit {limiters.Source.MaxStreamsPerClient}).");
            return;
        }
        using var total = limiters.Total.AttemptAcquire();
        if (!total.IsAcquired)
        {
            metrics.Rejected(server, "total");
            LogRejected(logger, server, client, "total", limiters.Source.MaxStreams);
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, $"The edge holds its maximum of {limiters.Source.MaxStreams} open streams.");
            return;
        }
        await next(context);
    }

    private static Task RefuseAsync(HttpContext context, int status, string message) =>
        JsonRpcErrorResponse.WriteAsync(context, status, McpErrorCodes.LimitExceeded, message, RetryAfterSeconds);

    /// <summary>True for a request that opens a long-lived stream.</summary>
    internal static bool IsStream(HttpRequest request)
    {
        if (HttpMethods.IsGet(request.Method))
        {
            foreach (var accept in request.Headers.Accept)
            {
                if (accept is not null && accept.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
            return false;
        }
        return HttpMethods.IsPost(request.Method)
            && request.HttpContext.Features.Get<JsonRpcMessageFeature>() is { Kind: JsonRpcKind.Request, Method: McpMethods.SubscriptionsListen };
    }

    private sealed record Limiters(StreamingOptions Source, ConcurrencyLimiter Total, PartitionedRateLimiter<string> PerClient)
    {
        public static Limiters From(StreamingOptions options) => new(
            options,
            new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = options.MaxStreams, QueueLimit = 0 }),
            PartitionedRateLimiter.Create<string, string>(client => RateLimitPartition.GetConcurrencyLimiter(client,
                _ => new ConcurrencyLimiterOptions { PermitLimit = options.MaxStreamsPerClient, QueueLimit = 0 }), StringComparer.Ordinal));
    }

    [LoggerMessage(EventId = 24, Level = LogLevel.Warning, Message = "Stream refused for server {Server}, client {Client}: {Limit} limit of {Max} open streams reached.")]
    private static partial void LogRejected(ILogger logger, string server, string client, string limit, int max);
}
