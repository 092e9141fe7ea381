using McpEdge.Caching;
using McpEdge.Configuration;
using McpEdge.Protocol;
using McpEdge.Streaming;
using Microsoft.AspNetCore.Http.Features;

namespace McpEdge.Exposure;

/// <summary>
/// Proxy-pipeline step (before the list cache) that applies <see cref="McpServerOptions.Tools"/>,
/// <see cref="McpServerOptions.Prompts"/> and <see cref="McpServerOptions.Resources"/>: hidden
/// entries are left out of <c>tools/list</c>, <c>prompts/list</c>, <c>resources/list</c> and
/// <c>resources/templates/list</c> results, whether they come from a replica or from the cache, and
/// a request that names a hidden one never reaches a replica. With
/// <see cref="ServerAuthenticationOptions.ListOnlyPermittedTools"/>, a caller's <c>tools/list</c> also
/// leaves out the tools its token's scopes do not let it call.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>A request naming a hidden entry is answered HTTP 200 with the JSON-RPC error a server gives
/// for one it does not have, so clients see no difference between hidden and missing, and logged
/// (event 130): <c>tools/call</c>, -32602 <c>Unknown tool: 'name'</c> (MCP 2025-11-25
/// <c>server/tools.mdx</c>, "Error Handling"); <c>prompts/get</c>, -32602 <c>Unknown prompt: 'name'</c>
/// (<c>server/prompts.mdx</c>, "Error Handling"); <c>resources/read</c>, <c>resources/subscribe</c>
/// and <c>resources/unsubscribe</c>, <c>Resource not found</c> with <c>data.uri</c>: -32002 (MCP
/// 2025-11-25 <c>server/resources.mdx</c>), or -32602 when the request's <c>MCP-Protocol-Version</c>
/// is 2026-07-28 or later (MCP 2026-07-28 <c>server/resources.mdx</c>, "Error Handling");
/// <c>completion/complete</c> of a hidden prompt or resource template, -32602
/// (<see cref="ExposedRequests.CompletionRef"/>).</item>
/// <item>A 2026-07-28 <c>subscriptions/listen</c> goes upstream without the hidden URIs of its
/// <c>resourceSubscriptions</c> (<see cref="ExposedRequests.WithoutHiddenSubscriptions"/>; event 137).</item>
/// <item>Lists: the answer is held in memory (at most <see cref="MessageOptions.MaxBytes"/>; a larger
/// one is a 502), rewritten without the hidden entries (JSON, or the response event of an SSE answer),
/// and sent with its own length. An answer that hides nothing goes as it came.</item>
/// <item>A stream resumed with <c>Last-Event-ID</c> (a GET; MCP 2025-11-25 <c>basic/transports.mdx</c>,
/// "Resumability and Redelivery", the only stream besides a request's own that may carry its
/// answer) is read event by event, and a replayed list answer loses the hidden entries too
/// (<see cref="ReplayFilterStream"/>).</item>
/// <item>A list request goes upstream without <c>Accept-Encoding</c>; an answer compressed all the
/// same is a 502 (failing closed).</item>
/// <item>A batch passed through unsplit (<see cref="BatchOptions.Mode"/> <c>passthrough</c>) holding
/// a request of a filtered kind is refused (400, -32600): its answers come back as one array the edge
/// does not rewrite.</item>
/// </list>
/// </remarks>
internal sealed partial class ExposureFilterMiddleware(RequestDelegate next, McpEdgeConfigState config, Security.BearerAuthentication authentication, ILogger<ExposureFilterMiddleware> logger)
{
    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var message = context.Features.Get<JsonRpcMessageFeature>();
        var resumed = message is null && HttpMethods.IsGet(context.Request.Method) && context.Request.Headers.ContainsKey(McpHeaders.LastEventId);
        if (!resumed && (message is null || message.Method is null && message.Kind != JsonRpcKind.Batch))
        {
            return next(context);
        }
        var server = context.GetReverseProxyFeature().Cluster.Config.ClusterId;
        if (!config.Current.Servers.TryGetValue(server, out var options)
            || !options.Tools.IsEnabled && !options.Prompts.IsEnabled && !options.Resources.IsEnabled && !options.Authentication.ListOnlyPermittedTools)
        {
            return next(context);
        }
        if (message is null)
        {
            return FilterResumedAsync(context, server, options);
        }
        if (message.Kind == JsonRpcKind.Batch)
        {
            return TouchesFiltered(message.Body.Span, options, config.Current.Messages.MaxDepth) ? RefuseBatchAsync(context, server) : next(context);
        }
        if (message.Kind != JsonRpcKind.Request)
        {
            return next(context);
        }
        switch (message.Method)
        {
            case McpMethods.ToolsCall or McpMethods.PromptsGet:
                var kind = message.Method == McpMethods.ToolsCall ? ExposedKind.Tool : ExposedKind.Prompt;
                return message.Name is { } name && ExposureFilter.For(options, kind) is { } filter && !filter.Exposes(name)
                    ? UnknownAsync(context, message, server, kind, name) : next(context);
            case McpMethods.ResourcesRead or McpMethods.ResourcesSubscribe or McpMethods.ResourcesUnsubscribe:
                return ExposureFilter.For(options, ExposedKind.Resource) is { } resources
                    && (message.Method == McpMethods.ResourcesRead ? message.Name : message.Envelope.GetUri(message.Body.Span)) is { } uri && !resources.Exposes(uri)
                    ? UnknownAsync(context, message, server, ExposedKind.Resource, uri) : next(context);
            case McpMethods.CompletionComplete:
                return (options.Prompts.IsEnabled || options.Resources.IsEnabled)
                    && ExposedRequests.CompletionRef(message.Body, config.Current.Messages.MaxDepth) is { } reference
                    && ExposureFilter.For(options, reference.Kind) is { } completed && !completed.Exposes(reference.Key)
                    ? UnknownCompletionAsync(context, message, server, reference.Kind, reference.Key) : next(context);
            case McpMethods.SubscriptionsListen:
                return ExposureFilter.For(options, ExposedKind.Resource) is { } subscribed ? ListenAsync(context, message, server, subscribed) : next(context);
        }
        return ExposedList.Of(message.Method) is { } list && Exposes(context, server, options, list.Kind) is { } exposes
            ? FilterListAsync(context, message, server, list, exposes) : next(context);
    }

    /// <summary>
    /// What a list of <paramref name="kind"/> keeps: the static filter's entries and, for tools with
    /// <see cref="ServerAuthenticationOptions.ListOnlyPermittedTools"/>, those the caller may call (its
    /// calls of the others are refused earlier, with a step-up challenge); null when all stay. A
    /// method of its own so that its closures are allocated only for list requests.
    /// </summary>
    private Func<string, bool>? Exposes(HttpContext context, string server, McpServerOptions options, ExposedKind kind)
    {
        var filter = ExposureFilter.For(options, kind);
        var permitted = kind == ExposedKind.Tool && options.Authentication.ListOnlyPermittedTools
            && Security.BearerAuthentication.UserOf(context) is Security.BearerPrincipal principal
            && authentication.For(server) is { HasOperationScopes: true } authenticator
            ? (Func<string, bool>)(tool => authenticator.MayCall(principal, tool)) : null;
        return filter is null ? permitted : permitted is null ? filter.Exposes : name => filter.Exposes(name) && permitted(name);
    }

    /// <summary>Answers a request that names a hidden entry as the server answers for one it does not have.</summary>
    private Task UnknownAsync(HttpContext context, JsonRpcMessageFeature message, string server, ExposedKind kind, string name)
    {
        LogHidden(logger, message.Method!, name, server, Setting(kind));
        if (kind != ExposedKind.Resource)
        {
            return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status200OK, McpErrorCodes.InvalidParams,
                kind == ExposedKind.Tool ? $"Unknown tool: '{name}'" : $"Unknown prompt: '{name}'", message.RawId, null, null);
        }
        var version = context.Request.Headers[McpHeaders.ProtocolVersion].ToString();
        var code = string.CompareOrdinal(version, JsonRpcMessageMiddleware.StandardHeadersRevision) >= 0 ? McpErrorCodes.InvalidParams : McpErrorCodes.ResourceNotFound;
        return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status200OK, code, "Resource not found", message.RawId, null, writer =>
        {
            writer.WriteStartObject();
            writer.WriteString("uri"u8, name);
            writer.WriteEndObject();
        });
    }

    /// <summary>
    /// A <c>completion/complete</c> for a hidden prompt or resource template: -32602, as a server
    /// answers for a reference it does not have (MCP 2025-11-25 <c>server/utilities/completion.mdx</c>,
    /// "Error Handling": "Invalid prompt name"), in the words the edge uses for a hidden prompt elsewhere.
    /// </summary>
    private Task UnknownCompletionAsync(HttpContext context, JsonRpcMessageFeature message, string server, ExposedKind kind, string name)
    {
        LogHidden(logger, message.Method!, name, server, Setting(kind));
        return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status200OK, McpErrorCodes.InvalidParams,
            kind == ExposedKind.Prompt ? $"Unknown prompt: '{name}'" : $"Unknown resource template: '{name}'", message.RawId, null, null);
    }

    /// <summary>
    /// A <c>subscriptions/listen</c> whose <c>resourceSubscriptions</c> name hidden URIs goes upstream
    /// without them (<see cref="ExposedRequests.WithoutHiddenSubscriptions"/>): the request, its
    /// <see cref="JsonRpcMessageFeature"/> and its <c>Content-Length</c> are replaced, so every later
    /// step, the upstream send and a failover retry see only the new body.
    /// </summary>
    private Task ListenAsync(HttpContext context, JsonRpcMessageFeature message, string server, ExposureFilter resources)
    {
        var maxDepth = config.Current.Messages.MaxDepth;
        if (ExposedRequests.WithoutHiddenSubscriptions(message.Body, maxDepth, resources.Exposes, out var hidden) is not { } body)
        {
            return next(context);
        }
        if (JsonRpcEnvelope.Parse(body, maxDepth, out var envelope, out var reason) != JsonRpcParseStatus.Ok)
        {
            throw new InvalidOperationException($"The rewritten subscriptions/listen request does not parse: {reason}");
        }
        context.Features.Set(new JsonRpcMessageFeature(body, body.Length, envelope));
        context.Request.Body = new MemoryStream(body, writable: false);
        context.Request.ContentLength = body.Length;
        if (logger.IsEnabled(LogLevel.Information))
        {
            LogSubscriptionsHidden(logger, server, hidden.Count, string.Join(", ", hidden)); // the list joined only when logged
        }
        return next(context);
    }

    private async Task FilterListAsync(HttpContext context, JsonRpcMessageFeature message, string server, ExposedList list, Func<string, bool> exposes)
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
            LogTooLarge(logger, list.Method, server, maxBytes);
            await JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status502BadGateway, McpErrorCodes.InternalError,
                $"Internal error: the upstream's {list.Method} answer is larger than Messages:MaxBytes ({maxBytes} bytes).", message.RawId, null, null);
            return;
        }
        if (response.Headers.ContentEncoding is { Count: > 0 } encoding && !string.Equals(encoding.ToString(), "identity", StringComparison.OrdinalIgnoreCase))
        {
            // Sent on as it came, it would show the hidden entries: fail closed.
            LogCompressed(logger, list.Method, server, encoding.ToString());
            await JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status502BadGateway, McpErrorCodes.InternalError,
                $"Internal error: the upstream's {list.Method} answer is compressed, and the edge cannot filter it.", message.RawId, null, null);
            return;
        }
        var body = capture.Captured;
        if (response.StatusCode == StatusCodes.Status200OK
            && ExposureFilter.Rewrite(body, SseFraming.IsEventStream(response.ContentType), message.RawId.Span, list, exposes, out var hidden) is { } rewritten)
        {
            LogListFiltered(logger, list.Method, server, hidden);
            response.ContentLength = SseFraming.IsEventStream(response.ContentType) ? null : rewritten.Length;
            await response.Body.WriteAsync(rewritten, context.RequestAborted);
            return;
        }
        await response.Body.WriteAsync(body, context.RequestAborted);
    }

    /// <summary>
    /// A resumed stream (GET with <c>Last-Event-ID</c>): replayed answers to list requests lose the
    /// hidden entries as they would have on their own stream (<see cref="ReplayFilterStream"/>).
    /// </summary>
    private async Task FilterResumedAsync(HttpContext context, string server, McpServerOptions options)
    {
        var keeps = new Func<string, bool>?[3];
        foreach (var kind in (ReadOnlySpan<ExposedKind>)[ExposedKind.Tool, ExposedKind.Prompt, ExposedKind.Resource])
        {
            keeps[(int)kind] = Exposes(context, server, options, kind);
        }
        var response = context.Response;
        var original = context.Features.Get<IHttpResponseBodyFeature>()!;
        var filter = new ReplayFilterStream(original.Stream, () => SseFraming.IsEventStream(response.ContentType), config.Current.Messages.MaxBytes,
            sseEvent => ExposureFilter.RewriteReplayed(sseEvent.Span, list => keeps[(int)list.Kind]));
        var replacement = new StreamResponseBodyFeature(filter, original);
        context.Features.Set<IHttpResponseBodyFeature>(replacement);
        try
        {
            await next(context);
            if (filter.Overflowed)
            {
                // What was held cannot be judged: the client sees a broken stream (and may resume), not a clean end.
                LogReplayTooLarge(logger, server, config.Current.Messages.MaxBytes);
                context.Abort();
                return;
            }
            await replacement.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or OperationCanceledException && context.RequestAborted.IsCancellationRequested)
        {
            // The client left while the last bytes went out.
        }
        finally
        {
            context.Features.Set(original);
        }
        if (filter.Rewritten > 0)
        {
            LogReplayFiltered(logger, server, filter.Rewritten);
        }
    }

    /// <summary>True when a batch holds a request of a kind <paramref name="options"/> filters.</summary>
    private static bool TouchesFiltered(ReadOnlySpan<byte> batch, McpServerOptions options, int maxDepth) =>
        JsonRpcEnvelope.BatchMessages(batch, maxDepth).Exists(m => m.Envelope.Method == McpMethods.CompletionComplete
            ? options.Prompts.IsEnabled || options.Resources.IsEnabled
            : KindOf(m.Envelope.Method) is { } kind && ExposureFilter.For(options, kind) is not null);

    /// <summary>The kind a method lists or names, or null for methods the filters do not look at.</summary>
    private static ExposedKind? KindOf(string? method) => method switch
    {
        McpMethods.ToolsCall or McpMethods.ToolsList => ExposedKind.Tool,
        McpMethods.PromptsGet or McpMethods.PromptsList => ExposedKind.Prompt,
        McpMethods.ResourcesRead or McpMethods.ResourcesSubscribe or McpMethods.ResourcesUnsubscribe
            or McpMethods.ResourcesList or McpMethods.ResourceTemplatesList or McpMethods.SubscriptionsListen => ExposedKind.Resource,
        _ => null,
    };

    /// <summary>The server setting that filters <paramref name="kind"/>, for logs and errors.</summary>
    private static string Setting(ExposedKind kind) => kind switch { ExposedKind.Tool => "Tools", ExposedKind.Prompt => "Prompts", _ => "Resources" };

    private Task RefuseBatchAsync(HttpContext context, string server)
    {
        LogBatchRefused(logger, server);
        return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status400BadRequest, McpErrorCodes.InvalidRequest,
            "Invalid Request: this server filters its tools, prompts or resources, and a batch passed through unsplit cannot be filtered; send those requests on their own, or set Batches:Mode to split.");
    }

    [LoggerMessage(EventId = 130, Level = LogLevel.Information, Message = "{Method} of {Name} for server {Server} answered as unknown: the edge does not expose it ({Setting}).")]
    private static partial void LogHidden(ILogger logger, string method, string name, string server, string setting);

    [LoggerMessage(EventId = 131, Level = LogLevel.Debug, Message = "{Method} for server {Server}: {Hidden} entries left out.")]
    private static partial void LogListFiltered(ILogger logger, string method, string server, int hidden);

    [LoggerMessage(EventId = 132, Level = LogLevel.Warning, Message = "{Method} for server {Server} answered 502: the upstream's answer is larger than Messages:MaxBytes ({MaxBytes} bytes).")]
    private static partial void LogTooLarge(ILogger logger, string method, string server, int maxBytes);

    [LoggerMessage(EventId = 134, Level = LogLevel.Warning, Message = "{Method} for server {Server} answered 502: the upstream compressed its answer ({ContentEncoding}) though the edge asked for none, and a compressed list cannot be filtered.")]
    private static partial void LogCompressed(ILogger logger, string method, string server, string contentEncoding);

    [LoggerMessage(EventId = 135, Level = LogLevel.Debug, Message = "Resumed stream for server {Server}: {Events} replayed list answers filtered.")]
    private static partial void LogReplayFiltered(ILogger logger, string server, int events);

    [LoggerMessage(EventId = 136, Level = LogLevel.Warning, Message = "Resumed stream for server {Server} cut: a replayed event is longer than Messages:MaxBytes ({MaxBytes} bytes), and the edge cannot judge whether it lists hidden entries.")]
    private static partial void LogReplayTooLarge(ILogger logger, string server, int maxBytes);

    [LoggerMessage(EventId = 137, Level = LogLevel.Information, Message = "subscriptions/listen for server {Server}: {Count} hidden resource URIs left out of resourceSubscriptions ({Uris}); the edge does not expose them (Resources).")]
    private static partial void LogSubscriptionsHidden(ILogger logger, string server, int count, string uris);

    [LoggerMessage(EventId = 133, Level = LogLevel.Information, Message = "Batch for server {Server} refused: it holds a request of a kind the edge filters (Tools, Prompts or Resources), which a passed-through batch cannot filter.")]
    private static partial void LogBatchRefused(ILogger logger, string server);
}
