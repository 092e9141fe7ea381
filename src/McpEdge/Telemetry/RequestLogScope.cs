using System.Collections;
using System.Globalization;
using System.Text;
using McpEdge.LoadBalancing;
using McpEdge.Protocol;
using McpEdge.Sessions;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Telemetry;

/// <summary>
/// The log scope of one request to an MCP server: every log line written while the request is in
/// the proxy pipeline carries these properties (Serilog reads a scope's pairs when each line is
/// written, so values learnt later, such as the replica, appear on later lines).
/// </summary>
/// <remarks>
/// Properties, each present only once known:
/// <list type="bullet">
/// <item><c>Server</c>: the configured MCP server (YARP cluster id);</item>
/// <item><c>Method</c>: the JSON-RPC method, clipped to 64 characters (<c>batch</c>, <c>response</c>,
/// <c>invalid</c>, or the HTTP method for GET and DELETE);</item>
/// <item><c>Tool</c> / <c>Prompt</c>: the name in <c>tools/call</c> / <c>prompts/get</c>, clipped to
/// 128 characters (resource URIs are not logged: they may carry credentials);</item>
/// <item><c>Principal</c>: the authenticated principal (the bearer token's <c>sub</c> or configured
/// claim, <see cref="Security.BearerAuthentication.PrincipalOf"/>), clipped to 128 characters, once
/// authentication passed; never the token;</item>
/// <item><c>Replica</c>: the destination id the request was forwarded to;</item>
/// <item><c>Session</c>: <see cref="Hash"/> of the sealed session token the client sent (or, for
/// <c>initialize</c>, the one the edge issued): 16 hex digits, never the token and never the
/// upstream's own session id.</item>
/// <item><c>RequestId</c> and <c>ConnectionId</c>: Kestrel's ids of the request
/// (<see cref="HttpContext.TraceIdentifier"/>) and of its connection.</item>
/// </list>
/// Request and response bodies, headers, query strings and credentials are never logged.
/// </remarks>
internal sealed class RequestLogScope : IReadOnlyList<KeyValuePair<string, object>>
{
    private HttpContext? _context;
    private readonly string _server;
    private string? _method;
    private string? _tool;
    private string? _prompt;
    private string? _principal;
    private string? _replica;
    private string? _session;
    private string? _requestId;
    private string? _connectionId;

    internal RequestLogScope(HttpContext context, string server)
    {
        _context = context;
        _server = server;
    }

    /// <summary>A stable, non-reversible log id for a sealed session token: XXH64 of its UTF-8, 16 lower-case hex digits.</summary>
    public static string Hash(string token) => XxHash64.HashUtf8(token).ToString("x16", CultureInfo.InvariantCulture);

    /// <summary>The <c>Method</c> property, once known.</summary>
    internal string? Method => _method;

    /// <summary>
    /// Lets go of the request (its body buffer goes back to the pool). With <paramref name="keepValues"/>
    /// the final values are taken first, for lines written after the end (the access log); without, only
    /// the values earlier lines already needed stay, and a request that logged nothing costs nothing here.
    /// </summary>
    internal void Complete(bool keepValues)
    {
        if (keepValues)
        {
            Refresh();
        }
        _context = null;
    }

    /// <summary>The sealed session token of a request: the one the client sent, else the one the edge issued (<c>initialize</c>); null without.</summary>
    internal static string? SessionToken(HttpContext context)
    {
        var token = context.Features.Get<McpSessionFeature>()?.ClientToken;
        if (token is null && context.Response.HasStarted && context.Response.Headers.TryGetValue(McpHeaders.SessionId, out var issued))
        {
            token = issued.ToString();
        }
        return string.IsNullOrEmpty(token) ? null : token;
    }

    private void Refresh()
    {
        var context = _context;
        if (context is null)
        {
            return;
        }
        if (_method is null && context.Features.Get<JsonRpcMessageFeature>() is { } message)
        {
            _method = message.Kind is JsonRpcKind.Request or JsonRpcKind.Notification && message.Method is { } name
                ? Clip(name, 64) : EdgeMetrics.MethodLabel(context.Request, message);
            if (message.Name is { } target)
            {
                if (message.Method == McpMethods.ToolsCall)
                {
                    _tool = Clip(target, 128);
                }
                else if (message.Method == McpMethods.PromptsGet)
                {
                    _prompt = Clip(target, 128);
                }
            }
        }
        _requestId ??= context.TraceIdentifier;
        _connectionId ??= context.Connection.Id;
        if (_principal is null && Security.BearerAuthentication.PrincipalOf(context) is { } principal)
        {
            _principal = Clip(principal, 128);
        }
        _replica ??= context.Features.Get<IReverseProxyFeature>()?.ProxiedDestination?.DestinationId;
        if (_session is null && SessionToken(context) is { } token)
        {
            _session = Hash(token);
        }
    }

    private static string Clip(string value, int max) => value.Length <= max ? value : value[..max];

    private IEnumerable<KeyValuePair<string, object>> Pairs()
    {
        Refresh();
        yield return new("Server", _server);
        if (_method is not null)
        {
            yield return new("Method", _method);
        }
        if (_tool is not null)
        {
            yield return new("Tool", _tool);
        }
        if (_prompt is not null)
        {
            yield return new("Prompt", _prompt);
        }
        if (_principal is not null)
        {
            yield return new("Principal", _principal);
        }
        if (_replica is not null)
        {
            yield return new("Replica", _replica);
        }
        if (_session is not null)
        {
            yield return new("Session", _session);
        }
        if (_requestId is not null)
        {
            yield return new("RequestId", _requestId);
            yield return new("ConnectionId", _connectionId!);
        }
    }

    /// <inheritdoc />
    public int Count => Pairs().Count();

    /// <inheritdoc />
    public KeyValuePair<string, object> this[int index] => Pairs().ElementAt(index);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, object>> GetEnumerator() => Pairs().GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary><c>Server=… Method=… …</c>, for providers that render scopes as text.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var (key, value) in Pairs())
        {
            text.Append(text.Length == 0 ? "" : " ").Append(key).Append('=').Append(value);
        }
        return text.ToString();
    }
}
