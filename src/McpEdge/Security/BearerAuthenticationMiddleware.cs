using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using McpEdge.Configuration;
using McpEdge.Protocol;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace McpEdge.Security;

/// <summary>
/// Proxy-pipeline step (after request telemetry, before the body is read) that lets a request to
/// an MCP server with <see cref="ServerAuthenticationOptions"/> through only with a valid bearer
/// token (<see cref="ServerBearerAuthenticator.AuthenticateAsync"/>), and sets
/// <see cref="HttpContext.User"/> to its principal for the steps after it (rate limits, stream
/// limits, list cache, <c>ConsistentHash</c> on <c>principal</c>, session sealing).
/// </summary>
/// <remarks>
/// Refusals never reach an upstream and carry a JSON-RPC error with a null id (the body is not read
/// for an unauthenticated request) and the code -32000, with the status and challenge of MCP
/// 2026-07-28 <c>basic/authorization/index.mdx</c>, "Error Handling": 401 with
/// <c>WWW-Authenticate: Bearer resource_metadata="…"</c> (and <c>error="invalid_token"</c> for a token
/// that does not validate), 403 <c>insufficient_scope</c>, 400 <c>invalid_request</c>; 503 with
/// <c>Retry-After</c> while the authorization server's keys cannot be fetched or its introspection endpoint does not answer (5 s), or
/// while <see cref="TokenIntrospectionOptions.MaxConcurrent"/> introspections are in flight (1 s): neither accepted nor
/// refused, so a client does not start a new authorization. Each is logged (event 120, without the
/// token) and counted in <c>mcpedge.auth.rejections</c> by reason. With
/// <see cref="ServerAuthenticationOptions.ForwardAuthorization"/> off, the <c>Authorization</c>
/// header is removed before forwarding. <see cref="ServerAuthenticationOptions.PrincipalHeader"/> and
/// <see cref="ServerAuthenticationOptions.ScopesHeader"/> are set (replacing anything the client sent
/// under those names) for the replicas. A server without bearer authentication takes the subject of
/// a TLS client certificate, when the listener asked for one and it was valid
/// (<see cref="TlsOptions.ClientCertificateMode"/>), as the request's principal.
/// </remarks>
internal sealed partial class BearerAuthenticationMiddleware(RequestDelegate next, BearerAuthentication authentication, Telemetry.EdgeMetrics metrics, ILogger<BearerAuthenticationMiddleware> logger)
{
    /// <summary>The <c>Retry-After</c> (seconds) of a 503 while the authorization server's keys or introspection are unavailable.</summary>
    public const int UnavailableRetryAfterSeconds = 5;

    /// <summary>The <c>Retry-After</c> (seconds) of a 503 while <see cref="TokenIntrospectionOptions.MaxConcurrent"/> introspections are in flight.</summary>
    public const int BusyRetryAfterSeconds = 1;

    /// <summary>The authentication type of a principal named by a TLS client certificate.</summary>
    public const string CertificateAuthenticationType = "Certificate";

    private static readonly ConditionalWeakTable<X509Certificate2, ClaimsPrincipal> CertificatePrincipals = [];

    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var server = context.GetReverseProxyFeature().Cluster.Config.ClusterId;
        var authenticator = authentication.For(server);
        if (authenticator is not null)
        {
            return AuthenticateAsync(context, authenticator);
        }
        // Without bearer authentication, a client certificate the listener validated (McpEdge:Tls:ClientCertificateMode)
        // names the principal: one per connection's certificate, its subject.
        if (context.Features.Get<ITlsConnectionFeature>()?.ClientCertificate is { } certificate)
        {
            context.User = CertificatePrincipals.GetValue(certificate, static c =>
                new ClaimsPrincipal(new ClaimsIdentity([new Claim("sub", c.Subject)], CertificateAuthenticationType, "sub", null)));
        }
        return next(context);
    }

    private async Task AuthenticateAsync(HttpContext context, ServerBearerAuthenticator authenticator)
    {
        var result = await authenticator.AuthenticateAsync(context.Request.Headers.Authorization, context.RequestAborted);
        if (result.Outcome == BearerOutcome.Authenticated)
        {
            context.User = result.Principal!;
            var options = authenticator.Options;
            if (!options.ForwardAuthorization)
            {
                context.Request.Headers.Remove(HeaderNames.Authorization);
            }
            if (options.PrincipalHeader is { } principalHeader)
            {
                context.Request.Headers[principalHeader] = ((BearerPrincipal)result.Principal!).PrincipalHeaderValue;
            }
            if (options.ScopesHeader is { } scopesHeader)
            {
                context.Request.Headers[scopesHeader] = ((BearerPrincipal)result.Principal!).ScopesHeaderValue;
            }
            await next(context);
            return;
        }

        metrics.AuthRejected(authenticator.Server, result.Reason);
        var (status, message) = result.Outcome switch
        {
            BearerOutcome.Missing => (StatusCodes.Status401Unauthorized, "Unauthorized: this MCP server needs a bearer token; see WWW-Authenticate."),
            BearerOutcome.InvalidRequest => (StatusCodes.Status400BadRequest, "Bad Request: " + result.Description),
            BearerOutcome.InsufficientScope => (StatusCodes.Status403Forbidden, "Forbidden: " + result.Description),
            BearerOutcome.Unavailable => (StatusCodes.Status503ServiceUnavailable, "Service Unavailable: the authorization server could not be reached to check the access token; try again."),
            _ => (StatusCodes.Status401Unauthorized, "Unauthorized: " + result.Description),
        };
        if (result.Outcome == BearerOutcome.Unavailable)
        {
            LogUnavailable(logger, authenticator.Server, authenticator.Options.Issuer!, result.Detail ?? "");
            await JsonRpcErrorResponse.WriteAsync(context, status, McpErrorCodes.Unauthorized, message,
                result.Reason == ServerBearerAuthenticator.IntrospectionBusy ? BusyRetryAfterSeconds : UnavailableRetryAfterSeconds);
            return;
        }
        LogRejected(logger, authenticator.Server, status, result.Reason, result.Description);
        await JsonRpcErrorResponse.WriteAsync(context, status, McpErrorCodes.Unauthorized, message, HeaderNames.WWWAuthenticate, authenticator.Challenge(result));
    }

    [LoggerMessage(EventId = 120, Level = LogLevel.Information, Message = "Request for server {Server} refused with {StatusCode} ({Reason}): {Description}")]
    private static partial void LogRejected(ILogger logger, string server, int statusCode, string reason, string description);

    [LoggerMessage(EventId = 121, Level = LogLevel.Warning, Message = "Request for server {Server} answered 503: the authorization server {Issuer} could not be reached to check the token: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string server, string issuer, string reason);
}

/// <summary>
/// Serves each authenticated MCP server's Protected Resource Metadata (RFC 9728 §3) at
/// <c>/.well-known/oauth-protected-resource</c> followed by its resource's path (and its path on
/// the edge): <c>GET</c>/<c>HEAD</c> get 200 <c>application/json</c>, cacheable for 5 minutes;
/// other methods 405. A path under the prefix that names no such server gets 404. Runs after the
/// Host/Origin guard and CORS, so a browser client of an allowed origin can read it.
/// </summary>
internal sealed class ProtectedResourceMetadataMiddleware(RequestDelegate next, BearerAuthentication authentication)
{
    /// <summary>Answers the metadata paths; passes everything else on.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value;
        if (path is null || !path.StartsWith(ProtectedResourceMetadata.WellKnownPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return next(context);
        }
        var response = context.Response;
        if (authentication.ForMetadataPath(path) is not { } authenticator)
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return Task.CompletedTask;
        }
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        response.Headers.CacheControl = "public, max-age=300";
        response.ContentLength = authenticator.MetadataDocument.Length;
        return HttpMethods.IsHead(context.Request.Method)
            ? Task.CompletedTask
            : response.Body.WriteAsync(authenticator.MetadataDocument, context.RequestAborted).AsTask();
    }
}
