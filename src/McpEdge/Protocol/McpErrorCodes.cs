namespace McpEdge.Protocol;

/// <summary>JSON-RPC 2.0 error codes the edge answers with (JSON-RPC 2.0 §5.1; MCP schema.json of each revision).</summary>
public static class McpErrorCodes
{
    /// <summary>-32700 Parse error: the body is not JSON (JSON-RPC 2.0), answered with HTTP 400.</summary>
    public const int ParseError = -32700;
    /// <summary>-32600 Invalid Request (JSON-RPC 2.0).</summary>
    public const int InvalidRequest = -32600;
    /// <summary>-32602 Invalid params (JSON-RPC 2.0): a <c>params</c> member the edge reads has the wrong type for its method, with HTTP 400.</summary>
    public const int InvalidParams = -32602;
    /// <summary>-32000 generic server error, used with HTTP 403 for a rejected <c>Origin</c> (as the official SDKs do).</summary>
    public const int Forbidden = -32000;
    /// <summary>-32000 generic server error, used with HTTP 401/403/400 when a bearer token is missing, does not validate or lacks a scope, and 503 while the authorization server's keys are unavailable (MCP 2026-07-28 basic/authorization/index.mdx, "Error Handling").</summary>
    public const int Unauthorized = -32000;
    /// <summary>-32000 generic server error, used with HTTP 429/503 when a stream limit refuses a new stream (with <c>Retry-After</c>).</summary>
    public const int LimitExceeded = -32000;
    /// <summary>-32020 HeaderMismatch: <c>Mcp-Method</c>/<c>Mcp-Name</c> missing or not matching the body, with HTTP 400 (MCP 2026-07-28 basic/transports/streamable-http.mdx, "Server Validation").</summary>
    public const int HeaderMismatch = -32020;
    /// <summary>-32603 Internal error (JSON-RPC 2.0): an element of a split batch that the upstream left unanswered or the edge could not forward, and a request the edge answers 502/503/504 itself (no replica reached, none available, no answer in time).</summary>
    public const int InternalError = -32603;
    /// <summary>-32002 resource not found (MCP 2025-11-25 <c>server/resources.mdx</c>, "Error Handling"), for revisions before 2026-07-28, which answers -32602 instead (and asks clients to accept both).</summary>
    public const int ResourceNotFound = -32002;
    /// <summary>-32001 session not found, used with HTTP 404: the signal on which clients start a new session (MCP 2025-11-25 basic/transports.mdx, "Session Management").</summary>
    public const int SessionNotFound = -32001;

    /// <summary>
    /// The JSON-RPC error code and message text (JSON-RPC 2.0 §5.1) for a message that
    /// <see cref="JsonRpcEnvelope.Parse"/> refused: -32700 "Parse error", -32600 "Invalid Request" or
    /// -32602 "Invalid params".
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="status"/> is <see cref="JsonRpcParseStatus.Ok"/>.</exception>
    public static (int Code, string Text) ForParseStatus(JsonRpcParseStatus status) => status switch
    {
        JsonRpcParseStatus.ParseError => (ParseError, "Parse error"),
        JsonRpcParseStatus.InvalidRequest => (InvalidRequest, "Invalid Request"),
        JsonRpcParseStatus.InvalidParams => (InvalidParams, "Invalid params"),
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "not a refusal"),
    };
}
