namespace McpEdge.Configuration;

/// <summary>
/// The <c>McpEdge</c> configuration section: the MCP servers the edge fronts, how sessions are
/// sealed and which hosts and origins may call it. Bound from JSON with environment-variable
/// overrides in the usual ASP.NET Core way (<c>McpEdge__Servers__github__Upstreams__0=...</c>).
/// </summary>
public sealed record McpEdgeOptions
{
    /// <summary>The configuration section name, <c>McpEdge</c>.</summary>
    public const string SectionName = "McpEdge";

    /// <summary>The MCP servers, keyed by name. The name is part of the default public path and of every route and cluster id.</summary>
    public Dictionary<string, McpServerOptions> Servers { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How session ids are sealed. See <see cref="McpSessionOptions"/>.</summary>
    public McpSessionOptions Sessions { get; init; } = new();

    /// <summary>The DNS-rebinding guard. See <see cref="SecurityOptions"/>.</summary>
    public SecurityOptions Security { get; init; } = new();
}

/// <summary>One MCP server: a stable public path on the edge and one or more upstream replicas behind it.</summary>
public sealed record McpServerOptions
{
    /// <summary>The public path on the edge, an absolute path such as <c>/mcp/github</c>. Default: <c>/mcp/{name}</c>.</summary>
    public string? Path { get; init; }

    /// <summary>
    /// The upstream transport: <c>streamable-http</c> (MCP 2025-03-26 and later, the default) or
    /// <c>sse</c> (the HTTP+SSE transport of MCP 2024-11-05). See <see cref="McpTransports"/>.
    /// </summary>
    public string Transport { get; init; } = McpTransports.StreamableHttp;

    /// <summary>
    /// The upstream replicas: absolute http(s) URLs of each replica's MCP endpoint
    /// (for <c>streamable-http</c>, e.g. <c>http://10.0.0.5:3001/mcp</c>) or SSE endpoint
    /// (for <c>sse</c>, e.g. <c>http://10.0.0.5:3001/sse</c>). At least one.
    /// </summary>
    public List<string> Upstreams { get; init; } = [];

    /// <summary>
    /// The YARP load-balancing policy name for requests that carry no session
    /// (<c>PowerOfTwoChoices</c> by default; also <c>RoundRobin</c>, <c>Random</c>,
    /// <c>LeastRequests</c>, <c>FirstAlphabetical</c>).
    /// </summary>
    public string LoadBalancingPolicy { get; init; } = "PowerOfTwoChoices";

    /// <summary>Upstream timeouts.</summary>
    public TimeoutOptions Timeouts { get; init; } = new();
}

/// <summary>Upstream timeouts of one MCP server.</summary>
public sealed record TimeoutOptions
{
    /// <summary>How long to wait for a TCP (and TLS) connection to a replica. Default 5 s. A session whose replica cannot be connected to in this time gets 404.</summary>
    public TimeSpan Connect { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long to wait for the upstream's response headers, and between body reads of a
    /// non-streaming (JSON) response: YARP's <c>ForwarderRequestConfig.ActivityTimeout</c>.
    /// Default 100 s. SSE streams are relayed by the edge and are not cut by it.
    /// </summary>
    public TimeSpan Response { get; init; } = TimeSpan.FromSeconds(100);
}

/// <summary>
/// Session sealing keys. The first key seals; every key opens (rotation: put the new key first,
/// keep the old ones until their sessions have ended). Each key is a secret of at least 32
/// characters; the AES-256-GCM key is derived from it once at start-up with HKDF-SHA256.
/// With no key at all, the edge uses a random per-process key and warns that replicas of the
/// edge will not share sessions.
/// </summary>
public sealed record McpSessionOptions
{
    /// <summary>Secrets, newest first.</summary>
    public List<string> Keys { get; init; } = [];

    /// <summary>A file (e.g. a mounted Kubernetes secret) with one secret per line, newest first; blank lines and lines starting with <c>#</c> are skipped. Its keys come after <see cref="Keys"/>.</summary>
    public string? KeyFile { get; init; }
}

/// <summary>
/// The DNS-rebinding guard (MCP 2025-11-25 basic/transports.mdx, "Security Warning"): a request
/// whose <c>Host</c> is not allowed gets 400 before anything is proxied; a request that carries an
/// <c>Origin</c> that is not allowed gets 403 with a JSON-RPC error body.
/// </summary>
public sealed record SecurityOptions
{
    /// <summary>Allowed <c>Host</c> values (ASP.NET Core host filtering syntax: <c>example.com</c>, <c>*.example.com</c>, <c>*</c> for any). Default: <c>localhost</c>, <c>127.0.0.1</c>, <c>[::1]</c>.</summary>
    public List<string> AllowedHosts { get; init; } = [];

    /// <summary>
    /// Allowed <c>Origin</c> values, exact (<c>https://app.example.com</c>) or <c>*</c>. When empty,
    /// an origin is allowed if its host is an allowed host. Requests without <c>Origin</c> (non-browser clients) are always allowed.
    /// </summary>
    public List<string> AllowedOrigins { get; init; } = [];

    /// <summary>The host list used when <see cref="AllowedHosts"/> is empty.</summary>
    public static readonly IReadOnlyList<string> DefaultAllowedHosts = ["localhost", "127.0.0.1", "[::1]"];

    /// <summary>The effective host list.</summary>
    public IReadOnlyList<string> EffectiveAllowedHosts => AllowedHosts.Count > 0 ? AllowedHosts : DefaultAllowedHosts;
}
