namespace McpEdge.Protocol;

/// <summary>HTTP header names of the MCP Streamable HTTP transport (MCP 2025-03-26 … 2026-07-28, basic/transports).</summary>
public static class McpHeaders
{
    /// <summary><c>Mcp-Session-Id</c>: assigned by the server in the initialize response, sent on every later request (2025-03-26 … 2025-11-25).</summary>
    public const string SessionId = "Mcp-Session-Id";
    /// <summary><c>MCP-Protocol-Version</c>: sent on every request after initialize (2025-06-18 and later).</summary>
    public const string ProtocolVersion = "MCP-Protocol-Version";
    /// <summary><c>Mcp-Method</c>: mirrors the JSON-RPC method (2026-07-28).</summary>
    public const string Method = "Mcp-Method";
    /// <summary><c>Mcp-Name</c>: mirrors <c>params.name</c> or <c>params.uri</c> (2026-07-28).</summary>
    public const string Name = "Mcp-Name";
    /// <summary><c>Last-Event-ID</c>: resumes an SSE stream (2025-03-26 … 2025-11-25).</summary>
    public const string LastEventId = "Last-Event-ID";
    /// <summary><c>X-Accel-Buffering</c>: <c>no</c> tells intermediaries not to buffer an SSE response.</summary>
    public const string AccelBuffering = "X-Accel-Buffering";
    /// <summary>The query parameter that carries the session of the HTTP+SSE transport's POST URL (2024-11-05, as servers name it).</summary>
    public const string LegacySessionQuery = "sessionId";
}
