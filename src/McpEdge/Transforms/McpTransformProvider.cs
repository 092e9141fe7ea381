using McpEdge.Configuration;
using McpEdge.LoadBalancing;
using McpEdge.Protocol;
using McpEdge.Sessions;
using McpEdge.Streaming;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace McpEdge.Transforms;

/// <summary>
/// Adds the MCP transforms to every generated route (YARP <see cref="ITransformProvider"/>).
/// </summary>
/// <remarks>
/// Request: the path becomes the upstream URL's own (the public path is not appended); a
/// session's <c>Mcp-Session-Id</c> is replaced by the upstream's id; a legacy message POST goes to
/// the upstream POST URL sealed in its <c>sessionId</c>. Every other header passes through as YARP
/// copies it (<c>MCP-Protocol-Version</c>, <c>Last-Event-ID</c>, <c>Mcp-Method</c>, <c>Mcp-Name</c>,
/// <c>Mcp-Param-*</c>, <c>Accept</c>, <c>Authorization</c>). A body the edge has read is sent from its
/// buffer (<see cref="Forwarder.JsonRpcBodyContent"/>).
/// Response: a new upstream <c>Mcp-Session-Id</c> is sealed with the replica's id (and the
/// authenticated principal, when there is one); an SSE body is
/// relayed by <see cref="SseRelay"/> (which also rewrites the HTTP+SSE <c>endpoint</c> event).
/// A 204 or 205 loses any <c>Content-Length</c> (RFC 9110 §8.6, §15.3.6); a 101 to a request that
/// asked for no upgrade becomes a 502 (RFC 9110 §15.2.2), and so does a status above 599 (§15). Status codes and bodies otherwise pass
/// through unchanged.
/// </remarks>
public sealed class McpTransformProvider(SessionTokenSealer sealer, SseRelay relay) : ITransformProvider
{
    /// <inheritdoc />
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    /// <inheritdoc />
    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    /// <inheritdoc />
    public void Apply(TransformBuilderContext context)
    {
        var metadata = context.Route.Metadata;
        if (metadata is null || !metadata.TryGetValue(McpProxyConfigBuilder.MetadataKeys.Server, out var server))
        {
            return;
        }
        var legacyMessage = metadata[McpProxyConfigBuilder.MetadataKeys.RouteKind] == McpProxyConfigBuilder.RouteKinds.LegacyMessage;
        var sseTransport = metadata[McpProxyConfigBuilder.MetadataKeys.Transport] == McpTransports.Sse;
        var publicPath = metadata[McpProxyConfigBuilder.MetadataKeys.PublicPath];

        context.AddRequestTransform(transform =>
        {
            Forwarder.JsonRpcBodyContent.Use(transform.HttpContext, transform.ProxyRequest);
            var session = transform.HttpContext.Features.Get<McpSessionFeature>();
            if (legacyMessage)
            {
                // The session middleware has opened the token (it answers 400/404 otherwise).
                transform.ProxyRequest.RequestUri = new Uri(new Uri(transform.DestinationPrefix), session!.Target.UpstreamValue);
                return default;
            }
            transform.Path = PathString.Empty;
            if (session is not null)
            {
                RequestTransform.RemoveHeader(transform, McpHeaders.SessionId);
                transform.ProxyRequest.Headers.TryAddWithoutValidation(McpHeaders.SessionId, session.Target.UpstreamValue);
            }
            return default;
        });

        context.AddResponseTransform(transform =>
        {
            var upstream = transform.ProxyResponse;
            var http = transform.HttpContext;
            var destination = http.GetReverseProxyFeature().ProxiedDestination;
            if (upstream is null || destination is null)
            {
                return default;
            }
            if (upstream.StatusCode == System.Net.HttpStatusCode.SwitchingProtocols && http.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest != true)
            {
                // YARP would pass the 101 on and then fail to upgrade the client's connection, which is left
                // with a bare 101. Thrown here, it is YARP's ResponseHeaders error: a clean 502 and a warning.
                throw new InvalidOperationException("The upstream answered 101 Switching Protocols to a request that asked for no upgrade (RFC 9110 §15.2.2).");
            }
            if ((int)upstream.StatusCode > 599)
            {
                // HttpClient takes any three digits; RFC 9110 §15 defines 100–599 and clients may choke on the rest.
                throw new InvalidOperationException($"The upstream answered status {(int)upstream.StatusCode}, outside 100–599 (RFC 9110 §15).");
            }
            if (http.Response.StatusCode is StatusCodes.Status204NoContent or StatusCodes.Status205ResetContent)
            {
                // No content, whatever the upstream's Content-Length says (RFC 9110 §8.6: none on a 204;
                // §15.3.6: no content in a 205). Relayed, Kestrel would end the response as too short: a 500.
                http.Response.Headers.ContentLength = null;
                transform.SuppressResponseBody = true;
            }

            if (!legacyMessage && http.Response.Headers.TryGetValue(McpHeaders.SessionId, out var upstreamSession) && !StringValues.IsNullOrEmpty(upstreamSession))
            {
                var session = http.Features.Get<McpSessionFeature>();
                var upstreamId = upstreamSession.ToString();
                // An upstream that echoes the id on every response gets the client's own token back.
                http.Response.Headers[McpHeaders.SessionId] = session is not null && session.Target.UpstreamValue == upstreamId
                    && string.Equals(session.Target.DestinationId, destination.DestinationId, StringComparison.OrdinalIgnoreCase)
                    ? session.ClientToken
                    : sealer.Seal(SessionTokenKind.StreamableHttp, server, destination.DestinationId, upstreamId, Security.BearerAuthentication.PrincipalOf(http));
            }

            if (!IsEventStream(upstream))
            {
                // Time to headers is the latency sample (an SSE answer is timed to its end instead).
                http.Features.Get<LoadTrackingFeature>()?.Complete();
                return default;
            }
            transform.SuppressResponseBody = true;
            Func<string, string>? rewrite = null;
            if (sseTransport && !legacyMessage && HttpMethods.IsGet(http.Request.Method))
            {
                var upstreamUri = transform.ProxyResponse!.RequestMessage!.RequestUri!;
                var destinationId = destination.DestinationId;
                var principal = Security.BearerAuthentication.PrincipalOf(http);
                rewrite = endpoint => LegacyEndpoint(server, publicPath, destinationId, upstreamUri, endpoint, principal);
            }
            return new ValueTask(relay.RelayAsync(http, upstream, rewrite, server));
        });
    }

    /// <summary>
    /// The edge URL for an upstream's HTTP+SSE endpoint: <c>{publicPath}/message?sessionId={token}</c>,
    /// the token sealing the replica and the upstream POST path and query (resolved against the
    /// upstream SSE URL; only path and query are kept, so POSTs always go to the same replica).
    /// </summary>
    private string LegacyEndpoint(string server, string publicPath, string destinationId, Uri upstreamSseUri, string upstreamEndpoint, string? principal)
    {
        var resolved = new Uri(upstreamSseUri, upstreamEndpoint.Trim());
        var token = sealer.Seal(SessionTokenKind.LegacySse, server, destinationId, resolved.PathAndQuery, principal);
        return $"{publicPath}{McpProxyConfigBuilder.LegacyMessageSuffix}?{McpHeaders.LegacySessionQuery}={token}";
    }

    private static bool IsEventStream(HttpResponseMessage response) =>
        response.Content.Headers.NonValidated.TryGetValues("Content-Type", out var values)
        && values.Count == 1 && SseFraming.IsEventStream(values.ToString());
}
