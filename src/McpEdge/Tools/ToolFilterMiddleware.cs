using McpEdge.Caching;
using McpEdge.Configuration;
using McpEdge.Protocol;
using McpEdge.Streaming;
using Microsoft.AspNetCore.Http.Features;

namespace McpEdge.Tools;

/// <summary>
/// Proxy-pipeline step (before the list cache) that applies <see cref="McpServerOptions.Tools"/>:
/// hidden tools are left out of <c>tools/list</c> results, whether they come from a replica or from
/// the cache, and a <c>tools/call</c> of a hidden tool never reaches a replica. With
/// <see cref="ServerAuthenticationOptions.ListOnlyPermittedTools"/>, a caller's list also leaves out
/// the tools its token's scopes do not let it call.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>tools/call</c> of a hidden tool: HTTP 200 with the JSON-RPC error a server gives for a
/// tool it does not have, -32602 <c>Unknown tool: 'name'</c> (MCP 2025-11-25 <c>server/tools.mdx</c>,
/// "Error Handling"), so clients see no difference between a hidden tool and a missing one. Logged
/// (event 130).</item>
/// <item><c>tools/list</c>: the answer is held in memory (at most <see cref="MessageOptions.MaxBytes"/>;
/// a larger one is a 502), rewritten without the hidden tools (JSON, or the response event of an SSE
/// answer), and sent with its own length. An answer that hides nothing goes as it came.</item>
/// <item>The request goes upstream without <c>Accept-Encoding</c>; an answer compressed all the same is a 502 (failing closed).</item>
/// <item>A batch passed through unsplit (<see cref="BatchOptions.Mode"/> <c>passthrough</c>) that calls
/// or lists tools is refused (400, -32600): its answers come back as one array the edge does not rewrite.</item>
/// </list>
/// </remarks>
internal sealed partial class ToolFilterMiddleware(RequestDelegate next, McpEdgeConfigState config, Security.BearerAuthentication authentication, ILogger<ToolFilterMiddleware> logger)
{
    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        if (context.Features.Get<JsonRpcMessageFeature>() is not { } message || message.Method is null && message.Kind != JsonRpcKind.Batch)
        {
            return next(context);
        }
        var server = context.GetReverseProxyFeature().Cluster.Config.ClusterId;
        if (!config.Current.Servers.TryGetValue(server, out var options))
        {
            return next(context);
        }
        var filter = options.Tools.IsEnabled ? ToolFilter.For(options.Tools) : null;
        if (filter is null && !options.Authentication.ListOnlyPermittedTools)
        {
            return next(context);
        }
        if (message.Kind == JsonRpcKind.Batch)
        {
            return filter is not null && TouchesTools(message.Body.Span, config.Current.Messages.MaxDepth) ? RefuseBatchAsync(context, server) : next(context);
        }
        if (message.Kind != JsonRpcKind.Request)
        {
            return next(context);
        }
        if (filter is not null && message.Method == McpMethods.ToolsCall && message.Name is { } tool && !filter.Exposes(tool))
        {
            LogHiddenCall(logger, server, tool);
            return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status200OK, McpErrorCodes.InvalidParams, $"Unknown tool: '{tool}'", message.RawId, null, null);
        }
        if (message.Method != McpMethods.ToolsList)
        {
            return next(context);
        }
        return Exposes(context, server, options, filter) is { } exposes ? FilterListAsync(context, message, server, exposes) : next(context);
    }

    /// <summary>
    /// What a <c>tools/list</c> answer keeps: the static filter's tools and, with
    /// <see cref="ServerAuthenticationOptions.ListOnlyPermittedTools"/>, those the caller may call (its
    /// calls of the others are refused earlier, with a step-up challenge); null when all stay. A
    /// method of its own so that its closures are allocated only for <c>tools/list</c>.
    /// </summary>
    private Func<string, bool>? Exposes(HttpContext context, string server, McpServerOptions options, ToolFilter? filter)
    {
        var permitted = options.Authentication.ListOnlyPermittedTools && Security.BearerAuthentication.UserOf(context) is Security.BearerPrincipal principal
            && authentication.For(server) is { HasOperationScopes: true } authenticator
            ? (Func<string, bool>)(tool => authenticator.MayCall(principal, tool)) : null;
        return filter is null ? permitted : permitted is null ? filter.Exposes : name => filter.Exposes(name) && permitted(name);
    }

    private async Task FilterListAsync(HttpContext context, JsonRpcMessageFeature message, string server, Func<string, bool> exposes)
    {
        var maxBytes = config.Current.Messages.MaxBytes;
        // A compressed answer could not be read: ask for none (clients on fetch send Accept-Encoding by default).
        context.Request.Headers.Remove(Microsoft.Net.Http.Headers.HeaderNames.AcceptEncoding);
        var original = context.Features.Get<IHttpResponseBodyFeature>()!;
        using var capture = new CaptureStream(Stream.Null, maxBytes) { FailOnOverflow = true };
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(capture));
        try
        {
            await next(context);
        }
        catch (IOException) when (capture.Overflowed)
        {
            // The answer outgrew the limit: answered below.
        }
        finally
        {
            context.Features.Set(original);
        }

        var response = context.Response;
        if (capture.Overflowed)
        {
            LogTooLarge(logger, server, maxBytes);
            await JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status502BadGateway, McpErrorCodes.InternalError,
                $"Internal error: the upstream's tools/list answer is larger than Messages:MaxBytes ({maxBytes} bytes).", message.RawId, null, null);
            return;
        }
        if (response.Headers.ContentEncoding is { Count: > 0 } encoding && !string.Equals(encoding.ToString(), "identity", StringComparison.OrdinalIgnoreCase))
        {
            // Sent on as it came, it would show the hidden tools: fail closed.
            LogCompressed(logger, server, encoding.ToString());
            await JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status502BadGateway, McpErrorCodes.InternalError,
                "Internal error: the upstream's tools/list answer is compressed, and the edge cannot filter it.", message.RawId, null, null);
            return;
        }
        var body = capture.Captured;
        if (response.StatusCode == StatusCodes.Status200OK
            && ToolFilter.Rewrite(body, SseFraming.IsEventStream(response.ContentType), message.RawId.Span, exposes, out var hidden) is { } rewritten)
        {
            LogListFiltered(logger, server, hidden);
            response.ContentLength = SseFraming.IsEventStream(response.ContentType) ? null : rewritten.Length;
            await response.Body.WriteAsync(rewritten, context.RequestAborted);
            return;
        }
        await response.Body.WriteAsync(body, context.RequestAborted);
    }

    /// <summary>True when a batch holds a <c>tools/call</c> or <c>tools/list</c> element.</summary>
    private static bool TouchesTools(ReadOnlySpan<byte> batch, int maxDepth) =>
        JsonRpcEnvelope.BatchMessages(batch, maxDepth).Exists(m => m.Envelope.Method is McpMethods.ToolsCall or McpMethods.ToolsList);

    private Task RefuseBatchAsync(HttpContext context, string server)
    {
        LogBatchRefused(logger, server);
        return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status400BadRequest, McpErrorCodes.InvalidRequest,
            "Invalid Request: this server filters its tools, and a batch passed through unsplit cannot be filtered; send tool calls and lists on their own, or set Batches:Mode to split.");
    }

    [LoggerMessage(EventId = 130, Level = LogLevel.Information, Message = "tools/call of tool {Tool} for server {Server} answered as an unknown tool: the edge does not expose it (Tools).")]
    private static partial void LogHiddenCall(ILogger logger, string server, string tool);

    [LoggerMessage(EventId = 131, Level = LogLevel.Debug, Message = "tools/list for server {Server}: {Hidden} tools left out (Tools).")]
    private static partial void LogListFiltered(ILogger logger, string server, int hidden);

    [LoggerMessage(EventId = 132, Level = LogLevel.Warning, Message = "tools/list for server {Server} answered 502: the upstream's answer is larger than Messages:MaxBytes ({MaxBytes} bytes).")]
    private static partial void LogTooLarge(ILogger logger, string server, int maxBytes);

    [LoggerMessage(EventId = 134, Level = LogLevel.Warning, Message = "tools/list for server {Server} answered 502: the upstream compressed its answer ({ContentEncoding}) though the edge asked for none, and a compressed list cannot be filtered.")]
    private static partial void LogCompressed(ILogger logger, string server, string contentEncoding);

    [LoggerMessage(EventId = 133, Level = LogLevel.Information, Message = "Batch for server {Server} refused: it calls or lists tools, which a passed-through batch cannot filter (Tools).")]
    private static partial void LogBatchRefused(ILogger logger, string server);
}
