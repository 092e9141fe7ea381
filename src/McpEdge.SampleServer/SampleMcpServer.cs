using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

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
/// back to <c>initialize</c>.
/// </remarks>
public static class SampleMcpServer
{
    public static readonly string[] SupportedVersions = ["2025-11-25", "2025-06-18", "2025-03-26"];

    private static readonly ConcurrentDictionary<(int Port, string Id), Session> Sessions = new();

    private sealed class Session
    {
        public Channel<string> Notifications { get; } = Channel.CreateBounded<string>(64);
    }

    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls("http://127.0.0.1:5101");
        }
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        app.MapPost("/mcp", PostAsync);
        app.MapGet("/mcp", GetAsync);
        app.MapDelete("/mcp", Delete);
        return app;
    }

    private static string ReplicaId(HttpContext context) => $"replica-{context.Connection.LocalPort}";

    private static async Task PostAsync(HttpContext context)
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

        var version = context.Request.Headers["MCP-Protocol-Version"].ToString();
        if (version.Length > 0 && !SupportedVersions.Contains(version))
        {
            await WriteJsonAsync(context, 400, Error(request["id"], -32602, "Unsupported protocol version",
                new JsonObject { ["supported"] = new JsonArray(SupportedVersions.Select(v => (JsonNode)v).ToArray()), ["requested"] = version }));
            return;
        }

        var method = request["method"]?.GetValue<string>();
        var id = request["id"];
        if (method is null || id is null)
        {
            // A notification or a response to a server request.
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            return;
        }

        var port = context.Connection.LocalPort;
        if (method == "initialize")
        {
            var sessionId = Guid.NewGuid().ToString("N");
            Sessions[(port, sessionId)] = new Session();
            var requested = request["params"]?["protocolVersion"]?.GetValue<string>();
            context.Response.Headers["Mcp-Session-Id"] = sessionId;
            await WriteJsonAsync(context, 200, Result(id, new JsonObject
            {
                ["protocolVersion"] = requested is not null && SupportedVersions.Contains(requested) ? requested : SupportedVersions[0],
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
                var delivered = state.Notifications.Writer.TryWrite(Notification("notifications/message",
                    new JsonObject { ["level"] = "info", ["logger"] = "sample", ["data"] = text }).ToJsonString());
                await WriteJsonAsync(context, 200, Result(id, Text(delivered ? "queued" : "dropped")));
                return;
            case "progress":
                await ProgressAsync(context, id, parameters!, arguments);
                return;
            default:
                await WriteJsonAsync(context, 200, Error(id, -32602, $"Unknown tool: {name}"));
                return;
        }
    }

    private static async Task ProgressAsync(HttpContext context, JsonNode id, JsonObject parameters, JsonObject arguments)
    {
        var steps = Math.Clamp(arguments["steps"]?.GetValue<int>() ?? 5, 1, 10_000);
        var delay = TimeSpan.FromMilliseconds(Math.Clamp(arguments["delayMs"]?.GetValue<int>() ?? 100, 0, 60_000));
        var token = parameters["_meta"]?["progressToken"]?.DeepClone();
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        await context.Response.StartAsync(context.RequestAborted);
        for (var step = 1; step <= steps; step++)
        {
            await Task.Delay(delay, context.RequestAborted);
            if (token is not null)
            {
                await WriteEventAsync(context, Notification("notifications/progress", new JsonObject
                {
                    ["progressToken"] = token.DeepClone(),
                    ["progress"] = step,
                    ["total"] = steps,
                    ["message"] = $"step {step} of {steps}",
                }));
            }
        }
        await WriteEventAsync(context, Result(id, Text($"{steps} steps done on {ReplicaId(context)}")));
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
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.StartAsync(context.RequestAborted);
        try
        {
            await foreach (var notification in state.Notifications.Reader.ReadAllAsync(context.RequestAborted))
            {
                await context.Response.WriteAsync($"event: message\ndata: {notification}\n\n", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static IResult Delete(HttpContext context)
    {
        var session = context.Request.Headers["Mcp-Session-Id"].ToString();
        if (!Sessions.TryRemove((context.Connection.LocalPort, session), out var state))
        {
            return Results.Json(Error(null, -32001, "Session not found"), statusCode: 404);
        }
        state.Notifications.Writer.TryComplete();
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

    private static async Task WriteEventAsync(HttpContext context, JsonNode message)
    {
        await context.Response.WriteAsync($"event: message\ndata: {message.ToJsonString()}\n\n", context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }
}
