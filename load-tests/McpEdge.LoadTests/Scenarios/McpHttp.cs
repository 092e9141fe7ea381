using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using McpEdge.LoadTests.Engine;

namespace McpEdge.LoadTests.Scenarios;

/// <summary>Raw JSON-RPC over Streamable HTTP with <see cref="HttpClient"/>: what the scenarios that measure the edge itself send.</summary>
public sealed class McpHttp(HttpClient client, Uri endpoint)
{
    /// <summary>The MCP endpoint.</summary>
    public Uri Endpoint { get; } = endpoint;

    /// <summary>The client (one per target, pooled connections).</summary>
    public HttpClient Client { get; } = client;

    /// <summary>A client with no overall timeout (steps have their own) and enough connections.</summary>
    public static HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        MaxConnectionsPerServer = 256,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>
    /// A POST of <paramref name="json"/>; with <paramref name="session"/> the <c>Mcp-Session-Id</c>
    /// (2025-11-25), else 2026-07-28 stateless headers (<c>MCP-Protocol-Version</c>, <c>Mcp-Method</c>,
    /// and <c>Mcp-Name</c> when <paramref name="name"/> is given).
    /// </summary>
    public HttpRequestMessage Post(string json, string method, string? name = null, string? session = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Endpoint) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (session is not null)
        {
            request.Headers.Add("Mcp-Session-Id", session);
            request.Headers.Add("MCP-Protocol-Version", "2025-11-25");
        }
        else
        {
            request.Headers.Add("MCP-Protocol-Version", "2026-07-28");
            request.Headers.Add("Mcp-Method", method);
            if (name is not null)
            {
                request.Headers.Add("Mcp-Name", name);
            }
        }
        return request;
    }

    /// <summary>Opens a 2025-11-25 session and returns its id.</summary>
    /// <exception cref="InvalidOperationException">The target did not open one.</exception>
    public async Task<string> InitializeAsync(CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Endpoint)
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpedge-load","version":"1"}}}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        using var response = await Client.SendAsync(request, cancellation);
        if (!response.Headers.TryGetValues("Mcp-Session-Id", out var ids))
        {
            throw new InvalidOperationException($"{Endpoint}: initialize answered {(int)response.StatusCode} without a session");
        }
        var session = ids.Single();
        using var initialized = Post("""{"jsonrpc":"2.0","method":"notifications/initialized"}""", "notifications/initialized", session: session);
        using var _ = await Client.SendAsync(initialized, cancellation);
        return session;
    }

    /// <summary>Ends a session (DELETE); failures are ignored.</summary>
    public async Task DeleteAsync(string session)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, Endpoint);
        request.Headers.Add("Mcp-Session-Id", session);
        try
        {
            using var _ = await Client.SendAsync(request);
        }
        catch (HttpRequestException)
        {
            // The target may be gone (failover scenario).
        }
    }

    /// <summary>
    /// Sends <paramref name="request"/> and classifies the answer: ok for a 200 whose body is a
    /// JSON-RPC result (JSON, or the last <c>data:</c> of an SSE body); else <c>http {status}</c>
    /// or <c>jsonrpc {code}</c>.
    /// </summary>
    public async Task<StepResult> SendAsync(HttpRequestMessage request, CancellationToken cancellation)
    {
        using var response = await Client.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellation);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return StepResult.Fail($"http {(int)response.StatusCode}");
        }
        var body = await response.Content.ReadAsStringAsync(cancellation);
        return Classify(body);
    }

    /// <summary>The outcome of a JSON-RPC answer body (JSON or SSE).</summary>
    public static StepResult Classify(string body)
    {
        var json = body.TrimStart().StartsWith('{') ? body : LastData(body);
        if (json is null)
        {
            return StepResult.Fail("no response");
        }
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.TryGetProperty("error", out var error))
            {
                return StepResult.Fail($"jsonrpc {(error.TryGetProperty("code", out var code) ? code.ToString() : "?")}");
            }
            return document.RootElement.TryGetProperty("result", out _) ? StepResult.Success : StepResult.Fail("no result");
        }
        catch (JsonException)
        {
            return StepResult.Fail("bad json");
        }
    }

    private static string? LastData(string sse) =>
        sse.Split('\n').Where(l => l.StartsWith("data:", StringComparison.Ordinal)).Select(l => l[5..].Trim()).LastOrDefault(l => l.StartsWith('{'));
}
