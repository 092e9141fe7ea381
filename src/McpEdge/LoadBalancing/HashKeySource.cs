using McpEdge.Protocol;

namespace McpEdge.LoadBalancing;

/// <summary>
/// Where <see cref="ConsistentHashLoadBalancingPolicy"/> takes a request's key from, as written in
/// <c>LoadBalancing:HashKey</c>: <c>header:NAME</c> (first value of a request header),
/// <c>query:NAME</c> (first value of a query parameter), <c>mcp-name</c> (the tool, prompt or
/// resource named by the request: <c>params.name</c>/<c>params.uri</c> from the parsed body, which
/// the <c>Mcp-Name</c> header of MCP 2026-07-28 basic/transports/streamable-http.mdx "Standard
/// Headers" must match; the header alone for requests without a parsed body) or <c>principal</c> (the authenticated
/// user's name, when the edge authenticates).
/// </summary>
internal sealed record HashKeySource(HashKeyKind Kind, string Name)
{
    /// <summary>The default source, <c>mcp-name</c>.</summary>
    public static readonly HashKeySource McpNameSource = new(HashKeyKind.McpName, McpHeaders.Name);

    /// <summary>The accepted spellings, for error messages.</summary>
    public const string Syntax = "'header:NAME', 'query:NAME', 'mcp-name' or 'principal'";

    /// <summary>Parses a <c>HashKey</c> setting; false when it matches none of <see cref="Syntax"/>.</summary>
    public static bool TryParse(string? text, out HashKeySource source)
    {
        source = McpNameSource;
        var value = text?.Trim() ?? "";
        if (value.Equals("mcp-name", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        if (value.Equals("principal", StringComparison.OrdinalIgnoreCase))
        {
            source = new HashKeySource(HashKeyKind.Principal, "");
            return true;
        }
        var colon = value.IndexOf(':');
        if (colon <= 0 || colon == value.Length - 1)
        {
            return false;
        }
        var name = value[(colon + 1)..].Trim();
        var kind = value[..colon].Trim();
        if (kind.Equals("header", StringComparison.OrdinalIgnoreCase) && name.All(c => c > ' ' && c < 127 && c != ':'))
        {
            source = new HashKeySource(HashKeyKind.Header, name);
            return true;
        }
        if (kind.Equals("query", StringComparison.OrdinalIgnoreCase))
        {
            source = new HashKeySource(HashKeyKind.Query, name);
            return true;
        }
        return false;
    }

    /// <summary>The request's key, or null when it has none (the policy then falls back to least-response-time).</summary>
    public string? GetKey(HttpContext context)
    {
        string? key = Kind switch
        {
            HashKeyKind.McpName => context.Features.Get<JsonRpcMessageFeature>()?.Name
                ?? (context.Request.Headers.TryGetValue(Name, out var mcpName) && mcpName.Count > 0 ? mcpName[0] : null),
            HashKeyKind.Header => context.Request.Headers.TryGetValue(Name, out var header) && header.Count > 0 ? header[0] : null,
            HashKeyKind.Query => context.Request.Query.TryGetValue(Name, out var query) && query.Count > 0 ? query[0] : null,
            HashKeyKind.Principal => Security.BearerAuthentication.PrincipalOf(context),
            _ => null,
        };
        return string.IsNullOrEmpty(key) ? null : key;
    }
}

/// <summary>Kinds of <see cref="HashKeySource"/>.</summary>
internal enum HashKeyKind
{
    /// <summary>A request header.</summary>
    Header,
    /// <summary>The tool, prompt or resource URI of the JSON-RPC request (<see cref="JsonRpcMessageFeature.Name"/>), else the <c>Mcp-Name</c> header.</summary>
    McpName,
    /// <summary>A query parameter.</summary>
    Query,
    /// <summary>The authenticated principal's name.</summary>
    Principal,
}
