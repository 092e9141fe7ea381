using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.Net.Http.Headers;

namespace McpEdge.Security;

/// <summary>
/// CORS for browser MCP clients (the Inspector's direct mode, web apps), with ASP.NET Core's
/// <see cref="ICorsService"/>: a preflight from an allowed origin is answered by the edge (204,
/// never proxied), and every answer to an allowed origin lets the page read it, including the
/// <c>Mcp-Session-Id</c> it must send back (MCP 2025-11-25 <c>basic/transports.mdx</c>, "Session
/// Management"). Runs after <see cref="HostOriginGuardMiddleware"/>, so the origins are exactly those
/// the DNS-rebinding guard lets through (<see cref="Configuration.SecurityOptions.AllowedOrigins"/>, or
/// those on an allowed host); a disallowed one has had its 403 already.
/// </summary>
/// <remarks>
/// Allowed: <c>GET</c>, <c>POST</c>, <c>DELETE</c>, and whatever request headers the preflight
/// names (echoed, so <c>Authorization</c>, <c>Mcp-Session-Id</c>, <c>MCP-Protocol-Version</c>,
/// <c>Last-Event-ID</c>, <c>Mcp-Method</c>, <c>Mcp-Name</c>, <c>Mcp-Param-*</c> all pass); exposed:
/// <c>Mcp-Session-Id</c>, <c>MCP-Protocol-Version</c>, <c>WWW-Authenticate</c> (the authorization
/// flow's resource metadata) and <c>Retry-After</c>; no credentials (MCP authorizes with a bearer
/// token, not cookies); preflights cached 10 minutes. An upstream's own <c>Access-Control-*</c>
/// headers are replaced, so the browser never sees two answers. Requests without <c>Origin</c>
/// (every non-browser client) pass untouched.
/// </remarks>
public sealed class CorsMiddleware(RequestDelegate next, ICorsService cors)
{
    /// <summary>The edge's CORS policy (the origin is vetted by the guard before this step).</summary>
    public static readonly CorsPolicy Policy = new CorsPolicyBuilder()
        .SetIsOriginAllowed(static _ => true)
        .WithMethods(HttpMethods.Get, HttpMethods.Post, HttpMethods.Delete)
        .AllowAnyHeader()
        .WithExposedHeaders(Protocol.McpHeaders.SessionId, Protocol.McpHeaders.ProtocolVersion, HeaderNames.WWWAuthenticate, HeaderNames.RetryAfter)
        .SetPreflightMaxAge(TimeSpan.FromMinutes(10))
        .Build();

    /// <summary>Answers a preflight, or marks the answer readable by the requesting origin, then runs the rest.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Headers.ContainsKey(HeaderNames.Origin))
        {
            return next(context);
        }
        var result = cors.EvaluatePolicy(context, Policy);
        if (result.IsPreflightRequest)
        {
            cors.ApplyResult(result, context.Response);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        }
        context.Response.OnStarting(static state =>
        {
            var (http, service, evaluated) = ((HttpContext, ICorsService, CorsResult))state;
            foreach (var header in http.Response.Headers.Keys.Where(k => k.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase)).ToList())
            {
                http.Response.Headers.Remove(header);
            }
            service.ApplyResult(evaluated, http.Response);
            return Task.CompletedTask;
        }, (context, cors, result));
        return next(context);
    }
}
