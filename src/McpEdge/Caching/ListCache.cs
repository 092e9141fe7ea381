using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using McpEdge.Protocol;
using McpEdge.Sessions;
using Microsoft.Extensions.Caching.Hybrid;

namespace McpEdge.Caching;

/// <summary>Who may be answered with a cached list result.</summary>
public enum ListCacheScope
{
    /// <summary>Only the session that fetched it (the default for results without <c>cacheScope</c>).</summary>
    Session,

    /// <summary>The same principal: authenticated user, else the same <c>Authorization</c> value (<c>cacheScope: private</c>).</summary>
    Principal,

    /// <summary>Every caller of the server (<c>cacheScope: public</c>).</summary>
    Shared,
}

/// <summary>
/// A cached list result (immutable, stored by reference): the upstream's <c>result</c> value as it
/// sent it, where its <c>ttlMs</c> value sits (rewritten on a hit to the time left), and when it
/// stops being fresh (a <see cref="TimeProvider"/> timestamp).
/// </summary>
/// <param name="Result">The raw JSON of <c>result</c>.</param>
/// <param name="TtlOffset">Where the <c>ttlMs</c> number starts in <paramref name="Result"/>, -1 when there is none.</param>
/// <param name="TtlLength">That number's length in bytes.</param>
/// <param name="ExpiresAt">The timestamp (<see cref="TimeProvider.GetTimestamp"/>) at which the result is stale.</param>
/// <param name="Scope">Who may be answered with it.</param>
public sealed record CachedListResult(byte[] Result, int TtlOffset, int TtlLength, long ExpiresAt, ListCacheScope Scope);

/// <summary>
/// The cache of MCP list results (<c>tools/list</c>, <c>prompts/list</c>, <c>resources/list</c>,
/// <c>resources/templates/list</c>; MCP 2026-07-28 server/utilities/caching.mdx) over a
/// <see cref="HybridCache"/>: keys, the scope each server's results were last seen to have,
/// invalidation on <c>notifications/*/list_changed</c>, and the <c>McpEdge.Caching</c> meter.
/// </summary>
/// <remarks>
/// A key is <c>{server}\n{method}\n{MCP-Protocol-Version}\n{cursor}\n{partition}</c>, where the
/// partition is <c>*</c> (shared), <c>p:{principal}</c> or <c>s:{session token}</c>. The principal is
/// the authenticated user's name, else a SHA-256 digest of the <c>Authorization</c> header (never the
/// header itself); a request without either is partitioned by its session, or not cached, for a
/// <c>private</c> result. Entries are tagged <c>{server}\n{method}</c>, which a <c>list_changed</c>
/// notification of that server drops (for every scope: a change seen in one session may be a change for all).
/// </remarks>
public sealed partial class ListCache
{
    private static readonly string[] ListMethods = [McpMethods.ToolsList, McpMethods.PromptsList, McpMethods.ResourcesList, McpMethods.ResourceTemplatesList];

    private readonly ConcurrentDictionary<(string Server, string Method), ListCacheScope> _learned = new();
    private readonly ILogger<ListCache> _logger;
    private readonly Counter<long> _hits;
    private readonly Counter<long> _misses;
    private readonly Counter<long> _bypasses;
    private readonly Counter<long> _invalidations;

    /// <summary>Creates the cache front.</summary>
    public ListCache(HybridCache store, IMeterFactory meters, ILogger<ListCache> logger)
    {
        Store = store;
        _logger = logger;
        var meter = meters.Create("McpEdge.Caching");
        _hits = meter.CreateCounter<long>("mcpedge.cache.hits", "{request}", "List requests answered by the edge from its cache (including ones that waited for a concurrent fetch).");
        _misses = meter.CreateCounter<long>("mcpedge.cache.misses", "{request}", "List requests sent upstream to fill the cache.");
        _bypasses = meter.CreateCounter<long>("mcpedge.cache.bypasses", "{request}", "List requests sent upstream because their answer could not be cached or shared.");
        _invalidations = meter.CreateCounter<long>("mcpedge.cache.invalidations", "{notification}", "list_changed notifications that dropped cached results.");
        Evictions = meter.CreateCounter<long>("mcpedge.cache.evictions", "{entry}", "Cached results evicted to stay under Caching:MaxBytes.");
    }

    /// <summary>The underlying cache.</summary>
    public HybridCache Store { get; }

    /// <summary>Counts entries evicted for room (incremented by the store's eviction callback).</summary>
    internal Counter<long> Evictions { get; }

    /// <summary>True for the four list methods whose results are cached.</summary>
    public static bool IsListMethod(string? method) =>
        method is McpMethods.ToolsList or McpMethods.PromptsList or McpMethods.ResourcesList or McpMethods.ResourceTemplatesList;

    /// <summary>The list methods a <c>notifications/*/list_changed</c> method makes stale (resources covers templates too); empty for others.</summary>
    public static ReadOnlySpan<string> MethodsChangedBy(string notification) => notification switch
    {
        McpMethods.ToolsListChanged => ListMethods.AsSpan(0, 1),
        McpMethods.PromptsListChanged => ListMethods.AsSpan(1, 1),
        McpMethods.ResourcesListChanged => ListMethods.AsSpan(2, 2),
        _ => [],
    };

    /// <summary>The tag of one server's results of one method.</summary>
    public static string Tag(string server, string method) => string.Concat(server.ToLowerInvariant(), "\n", method);

    /// <summary>
    /// Drops every cached result of <paramref name="server"/> that <paramref name="notification"/>
    /// (a <c>notifications/*/list_changed</c> method) covers.
    /// </summary>
    public void ListChanged(string server, string notification)
    {
        foreach (var method in MethodsChangedBy(notification))
        {
            var removal = Store.RemoveByTagAsync(Tag(server, method));
            if (!removal.IsCompletedSuccessfully)
            {
                _ = removal.AsTask();
            }
            _invalidations.Add(1, new("mcp.server", server), new("mcp.method.name", method));
        }
        LogListChanged(_logger, server, notification);
    }

    /// <summary>The scope to key a request by: what the server's last cacheable answer said, else <paramref name="configured"/>.</summary>
    internal ListCacheScope ScopeFor(string server, string method, ListCacheScope configured) =>
        _learned.TryGetValue((server, method), out var scope) ? scope : configured;

    /// <summary>Remembers the scope of the server's latest cacheable answer for <paramref name="method"/>.</summary>
    internal void Learn(string server, string method, ListCacheScope scope) => _learned[(server, method)] = scope;

    /// <summary>Parses a configured scope name (<c>session</c>, <c>principal</c>, <c>shared</c>).</summary>
    public static ListCacheScope ParseScope(string name) => name.ToLowerInvariant() switch
    {
        "shared" => ListCacheScope.Shared,
        "principal" => ListCacheScope.Principal,
        _ => ListCacheScope.Session,
    };

    internal void Hit(string server, string method) => _hits.Add(1, new("mcp.server", server), new("mcp.method.name", method));

    internal void Miss(string server, string method) => _misses.Add(1, new("mcp.server", server), new("mcp.method.name", method));

    internal void Bypass(string server, string method) => _bypasses.Add(1, new("mcp.server", server), new("mcp.method.name", method));

    [LoggerMessage(EventId = 82, Level = LogLevel.Debug, Message = "{Notification} from server {Server}: cached results dropped.")]
    private static partial void LogListChanged(ILogger logger, string server, string notification);
}

/// <summary>What keys one list request: everything but the partition, and the partitions it could use.</summary>
/// <param name="Prefix"><c>{server}\n{method}\n{version}\n{cursor}</c>.</param>
/// <param name="Session">The client's session token, or null.</param>
/// <param name="Principal">The principal's partition value, or null for an anonymous caller.</param>
internal readonly record struct ListCacheRequest(string Prefix, string? Session, string? Principal)
{
    /// <summary>Describes the request in <paramref name="context"/>.</summary>
    public static ListCacheRequest From(HttpContext context, string server, JsonRpcMessageFeature message)
    {
        var version = context.Request.Headers[McpHeaders.ProtocolVersion].ToString();
        var cursor = message.Envelope.GetCursor(message.Body.Span);
        var prefix = string.Concat(server.ToLowerInvariant(), "\n", message.Method, "\n", version, "\n", cursor is null ? "-" : "c:" + cursor);
        return new ListCacheRequest(prefix, context.Features.Get<McpSessionFeature>()?.ClientToken, PrincipalOf(context));
    }

    /// <summary>The key for <paramref name="scope"/>; null when the request cannot use that scope (no session for a session-scoped result).</summary>
    public string? KeyFor(ListCacheScope scope) => scope switch
    {
        ListCacheScope.Shared => Prefix + "\n*",
        ListCacheScope.Principal when Principal is not null => Prefix + "\np:" + Principal,
        // A private result for an anonymous caller is kept per session, which is narrower.
        _ => Session is null ? null : Prefix + "\ns:" + Session,
    };

    /// <summary>The authenticated user's name, else a digest of the <c>Authorization</c> header, else null.</summary>
    public static string? PrincipalOf(HttpContext context)
    {
        if (Security.BearerAuthentication.PrincipalOf(context) is { } name)
        {
            return "u:" + name;
        }
        var authorization = context.Request.Headers.Authorization;
        if (authorization.Count == 0)
        {
            return null;
        }
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(authorization.ToString()), digest);
        return "a:" + Convert.ToHexString(digest[..16]);
    }
}
