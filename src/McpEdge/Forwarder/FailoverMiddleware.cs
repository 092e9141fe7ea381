using System.Buffers;
using McpEdge.Configuration;
using McpEdge.Protocol;
using McpEdge.Sessions;
using Polly;
using Polly.Retry;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Forwarder;

/// <summary>
/// Proxy-pipeline step (after session routing, around load balancing and forwarding) that retries,
/// once and on another available replica, a request whose replica could not be connected to
/// (<see cref="UpstreamFailures.IsConnectFailure"/>: nothing reached the upstream), when the
/// message is safe to repeat. Built on a Polly.Core retry pipeline (one retry, no delay).
/// </summary>
/// <remarks>
/// Safe: a request without a session whose JSON-RPC method is <c>initialize</c>, <c>ping</c>,
/// <c>server/discover</c>, <c>tools/list</c>, <c>prompts/list</c>, <c>resources/list</c> or
/// <c>resources/templates/list</c> (taken from <c>Mcp-Method</c>, MCP 2026-07-28, or from the body),
/// and a GET without a session (opening an HTTP+SSE stream). Never a <c>tools/call</c>, a
/// notification, a batch, or anything of a session: a session lives on one replica only, and its
/// client gets 404 from <see cref="SessionRoutingMiddleware"/> instead. The body of a candidate
/// (at most <see cref="MaxBufferedBody"/> bytes) is buffered so it can be sent twice.
/// </remarks>
internal sealed partial class FailoverMiddleware(RequestDelegate next, ILogger<FailoverMiddleware> logger)
{
    /// <summary>The largest request body that is buffered for a retry; larger ones are not retried.</summary>
    public const int MaxBufferedBody = 64 * 1024;

    private static readonly HashSet<string> SafeMethods = new(StringComparer.Ordinal)
    {
        "initialize", "ping", "server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list",
    };

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
    public async Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var metadata = proxy.Cluster.Config.Metadata;
        if (proxy.AvailableDestinations.Count < 2 || context.Features.Get<McpSessionFeature>() is not null
            || metadata is null || !metadata.TryGetValue(McpProxyConfigBuilder.MetadataKeys.Failover, out var on) || on != "true"
            || !await IsSafeToRepeatAsync(context))
        {
            await next(context);
            return;
        }

        var attempt = new Attempt(context, proxy, next);
        await Pipeline.ExecuteAsync(static (attempt, _) => attempt.RunAsync(), attempt, context.RequestAborted);
        if (attempt.Retried is { } failed)
        {
            LogRetried(logger, proxy.Cluster.Config.ClusterId, failed, proxy.ProxiedDestination?.DestinationId ?? "-",
                context.GetForwarderErrorFeature() is null);
        }
    }

    private static async Task<bool> IsSafeToRepeatAsync(HttpContext context)
    {
        var request = context.Request;
        if (HttpMethods.IsGet(request.Method))
        {
            return true;
        }
        if (!HttpMethods.IsPost(request.Method) || request.ContentLength > MaxBufferedBody)
        {
            return false;
        }

        if (request.Headers.TryGetValue(McpHeaders.Method, out var header) && header.Count == 1)
        {
            // MCP 2026-07-28: the method is in a header, so only safe requests pay for buffering.
            if (!SafeMethods.Contains(header[0]!))
            {
                return false;
            }
            request.EnableBuffering(bufferThreshold: MaxBufferedBody);
            return true;
        }

        // No buffer limit: a body without Content-Length that turns out larger is still forwarded
        // whole (spilled to a temporary file beyond the threshold), just not retried.
        request.EnableBuffering(bufferThreshold: MaxBufferedBody);
        var buffer = ArrayPool<byte>.Shared.Rent(MaxBufferedBody + 1);
        try
        {
            var length = 0;
            int read;
            while (length <= MaxBufferedBody && (read = await request.Body.ReadAsync(buffer.AsMemory(length, MaxBufferedBody + 1 - length), context.RequestAborted)) > 0)
            {
                length += read;
            }
            return length <= MaxBufferedBody && JsonRpcMethodPeek.TryGetMethod(buffer.AsSpan(0, length)) is { } method && SafeMethods.Contains(method);
        }
        finally
        {
            request.Body.Position = 0;
            ArrayPool<byte>.Shared.Return(buffer);
        }
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
