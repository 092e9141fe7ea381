using McpEdge.Configuration;
using McpEdge.Forwarder;
using McpEdge.Protocol;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Sessions;

/// <summary>
/// Proxy-pipeline step (before load balancing) that routes a session to the replica that created it.
/// </summary>
/// <remarks>
/// Reads the session token from <c>Mcp-Session-Id</c> (Streamable HTTP) or from the
/// <c>sessionId</c> query value of the legacy message route (HTTP+SSE), opens it with
/// <see cref="SessionTokenSealer"/> and narrows YARP's <see cref="IReverseProxyFeature.AvailableDestinations"/>
/// to that replica, taken from all destinations, healthy or not: the session's state lives only
/// there. Answers HTTP 404 with a JSON-RPC error (code -32001), before anything reaches an
/// upstream, when the token does not open (a token sealed for another authenticated principal
/// does not) or its replica has left the configuration; and, after
/// forwarding, when the replica could not be connected to (refused, or connect timeout) — the
/// signal on which a client starts a new session (MCP 2025-11-25 basic/transports.mdx,
/// "Session Management", items 3–4). Requests without a token pass on to load balancing.
/// </remarks>
internal sealed partial class SessionRoutingMiddleware(RequestDelegate next, SessionTokenSealer sealer, Telemetry.EdgeMetrics metrics, ILogger<SessionRoutingMiddleware> logger)
{
    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var metadata = proxy.Route.Config.Metadata;
        if (metadata is null || !metadata.TryGetValue(McpProxyConfigBuilder.MetadataKeys.Server, out var server))
        {
            return next(context);
        }

        var legacy = metadata.TryGetValue(McpProxyConfigBuilder.MetadataKeys.RouteKind, out var kind) && kind == McpProxyConfigBuilder.RouteKinds.LegacyMessage;
        var values = legacy ? context.Request.Query[McpHeaders.LegacySessionQuery] : context.Request.Headers[McpHeaders.SessionId];
        if (values.Count == 0)
        {
            if (legacy)
            {
                LogMissingLegacySession(logger, server);
                metrics.SessionRejected(server, "missing");
                return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status400BadRequest, McpErrorCodes.InvalidRequest,
                    "The sessionId query parameter is required; use the URL of the endpoint event.");
            }
            return next(context);
        }
        if (values.Count > 1)
        {
            LogSeveralSessionIds(logger, server);
            metrics.SessionRejected(server, "duplicate");
            return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status400BadRequest, McpErrorCodes.InvalidRequest,
                legacy ? "The sessionId query parameter appears more than once." : "The Mcp-Session-Id header appears more than once.");
        }

        var tokenKind = legacy ? SessionTokenKind.LegacySse : SessionTokenKind.StreamableHttp;
        var token = values.ToString();
        if (!sealer.TryOpen(tokenKind, server, token, out var target, Security.BearerAuthentication.PrincipalOf(context)))
        {
            LogUnknownSession(logger, server);
            metrics.SessionRejected(server, "unknown");
            return SessionNotFoundAsync(context);
        }

        var destination = FindDestination(proxy.AllDestinations, target.DestinationId);
        if (destination is null)
        {
            LogReplicaGone(logger, server, target.DestinationId);
            metrics.SessionRejected(server, "replica_gone");
            return SessionNotFoundAsync(context);
        }

        proxy.AvailableDestinations = destination;
        context.Features.Set(new McpSessionFeature(token, tokenKind, target));
        return ForwardPinnedAsync(context, server, target.DestinationId);
    }

    private async Task ForwardPinnedAsync(HttpContext context, string server, string destinationId)
    {
        await next(context);

        var error = context.GetForwarderErrorFeature();
        if (error is not null && !context.Response.HasStarted && UpstreamFailures.IsConnectFailure(error.Exception) && !context.RequestAborted.IsCancellationRequested)
        {
            LogReplicaUnreachable(logger, server, destinationId, error.Error);
            metrics.SessionRejected(server, "replica_unreachable");
            await SessionNotFoundAsync(context);
        }
    }

    private static DestinationState? FindDestination(IReadOnlyList<DestinationState> destinations, string id)
    {
        // By index: foreach over the interface would box an enumerator on every session request.
        for (var i = 0; i < destinations.Count; i++)
        {
            if (string.Equals(destinations[i].DestinationId, id, StringComparison.OrdinalIgnoreCase))
            {
                return destinations[i];
            }
        }
        return null;
    }

    private static Task SessionNotFoundAsync(HttpContext context) =>
        JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status404NotFound, McpErrorCodes.SessionNotFound,
            "Session not found; start a new session with initialize.");

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Session token for server {Server} did not open (unknown key, tampered, foreign, another principal's or malformed); answered 404.")]
    private static partial void LogUnknownSession(ILogger logger, string server);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "Session of server {Server} names replica {DestinationId}, which has left the configuration; answered 404.")]
    private static partial void LogReplicaGone(ILogger logger, string server, string destinationId);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "Session replica {DestinationId} of server {Server} could not be reached ({Error}); answered 404 so the client starts a new session.")]
    private static partial void LogReplicaUnreachable(ILogger logger, string server, string destinationId, ForwarderError error);

    [LoggerMessage(EventId = 13, Level = LogLevel.Information, Message = "Legacy message POST for server {Server} without sessionId; answered 400.")]
    private static partial void LogMissingLegacySession(ILogger logger, string server);

    [LoggerMessage(EventId = 14, Level = LogLevel.Information, Message = "Request for server {Server} carries more than one session id; answered 400.")]
    private static partial void LogSeveralSessionIds(ILogger logger, string server);
}
