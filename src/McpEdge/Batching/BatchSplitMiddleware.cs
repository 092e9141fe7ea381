using System.Buffers;
using System.Diagnostics.Metrics;
using System.Text.Json;
using McpEdge.Caching;
using McpEdge.Configuration;
using McpEdge.Protocol;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Batching;

/// <summary>
/// Proxy-pipeline step (right after <see cref="JsonRpcMessageMiddleware"/>) for JSON-RPC batches,
/// which MCP 2025-03-26 allows and later revisions removed (MCP 2025-03-26
/// basic/transports.mdx "Sending Messages to the Server"; JSON-RPC 2.0 §6): per server
/// (<see cref="BatchOptions"/>) a batch is split (default), passed through, or refused.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Split: each element runs through the rest of the proxy pipeline as its own POST (rate
/// limits, session routing, cache, load balancing and forwarding, each per element), at most
/// <see cref="BatchOptions.MaxConcurrency"/> at once, all on the batch's session — and, without a
/// session, on one replica picked once for the batch by the cluster's load-balancing policy.</item>
/// <item>The answer is one JSON array with one response per request element, in the batch's order
/// (an invalid element gets its own -32600; an element the upstream or the edge failed gets its
/// own error, never a failed batch); notifications and responses get none, and a batch of only
/// those is answered 202. When an element's upstream answer was an SSE stream with other events
/// (progress, log messages) and the client accepts <c>text/event-stream</c>, the answer is an SSE
/// stream: those events, then one <c>message</c> event with the array.</item>
/// <item>Each element's answer is held in memory (at most <see cref="MessageOptions.MaxBytes"/>; a larger one fails that element) until
/// it is complete: a tool that asks the client something (sampling, elicitation) mid-call cannot
/// be answered inside a batch, so send such calls on their own.</item>
/// <item>Reject: 400 with -32600. Past <see cref="BatchOptions.MaxSize"/> elements: 400 with -32600.</item>
/// </list>
/// </remarks>
internal sealed partial class BatchSplitMiddleware
{
    private readonly RequestDelegate _next;
    private readonly McpEdgeConfigState _config;
    private readonly Dictionary<string, ILoadBalancingPolicy> _policies;
    private readonly ILogger<BatchSplitMiddleware> _logger;
    private readonly Histogram<int> _sizes;

    public BatchSplitMiddleware(RequestDelegate next, McpEdgeConfigState config, IEnumerable<ILoadBalancingPolicy> policies, IMeterFactory meters, ILogger<BatchSplitMiddleware> logger)
    {
        _next = next;
        _config = config;
        _policies = policies.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        _logger = logger;
        _sizes = meters.Create("McpEdge.Batching").CreateHistogram<int>("mcpedge.batch.size", "{message}", "Elements per JSON-RPC batch received.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128] });
    }

    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context) =>
        context.Features.Get<JsonRpcMessageFeature>() is { Kind: JsonRpcKind.Batch } batch ? BatchAsync(context, batch) : _next(context);

    private async Task BatchAsync(HttpContext context, JsonRpcMessageFeature batch)
    {
        var proxy = context.GetReverseProxyFeature();
        var server = proxy.Route.Config.Metadata?.GetValueOrDefault(McpProxyConfigBuilder.MetadataKeys.Server) ?? proxy.Route.Config.RouteId;
        var options = _config.Current.Servers.TryGetValue(server, out var serverOptions) ? serverOptions.Batches : new BatchOptions();
        var mode = options.Mode.ToLowerInvariant();
        _sizes.Record(batch.Envelope.BatchCount, new KeyValuePair<string, object?>("mcp.server", server), new("mcpedge.batch_mode", mode));

        if (mode == "passthrough")
        {
            await _next(context);
            return;
        }
        if (mode == "reject")
        {
            LogRefused(_logger, server, batch.Envelope.BatchCount, "batches are refused (Batches:Mode reject)");
            await JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status400BadRequest, McpErrorCodes.InvalidRequest,
                "Invalid Request: this server does not accept JSON-RPC batches; send each message in its own POST.");
            return;
        }
        if (batch.Envelope.BatchCount > options.MaxSize)
        {
            LogRefused(_logger, server, batch.Envelope.BatchCount, $"more than Batches:MaxSize ({options.MaxSize}) elements");
            await JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status400BadRequest, McpErrorCodes.InvalidRequest,
                $"Invalid Request: a batch may hold at most {options.MaxSize} messages; this one holds {batch.Envelope.BatchCount}.");
            return;
        }
        await SplitAsync(context, proxy, batch, server, options);
    }

    private async Task SplitAsync(HttpContext context, IReverseProxyFeature proxy, JsonRpcMessageFeature batch, string server, BatchOptions options)
    {
        var maxDepth = _config.Current.Messages.MaxDepth;
        var ranges = JsonRpcEnvelope.SplitBatch(batch.Body.Span, maxDepth);
        var elements = new Element[ranges.Count];
        for (var i = 0; i < ranges.Count; i++)
        {
            elements[i] = new Element(batch.Body.Slice(ranges[i].Offset, ranges[i].Length), maxDepth);
        }

        // One replica for the whole batch: the session's (session routing pins each element), else one picked now.
        var destinations = proxy.AvailableDestinations;
        if (!context.Request.Headers.ContainsKey(McpHeaders.SessionId) && destinations.Count > 1)
        {
            var policy = _policies.GetValueOrDefault(proxy.Cluster.Config.LoadBalancingPolicy ?? LoadBalancingPolicies.PowerOfTwoChoices)
                ?? _policies[LoadBalancingPolicies.PowerOfTwoChoices];
            if (proxy.Route.Cluster is { } cluster && policy.PickDestination(context, cluster, destinations) is { } picked)
            {
                destinations = [picked];
            }
        }

        using var gate = new SemaphoreSlim(options.MaxConcurrency);
        var runs = new List<Task>(elements.Length);
        try
        {
            foreach (var element in elements)
            {
                if (element.Message is null)
                {
                    continue;
                }
                await gate.WaitAsync(context.RequestAborted);
                runs.Add(RunAsync(element, context, proxy, destinations, gate));
            }
        }
        finally
        {
            // Also when the client left: the elements under way end (their requests are aborted with it) before the gate goes.
            await Task.WhenAll(runs);
        }
        await WriteAnswerAsync(context, server, elements);
    }

    private async Task RunAsync(Element element, HttpContext context, IReverseProxyFeature proxy, IReadOnlyList<DestinationState> destinations, SemaphoreSlim gate)
    {
        try
        {
            var maxBytes = _config.Current.Messages.MaxBytes;
            using var sub = new ElementContext(context, proxy, destinations, element, maxBytes);
            try
            {
                await _next(sub.Context);
            }
            catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
            {
                element.Failure = $"{ex.GetType().Name}: {ex.Message}";
            }
            element.Status = sub.Context.Response.StatusCode;
            element.ContentType = sub.Context.Response.ContentType;
            element.Answer = sub.Answer;
            if (sub.Overflowed)
            {
                element.Failure ??= $"the upstream's answer is larger than Messages:MaxBytes ({maxBytes} bytes)";
            }
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task WriteAnswerAsync(HttpContext context, string server, Element[] elements)
    {
        var responses = new ArrayBufferWriter<byte>(256);
        var events = new List<ReadOnlyMemory<byte>>();
        var count = 0;
        foreach (var element in elements)
        {
            var response = element.Response(events, out var failure);
            if (failure is not null)
            {
                LogElementFailed(_logger, server, element.Method ?? "-", failure);
            }
            if (response.IsEmpty)
            {
                continue;
            }
            responses.Write(count++ == 0 ? "["u8 : ","u8);
            responses.Write(response.Span);
        }

        var http = context.Response;
        if (count == 0)
        {
            http.StatusCode = StatusCodes.Status202Accepted;
            return;
        }
        responses.Write("]"u8);
        http.StatusCode = StatusCodes.Status200OK;
        var accept = context.Request.Headers.Accept.ToString();
        if (events.Count > 0 && accept.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase))
        {
            http.ContentType = "text/event-stream";
            http.Headers.CacheControl = "no-cache";
            foreach (var sseEvent in events)
            {
                await http.Body.WriteAsync(sseEvent, context.RequestAborted);
            }
            await http.Body.WriteAsync("event: message\ndata: "u8.ToArray(), context.RequestAborted);
            await http.Body.WriteAsync(responses.WrittenMemory, context.RequestAborted);
            await http.Body.WriteAsync("\n\n"u8.ToArray(), context.RequestAborted);
            return;
        }
        if (events.Count > 0)
        {
            LogEventsDropped(_logger, server, events.Count);
        }
        http.ContentType = "application/json";
        http.ContentLength = responses.WrittenCount;
        await http.Body.WriteAsync(responses.WrittenMemory, context.RequestAborted);
    }

    /// <summary>One element of a batch: its message, and what became of it.</summary>
    private sealed class Element
    {
        public Element(ReadOnlyMemory<byte> bytes, int maxDepth)
        {
            var buffer = bytes.ToArray();
            Buffer = buffer;
            var status = JsonRpcEnvelope.Parse(buffer, maxDepth, out var envelope, out var reason);
            RawId = buffer.AsMemory(envelope.IdOffset, envelope.IdLength);
            if (status == JsonRpcParseStatus.Ok && envelope.Method == McpMethods.Initialize)
            {
                Invalid = "initialize must not be part of a batch (MCP 2025-03-26 basic/lifecycle.mdx)";
            }
            else if (status == JsonRpcParseStatus.Ok && envelope.Kind != JsonRpcKind.Batch)
            {
                Message = new JsonRpcMessageFeature(buffer, buffer.Length, envelope);
                Method = envelope.Method;
            }
            else
            {
                Invalid = envelope.Kind == JsonRpcKind.Batch ? "a batch inside a batch" : reason ?? "not a JSON-RPC message";
                InvalidParams = status == JsonRpcParseStatus.InvalidParams;
            }
        }

        /// <summary>The element's own copy of its bytes (its message feature and its POST body read from it).</summary>
        public byte[] Buffer { get; }
        public ReadOnlyMemory<byte> RawId { get; }
        public JsonRpcMessageFeature? Message { get; }
        public string? Method { get; }
        public string? Invalid { get; }
        /// <summary>True when <see cref="Invalid"/> is a -32602 (a params member of the wrong type), not a -32600.</summary>
        public bool InvalidParams { get; }
        public int Status { get; set; }
        public string? ContentType { get; set; }
        public ReadOnlyMemory<byte> Answer { get; set; }
        public string? Failure { get; set; }

        /// <summary>The element's response (empty for a notification or response), gathering other SSE events into <paramref name="events"/>.</summary>
        public ReadOnlyMemory<byte> Response(List<ReadOnlyMemory<byte>> events, out string? failure)
        {
            failure = null;
            if (Invalid is not null)
            {
                var (code, text) = McpErrorCodes.ForParseStatus(InvalidParams ? JsonRpcParseStatus.InvalidParams : JsonRpcParseStatus.InvalidRequest);
                return ErrorMessage(RawId, code, $"{text}: {Invalid}");
            }
            var eventStream = ContentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true;
            var isRequest = Message!.Kind == JsonRpcKind.Request;
            var found = Failure is null ? UpstreamAnswer.Find(Answer, eventStream, RawId.Span, events.Add) : null;
            if (!isRequest)
            {
                failure = Failure ?? (Status is >= 200 and < 300 ? null : $"HTTP {Status}");
                return ReadOnlyMemory<byte>.Empty;
            }
            if (found is not null)
            {
                return found.Message;
            }
            // An error answered with id null (the upstream could not read the id) is this element's error.
            if (Failure is null && !eventStream && UpstreamAnswer.Find(Answer, false, "null"u8) is { IsError: true } anonymous)
            {
                failure = $"HTTP {Status}";
                return ErrorMessage(RawId, anonymous.Error.Span);
            }
            failure = Failure ?? $"HTTP {Status} without a response to the request";
            return ErrorMessage(RawId, McpErrorCodes.InternalError, Failure is null
                ? $"Internal error: the upstream answered HTTP {Status} without a response to this request."
                : "Internal error: the request could not be forwarded.");
        }

        private static ReadOnlyMemory<byte> ErrorMessage(ReadOnlyMemory<byte> rawId, int code, string message)
        {
            var buffer = new ArrayBufferWriter<byte>(96 + message.Length);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteNumber("code", code);
                writer.WriteString("message", message);
                writer.WriteEndObject();
            }
            return ErrorMessage(rawId, buffer.WrittenSpan);
        }

        private static ReadOnlyMemory<byte> ErrorMessage(ReadOnlyMemory<byte> rawId, ReadOnlySpan<byte> error)
        {
            var buffer = new ArrayBufferWriter<byte>(48 + rawId.Length + error.Length);
            buffer.Write("{\"jsonrpc\":\"2.0\",\"id\":"u8);
            buffer.Write(rawId.IsEmpty ? "null"u8 : rawId.Span);
            buffer.Write(",\"error\":"u8);
            buffer.Write(error);
            buffer.Write("}"u8);
            return buffer.WrittenMemory;
        }
    }

    /// <summary>
    /// A POST of one element, made from the batch's request: same path, headers (but its own
    /// <c>Content-Length</c>), connection, user and route; its answer is kept in memory.
    /// </summary>
    private sealed class ElementContext : IDisposable
    {
        private readonly CaptureStream _answer;
        private readonly Lifetime _lifetime;

        public ElementContext(HttpContext batch, IReverseProxyFeature proxy, IReadOnlyList<DestinationState> destinations, Element element, int maxAnswerBytes)
        {
            // Bounded: past the limit the write fails, which ends the upstream exchange.
            _answer = new CaptureStream(Stream.Null, maxAnswerBytes) { FailOnOverflow = true };
            var source = batch.Request;
            var headers = new HeaderDictionary();
            foreach (var header in source.Headers)
            {
                headers[header.Key] = header.Value;
            }
            headers.Remove(Microsoft.Net.Http.Headers.HeaderNames.TransferEncoding);
            headers.ContentLength = element.Buffer.Length;

            var features = new FeatureCollection();
            features.Set<IHttpRequestFeature>(new HttpRequestFeature
            {
                Method = HttpMethods.Post,
                Scheme = source.Scheme,
                PathBase = source.PathBase,
                Path = source.Path,
                QueryString = source.QueryString.Value ?? "",
                Protocol = source.Protocol,
                Headers = headers,
                Body = new MemoryStream(element.Buffer, writable: false),
            });
            features.Set<IHttpRequestBodyDetectionFeature>(new BodyDetection());
            features.Set<IHttpResponseFeature>(new HttpResponseFeature());
            features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(_answer));
            _lifetime = new Lifetime(batch.RequestAborted);
            features.Set<IHttpRequestLifetimeFeature>(_lifetime);
            if (batch.Features.Get<IHttpConnectionFeature>() is { } connection)
            {
                features.Set(connection);
            }
            features.Set<IReverseProxyFeature>(new ReverseProxyFeature
            {
                Route = proxy.Route,
                Cluster = proxy.Cluster,
                AllDestinations = proxy.AllDestinations,
                AvailableDestinations = destinations,
            });
            features.Set(element.Message);

            Context = new DefaultHttpContext(features)
            {
                User = batch.User,
                RequestServices = batch.RequestServices,
                TraceIdentifier = batch.TraceIdentifier,
            };
            Context.SetEndpoint(batch.GetEndpoint());
        }

        public HttpContext Context { get; }

        /// <summary>A copy of the answer (the capture's buffer goes back to the pool on dispose).</summary>
        public ReadOnlyMemory<byte> Answer => _answer.Captured.ToArray();

        public bool Overflowed => _answer.Overflowed;

        public void Dispose()
        {
            _lifetime.Dispose();
            _answer.Dispose();
        }

        private sealed class BodyDetection : IHttpRequestBodyDetectionFeature
        {
            public bool CanHaveBody => true;
        }

        /// <summary>Aborted with the batch's request, or on its own (an element's stream was cut).</summary>
        private sealed class Lifetime(CancellationToken batch) : IHttpRequestLifetimeFeature, IDisposable
        {
            private readonly CancellationTokenSource _aborted = CancellationTokenSource.CreateLinkedTokenSource(batch);

            public CancellationToken RequestAborted
            {
                get => _aborted.Token;
                set => throw new NotSupportedException();
            }

            public void Abort() => _aborted.Cancel();

            public void Dispose() => _aborted.Dispose();
        }
    }

    [LoggerMessage(EventId = 90, Level = LogLevel.Information, Message = "Batch of {Count} messages for server {Server} refused: {Reason}.")]
    private static partial void LogRefused(ILogger logger, string server, int count, string reason);

    [LoggerMessage(EventId = 91, Level = LogLevel.Information, Message = "Batch element {Method} for server {Server} failed: {Failure}.")]
    private static partial void LogElementFailed(ILogger logger, string server, string method, string failure);

    [LoggerMessage(EventId = 92, Level = LogLevel.Information, Message = "Batch for server {Server}: {Count} notification events from the upstream dropped (the client does not accept text/event-stream).")]
    private static partial void LogEventsDropped(ILogger logger, string server, int count);
}
