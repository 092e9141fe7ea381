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

    /// <summary>Marks an exchange whose upstream failed after the response had started (an SSE stream that broke).</summary>
    public static void MarkStreamFailed(HttpContext context, Exception exception) =>
        context.Features.Set<IForwarderErrorFeature>(new StreamFailure(exception));

    private sealed class StreamFailure(Exception exception) : IForwarderErrorFeature
    {
        public ForwarderError Error => ForwarderError.ResponseBodyDestination;
        public Exception? Exception => exception;
    }
}
