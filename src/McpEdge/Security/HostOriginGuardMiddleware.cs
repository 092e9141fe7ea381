using McpEdge.Configuration;
using McpEdge.Protocol;
using Microsoft.Extensions.Primitives;

namespace McpEdge.Security;

/// <summary>
/// DNS-rebinding guard in front of every route, before anything is proxied
/// (MCP 2025-11-25 basic/transports.mdx, "Security Warning"; 2026-07-28
/// basic/transports/streamable-http.mdx, "Security &amp; Endpoint").
/// </summary>
/// <remarks>
/// A <c>Host</c> that matches none of <see cref="SecurityOptions.AllowedHosts"/> gets 400; an
/// <c>Origin</c> that is present and not allowed gets 403. Both answers carry a JSON-RPC error
/// with a null id. Matching uses ASP.NET Core's <see cref="HostString.MatchesAny"/> (ports are
/// ignored, <c>*.example.com</c> matches subdomains); <c>*</c> allows any. The options are read
/// per request from <see cref="McpEdgeConfigState"/>, so hot reload applies at once.
/// </remarks>
public sealed partial class HostOriginGuardMiddleware(RequestDelegate next, McpEdgeConfigState config, ILogger<HostOriginGuardMiddleware> logger)
{
    private Rules _rules = Rules.From(config.Current.Security);

    /// <summary>Runs the guard.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var rules = _rules;
        if (!ReferenceEquals(rules.Source, config.Current.Security))
        {
            _rules = rules = Rules.From(config.Current.Security);
        }

        var host = context.Request.Host;
        if (!rules.AnyHost && (!host.HasValue || !HostString.MatchesAny(host.Value, rules.Hosts)))
        {
            LogHostRejected(logger, host.Value ?? "");
            return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status400BadRequest, McpErrorCodes.InvalidRequest,
                "Host not allowed.");
        }

        var origin = context.Request.Headers.Origin;
        if (origin.Count > 0 && !IsOriginAllowed(rules, origin))
        {
            LogOriginRejected(logger, origin.ToString());
            return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status403Forbidden, McpErrorCodes.Forbidden,
                "Origin not allowed.");
        }
        return next(context);
    }

    private static bool IsOriginAllowed(Rules rules, StringValues origin)
    {
        if (origin.Count != 1)
        {
            return false;
        }
        var value = origin.ToString();
        if (rules.AnyOrigin)
        {
            return true;
        }
        if (rules.Origins.Count > 0)
        {
            return rules.Origins.Contains(value.TrimEnd('/'));
        }
        // No explicit origins: an origin is allowed when its host is an allowed host ("null" and other opaque origins are not).
        return Uri.TryCreate(value, UriKind.Absolute, out var uri)
            && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && (rules.AnyHost || HostString.MatchesAny(uri.Host, rules.Hosts));
    }

    private sealed record Rules(SecurityOptions Source, bool AnyHost, StringSegment[] Hosts, bool AnyOrigin, HashSet<string> Origins)
    {
        public static Rules From(SecurityOptions options)
        {
            var hosts = options.EffectiveAllowedHosts;
            return new Rules(
                options,
                hosts.Contains("*"),
                hosts.Select(h => new StringSegment(h)).ToArray(),
                options.AllowedOrigins.Contains("*"),
                new HashSet<string>(options.AllowedOrigins.Select(o => o.TrimEnd('/')), StringComparer.OrdinalIgnoreCase));
        }
    }

    [LoggerMessage(EventId = 30, Level = LogLevel.Information, Message = "Request with Host '{Host}' rejected with 400 (not in McpEdge:Security:AllowedHosts).")]
    private static partial void LogHostRejected(ILogger logger, string host);

    [LoggerMessage(EventId = 31, Level = LogLevel.Information, Message = "Request with Origin '{Origin}' rejected with 403 (not in McpEdge:Security:AllowedOrigins).")]
    private static partial void LogOriginRejected(ILogger logger, string origin);
}
