using System.Net.Http;
using Yarp.ReverseProxy.Forwarder;

namespace McpEdge.Forwarder;

/// <summary>
/// Tells the upstream's failures from the client's, for passive health, the latency penalty and
/// failover. An upstream failure is a YARP <see cref="IForwarderErrorFeature"/> whose
/// <see cref="ForwarderError"/> names the destination side (connect/send failure, timeout, broken
/// response body or headers), or, without such an error, a 5xx status from the upstream. Client
/// cancellations and client-side body errors (a client hanging up an SSE stream) are not.
/// </summary>
internal static class UpstreamFailures
{
    /// <summary>True when the exchange failed on the upstream's side.</summary>
    public static bool IsUpstreamFailure(HttpContext context)
    {
        var error = context.GetForwarderErrorFeature();
        if (error is not null)
        {
            return IsUpstreamError(error.Error);
        }
        return context.Response.StatusCode >= StatusCodes.Status500InternalServerError;
    }

    /// <summary>True when YARP reported an error caused by the client (cancelled, hung up, bad request body).</summary>
    public static bool IsClientFailure(HttpContext context) =>
        context.GetForwarderErrorFeature() is { } error && !IsUpstreamError(error.Error) && error.Error != ForwarderError.NoAvailableDestinations;

    /// <summary>The <see cref="ForwarderError"/> values that name the upstream side.</summary>
    public static bool IsUpstreamError(ForwarderError error) => error is
        ForwarderError.Request or ForwarderError.RequestTimedOut or ForwarderError.RequestBodyDestination
        or ForwarderError.ResponseHeaders or ForwarderError.ResponseBodyDestination
        or ForwarderError.UpgradeRequestDestination or ForwarderError.UpgradeResponseDestination;

    /// <summary>
    /// True when no connection to the replica could be made, so nothing was sent:
    /// <see cref="HttpRequestError.ConnectionError"/> (refused, unreachable) or
    /// <see cref="HttpRequestError.NameResolutionError"/>, or SocketsHttpHandler's connect timeout
    /// (an <see cref="OperationCanceledException"/> around a <see cref="TimeoutException"/>).
    /// </summary>
    public static bool IsConnectFailure(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError })
            {
                return true;
            }
            if (e is OperationCanceledException { InnerException: TimeoutException })
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Gives the edge's own answer to a failed exchange (YARP's 502, 503 or 504, which has no body) a
    /// JSON-RPC error for a JSON-RPC request, with its <c>id</c>, so that an MCP client's error says
    /// what happened: -32603 with "Bad Gateway: …", "Service Unavailable: …" or "Gateway Timeout: …"
    /// naming the MCP server, never a replica's address. Nothing for other messages (a notification
    /// or response has no answer to carry it), other statuses, or a response already started.
    /// </summary>
    public static Task WriteErrorBodyAsync(HttpContext context, string server)
    {
        var response = context.Response;
        if (response.HasStarted || response.StatusCode < StatusCodes.Status500InternalServerError
            || context.GetForwarderErrorFeature() is not { } error
            || context.Features.Get<Protocol.JsonRpcMessageFeature>() is not { Kind: Protocol.JsonRpcKind.Request } message)
        {
            return Task.CompletedTask;
        }
        var text = error.Error switch
        {
            ForwarderError.NoAvailableDestinations => $"Service Unavailable: no replica of MCP server '{server}' is available.",
            ForwarderError.RequestTimedOut => $"Gateway Timeout: the replica of MCP server '{server}' did not answer in time.",
            ForwarderError.Request when IsConnectFailure(error.Exception) => $"Bad Gateway: the replica of MCP server '{server}' could not be reached.",
            ForwarderError.Request => $"Bad Gateway: the replica of MCP server '{server}' failed before answering.",
            ForwarderError.ResponseHeaders => $"Bad Gateway: the replica of MCP server '{server}' sent an answer that cannot be passed on.",
            _ => $"Bad Gateway: the exchange with MCP server '{server}' failed ({error.Error}).",
        };
        return Protocol.JsonRpcErrorResponse.WriteAsync(context, response.StatusCode, Protocol.McpErrorCodes.InternalError, text, message.RawId, null, null);
    }

    /// <summary>Marks an exchange whose upstream failed after the response had started (an SSE stream that broke).</summary>
    public static void MarkStreamFailed(HttpContext context, Exception exception) =>
        context.Features.Set<IForwarderErrorFeature>(new StreamFailure(exception));

    private sealed class StreamFailure(Exception exception) : IForwarderErrorFeature
    {
        public ForwarderError Error => ForwarderError.ResponseBodyDestination;
        public Exception? Exception => exception;
    }
}
