namespace McpEdge.Sessions;

/// <summary>What a sealed session token stands for; part of the authenticated data, so one kind never opens as another.</summary>
public enum SessionTokenKind : byte
{
    /// <summary>A Streamable HTTP <c>Mcp-Session-Id</c>; the sealed value is the upstream's session id.</summary>
    StreamableHttp = 1,

    /// <summary>An HTTP+SSE (2024-11-05) message endpoint; the sealed value is the upstream's POST path and query.</summary>
    LegacySse = 2,
}

/// <summary>What an opened token names: the replica (YARP destination id) and the upstream's own value.</summary>
/// <param name="DestinationId">The YARP destination id of the replica that created the session.</param>
/// <param name="UpstreamValue">The upstream session id (<see cref="SessionTokenKind.StreamableHttp"/>) or POST path and query (<see cref="SessionTokenKind.LegacySse"/>).</param>
public readonly record struct SessionTarget(string DestinationId, string UpstreamValue);
