using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using McpEdge.Protocol;

namespace McpEdge.Health;

/// <summary>What one probe of one replica found.</summary>
/// <param name="Healthy">True when the replica answered as an MCP server should.</param>
/// <param name="Kind">The probe that ran (<see cref="ProbeKinds"/>).</param>
/// <param name="Error">Why it failed, for operators; null when healthy.</param>
/// <param name="DurationMs">Wall time of the probe in milliseconds.</param>
public sealed record ProbeResult(bool Healthy, string Kind, string? Error, double DurationMs);

/// <summary>
/// Runs one active probe against one replica. Every probe has a hard deadline
/// (<see cref="Configuration.ActiveProbeOptions.Timeout"/>) covering connect and every step.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>discover</c> (MCP 2026-07-28 server/discover.mdx): POST <c>server/discover</c> with
/// <c>MCP-Protocol-Version: 2026-07-28</c> and <c>Mcp-Method</c>; healthy on a JSON-RPC result, in a
/// JSON or an SSE body.</item>
/// <item><c>session</c> (MCP 2025-11-25 basic/lifecycle.mdx, basic/utilities/ping.mdx): initialize →
/// notifications/initialized → ping, then DELETE of the session so probes leave nothing behind.</item>
/// <item><c>auto</c>: <c>discover</c>; when the replica answers it with 400/404/405 or a JSON-RPC
/// error (it does not speak 2026-07-28), <c>session</c> in the same probe, and <c>session</c> straight
/// away on later probes of that replica until one fails.</item>
/// <item><c>sse-endpoint</c> (MCP 2024-11-05 basic/transports.mdx, HTTP with SSE): GET the SSE URL,
/// healthy once the <c>endpoint</c> event arrives; the stream is then closed.</item>
/// <item><c>http</c>: GET the configured path on the replica's origin; any 2xx is healthy.</item>
/// </list>
/// </remarks>
public sealed class McpHealthProber : IDisposable
{
    /// <summary>The client name the probes announce in <c>clientInfo</c>.</summary>
    public const string ClientName = "mcpedge-probe";

    private const string ModernRevision = "2026-07-28";
    private const string SessionRevision = "2025-11-25";
    private const int MaxBodyBytes = 1024 * 1024;
    private static readonly MediaTypeWithQualityHeaderValue Json = new("application/json");
    private static readonly MediaTypeWithQualityHeaderValue EventStream = new("text/event-stream");

    /// <summary>
    /// Headers a probe sets itself, which <see cref="Configuration.ActiveProbeOptions.Headers"/> may not
    /// name: the framing and routing ones and those of the MCP exchange.
    /// </summary>
    public static readonly IReadOnlySet<string> ReservedHeaders = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Upgrade", "TE", "Accept",
        McpHeaders.SessionId, McpHeaders.ProtocolVersion, McpHeaders.Method, McpHeaders.Name,
    };

    private readonly HttpMessageInvoker _client;
    private readonly bool _ownsClient;
    private readonly Dictionary<Forwarder.UpstreamTlsContext, HttpMessageInvoker> _tlsClients = [];

    /// <summary>A prober with its own connection pool (no proxy, no cookies, no redirects).</summary>
    public McpHealthProber()
        : this(new HttpMessageInvoker(NewHandler()), ownsClient: true)
    {
    }

    private static SocketsHttpHandler NewHandler() => new()
    {
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
    };

    /// <summary>A prober over a given client (tests).</summary>
    internal McpHealthProber(HttpMessageInvoker client, bool ownsClient)
    {
        _client = client;
        _ownsClient = ownsClient;
    }

    /// <summary>Probes <paramref name="upstream"/>.</summary>
    /// <param name="upstream">The replica's MCP endpoint (or SSE URL for the <c>sse</c> transport).</param>
    /// <param name="httpVersion">The server's <see cref="Configuration.McpServerOptions.UpstreamHttpVersion"/>
    /// (<see cref="Configuration.UpstreamHttpVersions"/>): probes speak what the proxied requests speak.</param>
    /// <param name="kind">A value of <see cref="ProbeKinds"/>, already resolved for the transport (not <c>auto</c> for <c>sse</c>).</param>
    /// <param name="httpPath">The path for <c>http</c> probes.</param>
    /// <param name="timeout">The deadline of the whole probe.</param>
    /// <param name="preferSession">For <c>auto</c>: skip <c>discover</c> (the replica did not speak it last time).</param>
    /// <param name="tls">The server's upstream TLS, as its proxied requests use it; null for the system's trust and no client certificate.</param>
    /// <param name="headers">Headers every request of the probe carries (<see cref="Configuration.ActiveProbeOptions.Headers"/>, validated), or null.</param>
    /// <param name="cancellationToken">Stops the probe (shutdown).</param>
    /// <returns>The result and, for <c>auto</c>, whether the replica answered <c>discover</c>.</returns>
    public async Task<(ProbeResult Result, bool? SpeaksDiscover)> ProbeAsync(Uri upstream, string httpVersion, string kind, string? httpPath, TimeSpan timeout, bool preferSession,
        Forwarder.UpstreamTlsContext? tls, IReadOnlyDictionary<string, string>? headers, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var ct = deadline.Token;
        var target = new Target(upstream, Configuration.UpstreamHttpVersions.Resolve(httpVersion) ?? Configuration.UpstreamHttpVersions.YarpDefault, ClientFor(tls),
            headers is { Count: > 0 } ? headers : null);
        var ran = kind;
        bool? speaksDiscover = null;
        try
        {
            string? error;
            switch (kind.ToLowerInvariant())
            {
                case ProbeKinds.Http:
                    error = await HttpAsync(target with { Uri = new Uri(upstream, httpPath ?? "/") }, ct);
                    break;
                case ProbeKinds.SseEndpoint:
                    error = await SseEndpointAsync(target, ct);
                    break;
                case ProbeKinds.Session:
                    error = await SessionAsync(target, ct);
                    break;
                case ProbeKinds.Discover:
                    (error, _) = await DiscoverAsync(target, ct);
                    break;
                default:
                    if (preferSession)
                    {
                        ran = ProbeKinds.Session;
                        error = await SessionAsync(target, ct);
                        break;
                    }
                    ran = ProbeKinds.Discover;
                    (error, var notModern) = await DiscoverAsync(target, ct);
                    speaksDiscover = error is null;
                    if (notModern)
                    {
                        ran = ProbeKinds.Session;
                        error = await SessionAsync(target, ct);
                        speaksDiscover = false;
                    }
                    break;
            }
            return (new ProbeResult(error is null, ran, error, Elapsed(started)), speaksDiscover);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (new ProbeResult(false, ran, $"no answer within {timeout.TotalMilliseconds:0} ms", Elapsed(started)), speaksDiscover);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or JsonException or InvalidOperationException)
        {
            return (new ProbeResult(false, ran, $"{ex.GetType().Name}: {ex.Message}", Elapsed(started)), speaksDiscover);
        }
    }

    private async Task<(string? Error, bool NotModern)> DiscoverAsync(Target upstream, CancellationToken ct)
    {
        const string body = """{"jsonrpc":"2.0","id":"mcpedge-probe-discover","method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"mcpedge-probe","version":"1.0.0"},"io.modelcontextprotocol/clientCapabilities":{}}}}""";
        using var request = Post(upstream, body, ModernRevision, sessionId: null);
        request.Headers.TryAddWithoutValidation(McpHeaders.Method, "server/discover");
        using var response = await upstream.Client.SendAsync(request, ct);
        var status = (int)response.StatusCode;
        if (status is 400 or 404 or 405)
        {
            return ($"server/discover answered HTTP {status}", true);
        }
        if (!response.IsSuccessStatusCode)
        {
            return (Answered("server/discover", response), false);
        }
        var (result, error) = await ReadResponseAsync(response, "mcpedge-probe-discover", ct);
        if (error is not null)
        {
            return ($"server/discover: {error}", result == Outcome.JsonRpcError);
        }
        return (null, false);
    }

    private async Task<string?> SessionAsync(Target upstream, CancellationToken ct)
    {
        const string initialize = """{"jsonrpc":"2.0","id":"mcpedge-probe-init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpedge-probe","version":"1.0.0"}}}""";
        string? sessionId;
        string? version;
        using (var request = Post(upstream, initialize, null, null))
        using (var response = await upstream.Client.SendAsync(request, ct))
        {
            if (!response.IsSuccessStatusCode)
            {
                return Answered("initialize", response);
            }
            sessionId = response.Headers.TryGetValues(McpHeaders.SessionId, out var values) ? values.FirstOrDefault() : null;
            var (_, error, result) = await ReadResponseWithResultAsync(response, "mcpedge-probe-init", ct);
            if (error is not null)
            {
                return $"initialize: {error}";
            }
            version = result.ValueKind == JsonValueKind.Object && result.TryGetProperty("protocolVersion", out var v) && v.ValueKind == JsonValueKind.String
                ? v.GetString() : SessionRevision;
        }

        try
        {
            using (var request = Post(upstream, """{"jsonrpc":"2.0","method":"notifications/initialized"}""", version, sessionId))
            using (var response = await upstream.Client.SendAsync(request, ct))
            {
                if (!response.IsSuccessStatusCode)
                {
                    return Answered("notifications/initialized", response);
                }
            }
            using (var request = Post(upstream, """{"jsonrpc":"2.0","id":"mcpedge-probe-ping","method":"ping"}""", version, sessionId))
            using (var response = await upstream.Client.SendAsync(request, ct))
            {
                if (!response.IsSuccessStatusCode)
                {
                    return Answered("ping", response);
                }
                var (_, error) = await ReadResponseAsync(response, "mcpedge-probe-ping", ct);
                return error is null ? null : $"ping: {error}";
            }
        }
        finally
        {
            if (sessionId is not null)
            {
                await DeleteSessionAsync(upstream, sessionId, version);
            }
        }
    }

    /// <summary>Ends the probe's session; best effort (a server may answer 405), bounded to 2 s.</summary>
    private async Task DeleteSessionAsync(Target upstream, string sessionId, string? version)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        using var request = upstream.Request(HttpMethod.Delete);
        request.Headers.TryAddWithoutValidation(McpHeaders.SessionId, sessionId);
        if (version is not null)
        {
            request.Headers.TryAddWithoutValidation(McpHeaders.ProtocolVersion, version);
        }
        try
        {
            using var response = await upstream.Client.SendAsync(request, cts.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            // The session times out on the server.
        }
    }

    private async Task<string?> HttpAsync(Target url, CancellationToken ct)
    {
        using var request = url.Request(HttpMethod.Get);
        using var response = await url.Client.SendAsync(request, ct);
        return response.IsSuccessStatusCode ? null : Answered($"GET {url.Uri.PathAndQuery}", response);
    }

    private async Task<string?> SseEndpointAsync(Target upstream, CancellationToken ct)
    {
        using var request = upstream.Request(HttpMethod.Get);
        request.Headers.Accept.Add(EventStream);
        using var response = await upstream.Client.SendAsync(request, ct);
        if (!response.IsSuccessStatusCode)
        {
            return Answered("GET", response);
        }
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var read = 0;
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            read += line.Length + 1;
            if (line.StartsWith("event:", StringComparison.Ordinal) && line[6..].Trim() == "endpoint")
            {
                return null;
            }
            if (read > MaxBodyBytes)
            {
                break;
            }
        }
        return "the SSE stream sent no endpoint event";
    }

    /// <summary>
    /// "<paramref name="step"/> answered HTTP n"; for 401 and 403 with what to do about it, since a
    /// replica that checks tokens itself refuses a probe without one.
    /// </summary>
    private static string Answered(string step, HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        return status is 401 or 403
            ? $"{step} answered HTTP {status}: the replica wants credentials; give the probe some with HealthCheck:Active:Headers, or probe a path that needs none (Probe: http)"
            : $"{step} answered HTTP {status}";
    }

    private static HttpRequestMessage Post(Target upstream, string json, string? version, string? sessionId)
    {
        var request = upstream.Request(HttpMethod.Post);
        request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        request.Headers.Accept.Add(Json);
        request.Headers.Accept.Add(EventStream);
        if (version is not null)
        {
            request.Headers.TryAddWithoutValidation(McpHeaders.ProtocolVersion, version);
        }
        if (sessionId is not null)
        {
            request.Headers.TryAddWithoutValidation(McpHeaders.SessionId, sessionId);
        }
        return request;
    }

    private enum Outcome { Result, JsonRpcError, Invalid }

    private static async Task<(Outcome Outcome, string? Error)> ReadResponseAsync(HttpResponseMessage response, string id, CancellationToken ct)
    {
        var (outcome, error, _) = await ReadResponseWithResultAsync(response, id, ct);
        return (outcome, error);
    }

    /// <summary>Finds the JSON-RPC response with <paramref name="id"/> in a JSON body or in the <c>data</c> of an SSE event.</summary>
    private static async Task<(Outcome Outcome, string? Error, JsonElement Result)> ReadResponseWithResultAsync(HttpResponseMessage response, string id, CancellationToken ct)
    {
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        if (string.Equals(mediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase))
        {
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var data = new StringBuilder();
            var read = 0;
            while (true)
            {
                var line = await reader.ReadLineAsync(ct);
                if (line is null || line.Length == 0)
                {
                    if (data.Length > 0)
                    {
                        var found = Match(data.ToString(), id);
                        if (found is not null)
                        {
                            return found.Value;
                        }
                        data.Clear();
                    }
                    if (line is null)
                    {
                        return (Outcome.Invalid, "the SSE stream ended without the response", default);
                    }
                    continue;
                }
                read += line.Length + 1;
                if (read > MaxBodyBytes)
                {
                    return (Outcome.Invalid, "no response in the first MiB of the SSE stream", default);
                }
                if (line.StartsWith("data:", StringComparison.Ordinal))
                {
                    data.Append(line.AsSpan(line.Length > 5 && line[5] == ' ' ? 6 : 5)).Append('\n');
                }
            }
        }

        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int n;
        while ((n = await stream.ReadAsync(chunk, ct)) > 0)
        {
            buffer.Write(chunk, 0, n);
            if (buffer.Length > MaxBodyBytes)
            {
                return (Outcome.Invalid, "the response is larger than 1 MiB", default);
            }
        }
        return Match(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length), id)
            ?? (Outcome.Invalid, $"the answer is not the JSON-RPC response (content type '{mediaType}')", default);
    }

    private static (Outcome, string?, JsonElement)? Match(string json, string id)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("id", out var idElement)
                || idElement.ValueKind != JsonValueKind.String || idElement.GetString() != id)
            {
                return null;
            }
            if (root.TryGetProperty("result", out var result))
            {
                return (Outcome.Result, null, result.Clone());
            }
            if (root.TryGetProperty("error", out var error))
            {
                var code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetRawText() : "?";
                var message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : "";
                return (Outcome.JsonRpcError, $"JSON-RPC error {code} {message}", default);
            }
            return (Outcome.Invalid, "a JSON-RPC response without result or error", default);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static double Elapsed(long started) => Stopwatch.GetElapsedTime(started).TotalMilliseconds;

    /// <summary>
    /// The client for probes over <paramref name="tls"/>: the shared one without, else one per set of
    /// TLS files (kept while they are in use: a change of the files makes a new one and ends the old).
    /// </summary>
    private HttpMessageInvoker ClientFor(Forwarder.UpstreamTlsContext? tls)
    {
        if (tls is null)
        {
            return _client;
        }
        lock (_tlsClients)
        {
            if (_tlsClients.TryGetValue(tls, out var client))
            {
                return client;
            }
            var handler = NewHandler();
            tls.Apply(handler.SslOptions);
            client = new HttpMessageInvoker(handler);
            // Contexts no longer in use (their files changed) give their clients up.
            foreach (var stale in _tlsClients.Keys.Where(k => !k.IsCurrent).ToList())
            {
                _tlsClients.Remove(stale, out var old);
                old!.Dispose();
            }
            _tlsClients[tls] = client;
            return client;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsClient)
        {
            _client.Dispose();
        }
        lock (_tlsClients)
        {
            foreach (var client in _tlsClients.Values)
            {
                client.Dispose();
            }
            _tlsClients.Clear();
        }
    }

    /// <summary>A replica's URL, the HTTP version and version policy its requests use, and the configured probe headers.</summary>
    private readonly record struct Target(Uri Uri, (Version Version, HttpVersionPolicy Policy) HttpVersion, HttpMessageInvoker Client, IReadOnlyDictionary<string, string>? Headers)
    {
        public HttpRequestMessage Request(HttpMethod method)
        {
            var request = new HttpRequestMessage(method, Uri) { Version = HttpVersion.Version, VersionPolicy = HttpVersion.Policy };
            if (Headers is not null)
            {
                foreach (var (name, value) in Headers)
                {
                    request.Headers.TryAddWithoutValidation(name, value);
                }
            }
            return request;
        }
    }
}
