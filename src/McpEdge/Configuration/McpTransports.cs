namespace McpEdge.Configuration;

/// <summary>Names of the upstream transports a server can be configured with.</summary>
public static class McpTransports
{
    /// <summary>Streamable HTTP (MCP 2025-03-26 basic/transports.mdx and later): one endpoint, POST/GET/DELETE.</summary>
    public const string StreamableHttp = "streamable-http";

    /// <summary>HTTP+SSE (MCP 2024-11-05 basic/transports.mdx): <c>GET</c> stream whose <c>endpoint</c> event names the POST URL.</summary>
    public const string Sse = "sse";

    internal static bool IsKnown(string? value) => value is StreamableHttp or Sse;
}
