using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace McpEdge.SampleServer;

/// <summary>
/// A small MCP server over Streamable HTTP (MCP 2025-03-26 … 2025-11-25, basic/transports.mdx) for
/// McpEdge's quick start, tests and load tests. One process can listen on several ports; each
/// port is a separate replica with its own sessions (id <c>replica-{port}</c>), so a session
/// reached through the wrong port gets 404 as it would on another machine.
/// </summary>
/// <remarks>
/// POST <c>/mcp</c>: <c>initialize</c> (creates a session, <c>Mcp-Session-Id</c>), <c>ping</c>,
/// <c>tools/list</c>, <c>tools/call</c>; notifications and responses get 202. GET <c>/mcp</c>:
/// the session's standalone SSE stream. DELETE <c>/mcp</c>: ends the session. Tools: <c>echo</c>,
/// <c>add</c>, <c>whoami</c> (replica and session), <c>progress</c> (answers as SSE with
/// <c>notifications/progress</c> every <c>delayMs</c>), <c>notify</c> (sends a
/// <c>notifications/message</c> on the session's GET stream). A request for protocol version
/// 2026-07-28 (e.g. <c>server/discover</c>) gets 400 with the supported versions, so clients fall
/// back to <c>initialize</c>, unless the server runs with <c>--stateless true</c>: then 2026-07-28
/// requests are served without a session (see <c>StatelessAsync</c>).
/// <para>
/// Streams are resumable as 2025-11-25 <c>basic/transports.mdx</c> describes ("Resumability and
/// Redelivery"): every SSE event has an id <c>{stream}-{seq}</c> (stream 0 is the session's GET
/// stream), a session that negotiated 2025-11-25 gets a priming event (id, <c>retry:</c>, empty
/// <c>data</c>) first on each new stream, and a GET with <c>Last-Event-ID</c> replays that
/// stream's later events and then follows it live. A tool runs on its own, not tied to the
/// connection: a dropped connection is not a cancel (only <c>notifications/cancelled</c> or the
/// end of the session is), so a client that comes back, through any edge replica, gets the rest.
/// </para>
/// </remarks>
public static class SampleMcpServer
{
    public static readonly string[] SupportedVersions = ["2025-11-25", "2025-06-18", "2025-03-26"];

    /// <summary>The <c>retry:</c> (milliseconds) sent in priming events.</summary>
    public const int RetryMilliseconds = 1000;

    private const string ResumableVersion = "2025-11-25";

    /// <summary>The stateless revision, served only with <c>--stateless true</c> (otherwise 400, so clients fall back to <c>initialize</c>).</summary>
    public const string StatelessVersion = "2026-07-28";

    private static readonly ConcurrentDictionary<(int Port, string Id), Session> Sessions = new();

    private sealed class Session(string protocolVersion)
    {
        private const int KeptStreams = 64;
        private readonly ConcurrentDictionary<string, ResumableStream> _streams = new();
        private int _lastStream;

        public string ProtocolVersion { get; } = protocolVersion;

        /// <summary>Ended by DELETE: cancels the session's running tools.</summary>
        public CancellationTokenSource Lifetime { get; } = new();

        /// <summary>The GET stream (id 0): server notifications not tied to a request; the latest 1,000 kept.</summary>
        public ResumableStream Standalone { get; } = new("0", capacity: 1000);

        /// <summary>Running tools/call requests by JSON id, for notifications/cancelled.</summary>
        public ConcurrentDictionary<string, CancellationTokenSource> Running { get; } = new();

        public ResumableStream NewStream()
        {
            var id = Interlocked.Increment(ref _lastStream);
            var stream = new ResumableStream(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            _streams[stream.Id] = stream;
            // Keep the latest streams for resumption; forget finished ones beyond that.
            foreach (var old in _streams.Keys.Select(int.Parse).Where(k => k <= id - KeptStreams))
            {
                if (_streams.TryGetValue(old.ToString(System.Globalization.CultureInfo.InvariantCulture), out var s) && s.Completed)
                {
                    _streams.TryRemove(s.Id, out _);
                }
            }
            return stream;
        }

        public ResumableStream? Find(string id) => id == Standalone.Id ? Standalone : _streams.GetValueOrDefault(id);
    }

    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls("http://127.0.0.1:5101");
        }
        // The standard Kestrel section, which the slim builder does not bind: e.g.
        // --Kestrel:EndpointDefaults:Protocols=Http2 (or Kestrel__EndpointDefaults__Protocols=Http2)
        // serves cleartext HTTP/2 with prior knowledge only, for an edge with UpstreamHttpVersion "2".
        builder.WebHost.ConfigureKestrel((context, kestrel) => kestrel.Configure(context.Configuration.GetSection("Kestrel")));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var stateless = builder.Configuration.GetValue<bool>("stateless");
        var app = builder.Build();
        app.MapPost("/mcp", context => PostAsync(context, stateless));
        app.MapGet("/mcp", GetAsync);
        app.MapDelete("/mcp", Delete);
        return app;
    }

    private static string ReplicaId(HttpContext context) => $"replica-{context.Connection.LocalPort}";

    private static async Task PostAsync(HttpContext context, bool stateless)
    {
        JsonNode? message;
        try
        {
            message = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (JsonException)
        {
            await WriteJsonAsync(context, 400, Error(null, -32700, "Parse error"));
            return;
        }
        if (message is not JsonObject request)
        {
            await WriteJsonAsync(context, 400, Error(null, -32600, "Invalid Request: expected one JSON-RPC message"));
            return;
        }
        if (request["method"] is { } methodNode && methodNode.GetValueKind() != JsonValueKind.String)
        {
            await WriteJsonAsync(context, 400, Error(IdOrNull(request), -32600, "Invalid Request: method must be a string"));
            return;
        }
        try
        {
            await DispatchAsync(context, request, stateless);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException && !context.Response.HasStarted)
        {
            // A member of the wrong JSON type (a numeric protocolVersion, a string where a number
            // belongs): the client's mistake, so -32602 with the reason, never a 500.
            await WriteJsonAsync(context, 400, Error(IdOrNull(request), -32602, $"Invalid params: {e.Message}"));
        }
    }

    /// <summary>The request's id when it is one a response may carry (string or number), else null (JSON-RPC 2.0 §5).</summary>
    private static JsonNode? IdOrNull(JsonObject request) =>
        request["id"] is { } id && id.GetValueKind() is JsonValueKind.String or JsonValueKind.Number ? id.DeepClone() : null;

    private static async Task DispatchAsync(HttpContext context, JsonObject request, bool stateless)
    {
        var version = context.Request.Headers["MCP-Protocol-Version"].ToString();
        if (stateless && version == StatelessVersion)
        {
            await StatelessAsync(context, request);
            return;
        }
        if (version.Length > 0 && !SupportedVersions.Contains(version))
        {
            await WriteJsonAsync(context, 400, Error(request["id"], -32602, "Unsupported protocol version",
                new JsonObject { ["supported"] = new JsonArray(SupportedVersions.Select(v => (JsonNode)v).ToArray()), ["requested"] = version }));
            return;
        }

        var method = request["method"]?.GetValue<string>();
        var id = request["id"];
        var port = context.Connection.LocalPort;
        if (method is null || id is null)
        {
            // A notification or a response to a server request.
            if (method == "notifications/cancelled"
                && Sessions.TryGetValue((port, context.Request.Headers["Mcp-Session-Id"].ToString()), out var cancelling)
                && request["params"]?["requestId"] is { } requestId
                && cancelling.Running.TryGetValue(requestId.ToJsonString(), out var running))
            {
                running.Cancel();
            }
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            return;
        }

        if (method == "initialize")
        {
            var sessionId = Guid.NewGuid().ToString("N");
            var requested = request["params"]?["protocolVersion"]?.GetValue<string>();
            var negotiated = requested is not null && SupportedVersions.Contains(requested) ? requested : SupportedVersions[0];
            Sessions[(port, sessionId)] = new Session(negotiated);
            context.Response.Headers["Mcp-Session-Id"] = sessionId;
            await WriteJsonAsync(context, 200, Result(id, new JsonObject
            {
                ["protocolVersion"] = negotiated,
                ["capabilities"] = new JsonObject { ["tools"] = new JsonObject(), ["logging"] = new JsonObject() },
                ["serverInfo"] = new JsonObject { ["name"] = "mcpedge-sample", ["version"] = "1.0.0" },
                ["instructions"] = $"McpEdge sample server, {ReplicaId(context)}.",
            }));
            return;
        }

        var session = context.Request.Headers["Mcp-Session-Id"].ToString();
        if (session.Length == 0)
        {
            await WriteJsonAsync(context, 400, Error(id, -32600, "Bad Request: Mcp-Session-Id header is required"));
            return;
        }
        if (!Sessions.TryGetValue((port, session), out var state))
        {
            await WriteJsonAsync(context, 404, Error(id, -32001, "Session not found"));
            return;
        }

        switch (method)
        {
            case "ping":
                await WriteJsonAsync(context, 200, Result(id, new JsonObject()));
                return;
            case "tools/list":
                await WriteJsonAsync(context, 200, Result(id, new JsonObject { ["tools"] = Tools() }));
                return;
            case "tools/call":
                await CallToolAsync(context, id, request["params"] as JsonObject, session, state);
                return;
            default:
                await WriteJsonAsync(context, 200, Error(id, -32601, $"Method not found: {method}"));
                return;
        }
    }

    /// <summary>
    /// A 2026-07-28 request (with <c>--stateless true</c>): no session, every request stands alone
    /// (2026-07-28 basic/transports/streamable-http.mdx). <c>server/discover</c>, <c>ping</c>,
    /// <c>tools/list</c> and the tools <c>echo</c>, <c>add</c>, <c>whoami</c>; notifications get 202.
    /// </summary>
    private static async Task StatelessAsync(HttpContext context, JsonObject request)
    {
        var method = request["method"]?.GetValue<string>();
        var id = request["id"];
        if (method is null || id is null)
        {
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            return;
        }
        var parameters = request["params"] as JsonObject;
        var arguments = parameters?["arguments"] as JsonObject ?? [];
        var answer = (method, parameters?["name"]?.GetValue<string>()) switch
        {
            ("server/discover", _) => Result(id, new JsonObject
            {
                ["resultType"] = "complete",
                ["supportedVersions"] = new JsonArray(StatelessVersion),
                ["capabilities"] = new JsonObject { ["tools"] = new JsonObject() },
                ["_meta"] = new JsonObject { ["io.modelcontextprotocol/serverInfo"] = new JsonObject { ["name"] = "mcpedge-sample", ["version"] = "1.0.0" } },
            }),
            ("ping", _) => Result(id, new JsonObject()),
            ("tools/list", _) => Result(id, new JsonObject { ["resultType"] = "complete", ["tools"] = Tools() }),
            ("tools/call", "echo") => Result(id, Text($"Echo: {arguments["text"]?.ToString()}")),
            ("tools/call", "add") => Result(id, Text(((arguments["a"]?.GetValue<double>() ?? 0) + (arguments["b"]?.GetValue<double>() ?? 0))
                .ToString(System.Globalization.CultureInfo.InvariantCulture))),
            ("tools/call", "whoami") => Result(id, Text($"{ReplicaId(context)} stateless")),
            ("tools/call", var tool) => Error(id, -32602, $"Unknown tool (stateless): {tool}"),
            _ => Error(id, -32601, $"Method not found: {method}"),
        };
        await WriteJsonAsync(context, 200, answer);
    }

    private static async Task CallToolAsync(HttpContext context, JsonNode id, JsonObject? parameters, string session, Session state)
    {
        var name = parameters?["name"]?.GetValue<string>();
        var arguments = parameters?["arguments"] as JsonObject ?? [];
        switch (name)
        {
            case "echo":
                await WriteJsonAsync(context, 200, Result(id, Text($"Echo: {arguments["text"]?.ToString()}")));
                return;
            case "add":
                var sum = (arguments["a"]?.GetValue<double>() ?? 0) + (arguments["b"]?.GetValue<double>() ?? 0);
                await WriteJsonAsync(context, 200, Result(id, Text(sum.ToString(System.Globalization.CultureInfo.InvariantCulture))));
                return;
            case "whoami":
                await WriteJsonAsync(context, 200, Result(id, Text($"{ReplicaId(context)} session {session}")));
                return;
            case "notify":
                var text = arguments["text"]?.ToString() ?? "hello";
                state.Standalone.Append(Notification("notifications/message",
                    new JsonObject { ["level"] = "info", ["logger"] = "sample", ["data"] = text }).ToJsonString());
                await WriteJsonAsync(context, 200, Result(id, Text("queued")));
                return;
            case "progress":
                await ProgressAsync(context, id, parameters!, arguments, state);
                return;
            default:
                await WriteJsonAsync(context, 200, Error(id, -32602, $"Unknown tool: {name}"));
                return;
        }
    }

    private static async Task ProgressAsync(HttpContext context, JsonNode id, JsonObject parameters, JsonObject arguments, Session session)
    {
        var steps = Math.Clamp(arguments["steps"]?.GetValue<int>() ?? 5, 1, 10_000);
        var delay = TimeSpan.FromMilliseconds(Math.Clamp(arguments["delayMs"]?.GetValue<int>() ?? 100, 0, 60_000));
        var token = parameters["_meta"]?["progressToken"]?.DeepClone();
        var stream = session.NewStream();
        var replica = ReplicaId(context);
        var key = id.ToJsonString();
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(session.Lifetime.Token);
        session.Running[key] = cancel;

        // The tool runs on its own: a dropped connection is not a cancel (2025-11-25
        // basic/transports.mdx), and a client that resumes with Last-Event-ID gets the rest.
        _ = Task.Run(async () =>
        {
            try
            {
                for (var step = 1; step <= steps; step++)
                {
                    await Task.Delay(delay, cancel.Token);
                    if (token is not null)
                    {
                        stream.Append(Notification("notifications/progress", new JsonObject
                        {
                            ["progressToken"] = token.DeepClone(),
                            ["progress"] = step,
                            ["total"] = steps,
                            ["message"] = $"step {step} of {steps}",
                        }).ToJsonString());
                    }
                }
                stream.Append(Result(id, Text($"{steps} steps done on {replica}")).ToJsonString());
            }
            catch (OperationCanceledException)
            {
                // Cancelled requests get no response (2025-11-25 basic/utilities/cancellation.mdx).
            }
            finally
            {
                stream.Complete();
                session.Running.TryRemove(key, out _);
                cancel.Dispose();
            }
        });

        StartEventStream(context);
        await PrimeAsync(context, session, stream, seq: 0);
        await RelayAsync(context, stream, afterSeq: 0);
    }

    private static async Task GetAsync(HttpContext context)
    {
        var session = context.Request.Headers["Mcp-Session-Id"].ToString();
        if (session.Length == 0)
        {
            await WriteJsonAsync(context, 400, Error(null, -32600, "Bad Request: Mcp-Session-Id header is required"));
            return;
        }
        if (!Sessions.TryGetValue((context.Connection.LocalPort, session), out var state))
        {
            await WriteJsonAsync(context, 404, Error(null, -32001, "Session not found"));
            return;
        }

        var stream = state.Standalone;
        var afterSeq = stream.Delivered;
        var lastEventId = context.Request.Headers["Last-Event-ID"].ToString();
        if (lastEventId.Length > 0)
        {
            if (!ResumableStream.TryParseEventId(lastEventId, out var streamId, out afterSeq) || state.Find(streamId) is not { } resumed)
            {
                await WriteJsonAsync(context, 400, Error(null, -32600, $"Bad Request: no stream to resume for Last-Event-ID '{lastEventId}'"));
                return;
            }
            stream = resumed;
        }
        StartEventStream(context);
        if (lastEventId.Length == 0)
        {
            await PrimeAsync(context, state, stream, afterSeq);
        }
        await RelayAsync(context, stream, afterSeq);
    }

    /// <summary>
    /// The priming event (2025-11-25 basic/transports.mdx): an id to resume from, <c>retry:</c> and
    /// empty data, sent only to sessions of that revision or later (older clients may not expect
    /// an event without a message).
    /// </summary>
    private static async Task PrimeAsync(HttpContext context, Session session, ResumableStream stream, long seq)
    {
        if (string.CompareOrdinal(session.ProtocolVersion, ResumableVersion) >= 0)
        {
            await context.Response.WriteAsync($"id: {stream.EventId(seq)}\nretry: {RetryMilliseconds}\ndata: \n\n", context.RequestAborted);
        }
    }

    private static void StartEventStream(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
    }

    /// <summary>Writes <paramref name="stream"/>'s events after <paramref name="afterSeq"/> until it completes, the connection goes, or another connection takes the stream over.</summary>
    private static async Task RelayAsync(HttpContext context, ResumableStream stream, long afterSeq)
    {
        var reader = stream.Attach(context.RequestAborted);
        try
        {
            await context.Response.Body.FlushAsync(reader.Token);
            await foreach (var (seq, data) in stream.ReadAfterAsync(afterSeq, reader.Token))
            {
                await context.Response.WriteAsync($"id: {stream.EventId(seq)}\nevent: message\ndata: {data}\n\n", reader.Token);
                await context.Response.Body.FlushAsync(reader.Token);
                stream.MarkDelivered(seq);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
        finally
        {
            stream.Detach(reader);
        }
    }

    private static IResult Delete(HttpContext context)
    {
        var session = context.Request.Headers["Mcp-Session-Id"].ToString();
        if (!Sessions.TryRemove((context.Connection.LocalPort, session), out var state))
        {
            return Results.Json(Error(null, -32001, "Session not found"), statusCode: 404);
        }
        state.Lifetime.Cancel();
        state.Standalone.Complete();
        return Results.Ok();
    }

    private static JsonArray Tools() =>
    [
        Tool("echo", "Echoes the text back.", new JsonObject { ["text"] = new JsonObject { ["type"] = "string" } }, "text"),
        Tool("add", "Adds two numbers.", new JsonObject { ["a"] = new JsonObject { ["type"] = "number" }, ["b"] = new JsonObject { ["type"] = "number" } }, "a", "b"),
        Tool("whoami", "Names the replica and session that answered.", []),
        Tool("notify", "Sends a notifications/message on the session's GET stream.", new JsonObject { ["text"] = new JsonObject { ["type"] = "string" } }),
        Tool("progress", "Streams notifications/progress (as SSE) for steps × delayMs, then answers.", new JsonObject
        {
            ["steps"] = new JsonObject { ["type"] = "integer", ["minimum"] = 1, ["maximum"] = 10000 },
            ["delayMs"] = new JsonObject { ["type"] = "integer", ["minimum"] = 0, ["maximum"] = 60000 },
        }),
    ];

    private static JsonObject Tool(string name, string description, JsonObject properties, params string[] required) => new()
    {
        ["name"] = name,
        ["description"] = description,
        ["inputSchema"] = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = properties,
            ["required"] = new JsonArray(required.Select(r => (JsonNode)r).ToArray()),
        },
    };

    private static JsonObject Text(string text) => new()
    {
        ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = text }),
    };

    private static JsonObject Result(JsonNode id, JsonNode result) => new() { ["jsonrpc"] = "2.0", ["id"] = id.DeepClone(), ["result"] = result };

    private static JsonObject Notification(string method, JsonNode parameters) => new() { ["jsonrpc"] = "2.0", ["method"] = method, ["params"] = parameters };

    private static JsonObject Error(JsonNode? id, int code, string message, JsonNode? data = null)
    {
        var error = new JsonObject { ["code"] = code, ["message"] = message };
        if (data is not null)
        {
            error["data"] = data;
        }
        return new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id?.DeepClone(), ["error"] = error };
    }

    private static Task WriteJsonAsync(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(body.ToJsonString(), Encoding.UTF8, context.RequestAborted);
    }
}
