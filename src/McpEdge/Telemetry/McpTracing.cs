using System.Diagnostics;
using System.Text;
using System.Text.Json;
using McpEdge.Configuration;
using McpEdge.Protocol;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Telemetry;

/// <summary>
/// The edge's spans: activity source <see cref="SourceName"/>, one span per JSON-RPC request or
/// notification to an MCP server (each element of a split batch has its own), following the
/// OpenTelemetry semantic conventions for MCP (<c>gen-ai/mcp</c>).
/// </summary>
/// <remarks>
/// <para>
/// Name <c>{mcp.method.name} {target}</c> (target: the tool or prompt name), kind Server.
/// Attributes: <c>mcp.method.name</c>, <c>jsonrpc.request.id</c>, <c>gen_ai.tool.name</c> /
/// <c>gen_ai.prompt.name</c>, <c>mcp.protocol.version</c>, <c>mcp.session.id</c> (the hash of
/// <see cref="RequestLogScope.Hash"/>, never the token), <c>mcpedge.server</c>,
/// <c>mcpedge.replica</c>, <c>http.response.status_code</c>, and on failure <c>error.type</c>
/// with status Error. Resource URIs are not recorded (they may carry credentials).
/// </para>
/// <para>
/// Parent: the W3C trace context in <c>params._meta.traceparent</c> (and <c>tracestate</c>) when
/// the client put one there (MCP 2026-07-28 <c>basic/index.mdx</c>, "OpenTelemetry trace
/// context"), else the HTTP request's (<c>traceparent</c> header). Upstream, YARP's propagator
/// sends this span's context in the <c>traceparent</c> header, and a <c>_meta.traceparent</c> the
/// client sent is rewritten in place to this span's (same length: version 00), so the MCP server
/// sees the edge as the parent either way. A <c>_meta</c> without one is left as it is.
/// </para>
/// </remarks>
public static class McpTracing
{
    /// <summary>The activity source's name.</summary>
    public const string SourceName = "McpEdge";

    internal static readonly ActivitySource Source = new(SourceName, typeof(McpTracing).Assembly.GetName().Version?.ToString());

    /// <summary>The length of a version-00 <c>traceparent</c>: <c>00-{32 hex}-{16 hex}-{2 hex}</c>.</summary>
    internal const int TraceparentLength = 55;

    /// <summary>
    /// Reads <c>traceparent</c> and <c>tracestate</c> from a <c>_meta</c> object (raw JSON).
    /// <paramref name="valueOffset"/> is where the <c>traceparent</c> string's characters start
    /// within <paramref name="meta"/> when they can be rewritten in place (unescaped, 55 bytes), else -1.
    /// </summary>
    /// <returns>True when a valid W3C <c>traceparent</c> was found.</returns>
    public static bool TryReadMetaTraceContext(ReadOnlySpan<byte> meta, out ActivityContext parent, out int valueOffset)
    {
        parent = default;
        valueOffset = -1;
        string? traceparent = null, tracestate = null;
        var reader = new Utf8JsonReader(meta);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = reader.ValueTextEquals("traceparent"u8) ? 1 : reader.ValueTextEquals("tracestate"u8) ? 2 : 0;
            reader.Read();
            if (member == 0 || reader.TokenType != JsonTokenType.String)
            {
                reader.Skip();
                continue;
            }
            if (member == 1)
            {
                traceparent = reader.GetString();
                valueOffset = !reader.ValueIsEscaped && reader.ValueSpan.Length == TraceparentLength ? (int)reader.TokenStartIndex + 1 : -1;
            }
            else
            {
                tracestate = reader.GetString();
            }
        }
        if (traceparent is null || !ActivityContext.TryParse(traceparent, tracestate, isRemote: true, out parent))
        {
            valueOffset = -1;
            return false;
        }
        return true;
    }

    /// <summary>Writes <paramref name="context"/> as a version-00 <c>traceparent</c> into exactly <see cref="TraceparentLength"/> bytes.</summary>
    internal static void WriteTraceparent(ActivityContext context, Span<byte> destination)
    {
        var flags = (context.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? "01" : "00";
        var written = Encoding.ASCII.GetBytes($"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{flags}", destination);
        Debug.Assert(written == TraceparentLength);
    }
}

/// <summary>The proxy step that opens each JSON-RPC message's span (see <see cref="McpTracing"/>); after batch splitting.</summary>
internal sealed class McpTracingMiddleware(RequestDelegate next, McpEdgeConfigState config)
{
    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var message = context.Features.Get<JsonRpcMessageFeature>();
        if (message is null || message.Kind is not (JsonRpcKind.Request or JsonRpcKind.Notification)
            || !McpTracing.Source.HasListeners() || !config.Current.Telemetry.Traces)
        {
            return next(context);
        }
        return TraceAsync(context, message);
    }

    private async Task TraceAsync(HttpContext context, JsonRpcMessageFeature message)
    {
        var envelope = message.Envelope;
        var method = message.Method!;
        var parent = default(ActivityContext);
        var metaValueOffset = -1;
        if (envelope.MetaLength > 0
            && McpTracing.TryReadMetaTraceContext(message.Body.Span.Slice(envelope.MetaOffset, envelope.MetaLength), out var metaParent, out var offset))
        {
            parent = metaParent;
            metaValueOffset = offset < 0 ? -1 : envelope.MetaOffset + offset;
        }
        else if (Activity.Current is null && context.Request.Headers.TryGetValue("traceparent", out var traceparent)
            && ActivityContext.TryParse(traceparent.ToString(), context.Request.Headers["tracestate"].ToString(), isRemote: true, out var headerParent))
        {
            // ASP.NET Core starts no Activity of its own unless something listens to its source.
            parent = headerParent;
        }
        var target = method is McpMethods.ToolsCall or McpMethods.PromptsGet ? message.Name : null;
        if (target is { Length: > 128 })
        {
            target = target[..128];
        }
        using var activity = McpTracing.Source.StartActivity(target is null ? method : $"{method} {target}", ActivityKind.Server, parent);
        if (activity is null)
        {
            await next(context);
            return;
        }
        if (metaValueOffset >= 0)
        {
            McpTracing.WriteTraceparent(activity.Context, message.WritableBody.Slice(metaValueOffset, McpTracing.TraceparentLength));
        }
        if (activity.IsAllDataRequested)
        {
            activity.SetTag("mcp.method.name", method);
            activity.SetTag("mcpedge.server", context.GetReverseProxyFeature().Cluster.Config.ClusterId);
            if (envelope.HasId)
            {
                activity.SetTag("jsonrpc.request.id", Encoding.UTF8.GetString(envelope.RawId(message.Body.Span)).Trim('"'));
            }
            if (target is not null)
            {
                activity.SetTag(method == McpMethods.ToolsCall ? "gen_ai.tool.name" : "gen_ai.prompt.name", target);
            }
            if (context.Request.Headers.TryGetValue(McpHeaders.ProtocolVersion, out var version))
            {
                activity.SetTag("mcp.protocol.version", version.ToString());
            }
        }
        try
        {
            await next(context);
        }
        finally
        {
            if (activity.IsAllDataRequested)
            {
                if (RequestLogScope.SessionToken(context) is { } token)
                {
                    activity.SetTag("mcp.session.id", RequestLogScope.Hash(token));
                }
                if (context.Features.Get<IReverseProxyFeature>()?.ProxiedDestination?.DestinationId is { } replica)
                {
                    activity.SetTag("mcpedge.replica", replica);
                }
                activity.SetTag("http.response.status_code", context.Response.StatusCode);
                var outcome = EdgeMetrics.Outcome(context);
                if (outcome is not "ok")
                {
                    activity.SetTag("error.type", outcome == "client_error" ? context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : outcome);
                    activity.SetStatus(outcome == "client_error" ? ActivityStatusCode.Unset : ActivityStatusCode.Error);
                }
            }
        }
    }
}
