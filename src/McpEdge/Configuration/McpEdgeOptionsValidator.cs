using System.Text.RegularExpressions;

namespace McpEdge.Configuration;

/// <summary>
/// Validates a bound <see cref="McpEdgeOptions"/>. Every error names the setting by its
/// configuration path (<c>McpEdge:Servers:github:Upstreams:0</c>) so that the same text works for
/// JSON files and for environment variables (<c>__</c> for <c>:</c>).
/// </summary>
public static partial class McpEdgeOptionsValidator
{
    /// <summary>Policy names YARP 2.1 ships (<c>Yarp.ReverseProxy.LoadBalancing.LoadBalancingPolicies</c>).</summary>
    public static readonly IReadOnlyCollection<string> YarpPolicies =
        ["PowerOfTwoChoices", "FirstAlphabetical", "Random", "RoundRobin", "LeastRequests"];

    /// <summary>Public paths the edge keeps for itself.</summary>
    public static readonly IReadOnlyCollection<string> ReservedPaths = ["/healthz", "/readyz", "/metrics"];

    /// <summary>The shortest accepted session secret, in characters.</summary>
    public const int MinimumKeyLength = 32;

    /// <summary>Returns every problem found, empty when the options are valid.</summary>
    /// <param name="options">The bound options.</param>
    /// <param name="policyNames">The load-balancing policy names registered with YARP (case-insensitive).</param>
    public static IReadOnlyList<string> Validate(McpEdgeOptions options, IReadOnlyCollection<string> policyNames)
    {
        var errors = new List<string>();
        var prefix = McpEdgeOptions.SectionName;

        if (options.Servers.Count == 0)
        {
            errors.Add($"{prefix}:Servers: no MCP server is configured; add at least one under {prefix}:Servers:{{name}} with Upstreams (and pass the file with --config FILE or MCPEDGE_CONFIG).");
        }

        var paths = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, server) in options.Servers)
        {
            var at = $"{prefix}:Servers:{name}";
            if (!ServerName().IsMatch(name))
            {
                errors.Add($"{at}: the server name '{name}' may hold only letters, digits, '.', '_' and '-'.");
            }
            if (server is null)
            {
                errors.Add($"{at}: the server has no settings; it needs at least Upstreams.");
                continue;
            }

            var path = McpProxyConfigBuilder.PublicPath(name, server);
            if (!path.StartsWith('/') || path.Length < 2 || path.EndsWith('/') || path.IndexOfAny(['?', '#', '{', '}', '*', ' ']) >= 0)
            {
                errors.Add($"{at}:Path: '{path}' must be an absolute path such as /mcp/{name}, without a trailing '/', query, route parameter or space.");
            }
            else if (ReservedPaths.Any(r => path.Equals(r, StringComparison.OrdinalIgnoreCase) || path.StartsWith(r + "/", StringComparison.OrdinalIgnoreCase)))
            {
                errors.Add($"{at}:Path: '{path}' is reserved by the edge ({string.Join(", ", ReservedPaths)}).");
            }
            else if (!paths.TryAdd(path, name))
            {
                errors.Add($"{at}:Path: '{path}' is already the path of server '{paths[path]}'.");
            }

            if (!McpTransports.IsKnown(server.Transport))
            {
                errors.Add($"{at}:Transport: '{server.Transport}' is not a transport; use '{McpTransports.StreamableHttp}' or '{McpTransports.Sse}'.");
            }

            if (server.Upstreams.Count == 0)
            {
                errors.Add($"{at}:Upstreams: at least one upstream replica URL is needed.");
            }
            var ids = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < server.Upstreams.Count; i++)
            {
                var url = server.Upstreams[i];
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
                    || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
                {
                    errors.Add($"{at}:Upstreams:{i}: '{url}' is not an absolute http:// or https:// URL (without user info or fragment).");
                }
                else if (!ids.Add(McpProxyConfigBuilder.DestinationId(uri)))
                {
                    errors.Add($"{at}:Upstreams:{i}: '{url}' is listed twice.");
                }
            }

            if (!policyNames.Contains(server.LoadBalancingPolicy, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"{at}:LoadBalancingPolicy: '{server.LoadBalancingPolicy}' is not a known policy; use one of {string.Join(", ", policyNames.Order())}.");
            }

            if (server.Timeouts.Connect <= TimeSpan.Zero)
            {
                errors.Add($"{at}:Timeouts:Connect: '{server.Timeouts.Connect}' must be a positive time span such as 00:00:05.");
            }
            if (server.Timeouts.Response <= TimeSpan.Zero)
            {
                errors.Add($"{at}:Timeouts:Response: '{server.Timeouts.Response}' must be a positive time span such as 00:01:40.");
            }
        }

        for (var i = 0; i < options.Sessions.Keys.Count; i++)
        {
            if ((options.Sessions.Keys[i] ?? "").Length < MinimumKeyLength)
            {
                errors.Add($"{prefix}:Sessions:Keys:{i}: a session key must be a secret of at least {MinimumKeyLength} characters (e.g. `openssl rand -base64 32`).");
            }
        }
        if (options.Sessions.KeyFile is { Length: > 0 } keyFile && !File.Exists(keyFile))
        {
            errors.Add($"{prefix}:Sessions:KeyFile: the file '{keyFile}' does not exist.");
        }

        for (var i = 0; i < options.Security.AllowedOrigins.Count; i++)
        {
            var origin = options.Security.AllowedOrigins[i];
            if (origin != "*" && !(Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.AbsolutePath == "/" && !origin.EndsWith('/') && string.IsNullOrEmpty(uri.Query)))
            {
                errors.Add($"{prefix}:Security:AllowedOrigins:{i}: '{origin}' must be '*' or an origin such as https://app.example.com (scheme, host and optional port, nothing else).");
            }
        }
        for (var i = 0; i < options.Security.AllowedHosts.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(options.Security.AllowedHosts[i]) || options.Security.AllowedHosts[i].Contains('/'))
            {
                errors.Add($"{prefix}:Security:AllowedHosts:{i}: '{options.Security.AllowedHosts[i]}' must be a host name, 'host:port', '*.domain' or '*'.");
            }
        }

        return errors;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex ServerName();
}
