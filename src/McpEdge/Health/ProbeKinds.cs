namespace McpEdge.Health;

/// <summary>The kinds of active probe (<c>HealthCheck:Active:Probe</c>). See <see cref="McpHealthProber"/>.</summary>
public static class ProbeKinds
{
    /// <summary><c>auto</c>: <see cref="Discover"/>, falling back to <see cref="Session"/> for replicas that do not speak MCP 2026-07-28; for the <c>sse</c> transport, <see cref="SseEndpoint"/>.</summary>
    public const string Auto = "auto";
    /// <summary><c>discover</c>: POST <c>server/discover</c> (MCP 2026-07-28 server/discover.mdx); healthy on a JSON-RPC result.</summary>
    public const string Discover = "discover";
    /// <summary><c>session</c>: initialize → notifications/initialized → ping → DELETE (MCP 2025-03-26 … 2025-11-25 basic/lifecycle.mdx, basic/utilities/ping.mdx).</summary>
    public const string Session = "session";
    /// <summary><c>http</c>: GET a configured path on the replica's origin; any 2xx is healthy.</summary>
    public const string Http = "http";
    /// <summary><c>sse-endpoint</c>: for the HTTP+SSE transport (MCP 2024-11-05): GET the SSE URL and wait for the <c>endpoint</c> event.</summary>
    public const string SseEndpoint = "sse-endpoint";

    /// <summary>Every accepted value.</summary>
    public static readonly IReadOnlyList<string> All = [Auto, Discover, Session, Http, SseEndpoint];

    /// <summary>True for a value of <see cref="All"/> (case-insensitive).</summary>
    public static bool IsKnown(string? value) => value is not null && All.Contains(value, StringComparer.OrdinalIgnoreCase);
}
