namespace McpEdge.Sessions;

/// <summary>
/// Set on <see cref="HttpContext.Features"/> by <see cref="SessionRoutingMiddleware"/> when a
/// request carries a session token that opened: which token the client sent and what it names.
/// </summary>
/// <param name="ClientToken">The sealed token exactly as the client sent it.</param>
/// <param name="Kind">The kind of token.</param>
/// <param name="Target">The replica and upstream value it names.</param>
public sealed record McpSessionFeature(string ClientToken, SessionTokenKind Kind, SessionTarget Target);
