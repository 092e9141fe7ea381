using System.Buffers;
using System.Buffers.Text;
using McpEdge.Configuration;
using McpEdge.Protocol;
using Microsoft.Extensions.Caching.Hybrid;

namespace McpEdge.Caching;

/// <summary>
/// Proxy-pipeline step (after session routing, before failover and load balancing) that answers
/// list requests from <see cref="ListCache"/> and fills it from upstream answers.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Cached: a request (not a notification) for one of the four list methods whose
/// <c>params</c> hold nothing but <c>cursor</c> and <c>_meta</c>, to a Streamable HTTP server with
/// <see cref="ListCacheOptions.Enabled"/>. The HTTP+SSE transport answers on another stream and is not cached.</item>
/// <item>A miss goes upstream as usual and its answer reaches the client unchanged while a copy (up to
/// <see cref="CachingOptions.MaxEntryBytes"/>) is read: the response with the request's id, from a
/// JSON body or from the events of an SSE body. Only a 200 with a <c>result</c> (of
/// <c>resultType</c> <c>complete</c> or none) is stored, never an error; concurrent misses for one
/// key wait for that one upstream call (<see cref="HybridCache"/> stampede protection) and are
/// answered from its result, or go upstream themselves when it could not be cached.</item>
/// <item>Scope and freshness: <c>cacheScope</c>/<c>ttlMs</c> when the result has them (<c>ttlMs</c>
/// 0 or missing beside a <c>cacheScope</c> is not cached), else <see cref="ListCacheOptions.Scope"/>
/// and <see cref="ListCacheOptions.Ttl"/>; never longer than <see cref="ListCacheOptions.MaxTtl"/>.</item>
/// <item>A hit is answered with the caller's <c>id</c>, <c>ttlMs</c> rewritten to the time left, as
/// JSON, or as one SSE <c>message</c> event when the request's <c>Accept</c> does not take JSON, with
/// <c>X-Cache: HIT</c>.</item>
/// </list>
/// </remarks>
internal sealed partial class ListCacheMiddleware(RequestDelegate next, ListCache cache, McpEdgeConfigState config, TimeProvider time, ILogger<ListCacheMiddleware> logger)
{
    private readonly RequestDelegate _next = next;
    private readonly ListCache _cache = cache;
    private readonly McpEdgeConfigState _config = config;
    private readonly TimeProvider _time = time;

    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context) =>
        context.Features.Get<JsonRpcMessageFeature>() is not { Kind: JsonRpcKind.Request } message || !ListCache.IsListMethod(message.Method)
            || message.Envelope.ParamsBeyondCursor || ServerOf(context) is not { } server
            || !_config.Current.Servers.TryGetValue(server, out var options) || !options.Cache.Enabled || options.Transport != McpTransports.StreamableHttp
            ? _next(context)
            : CachedAsync(context, message, server, options);

    private async Task CachedAsync(HttpContext context, JsonRpcMessageFeature message, string server, McpServerOptions options)
    {
        var method = message.Method!;
        var request = ListCacheRequest.From(context, server, message);
        var configured = ListCache.ParseScope(options.Cache.Scope);
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var keyed = _cache.ScopeFor(server, method, configured);
            var fetch = new Fetch(this, context, message, server, request, keyed, options.Cache);
            if (request.KeyFor(keyed) is not { } key)
            {
                // This request cannot share under that scope (no session, say), but the answer may say
                // another scope (a 2026-07-28 public list): fetch without a key and learn from it.
                try
                {
                    await fetch.RunAsync();
                }
                catch (UncacheableException uncacheable)
                {
                    LogNotCached(logger, server, method, uncacheable.Message);
                }
                return;
            }

            CachedListResult entry;
            try
            {
                entry = await _cache.Store.GetOrCreateAsync(key, fetch, static (f, _) => f.RunAsync(),
                    new HybridCacheEntryOptions { Expiration = options.Cache.MaxTtl }, [ListCache.Tag(server, method)], context.RequestAborted);
            }
            catch (Exception ex) when (fetch.Led)
            {
                if (ex is UncacheableException uncacheable)
                {
                    LogNotCached(logger, server, method, uncacheable.Message);
                    return;
                }
                throw;
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                return;
            }
            catch (Exception)
            {
                // The concurrent fetch this request waited for failed or could not be shared: go upstream.
                _cache.Bypass(server, method);
                await _next(context);
                return;
            }

            if (fetch.Led)
            {
                return; // The upstream's answer went to this client as it came.
            }
            var now = _time.GetTimestamp();
            if (now >= entry.ExpiresAt)
            {
                // Stored for MaxTtl but fresh for less (its own ttlMs): drop it and fetch anew.
                await _cache.Store.RemoveAsync(key);
                continue;
            }
            _cache.Hit(server, method);
            await WriteHitAsync(context, entry, message.RawId, (entry.ExpiresAt - now) * 1000 / _time.TimestampFrequency);
            return;
        }
        await _next(context);
    }

    private static string? ServerOf(HttpContext context)
    {
        var metadata = context.GetReverseProxyFeature().Route.Config.Metadata;
        return metadata is not null && metadata.TryGetValue(McpProxyConfigBuilder.MetadataKeys.Server, out var server)
            && (!metadata.TryGetValue(McpProxyConfigBuilder.MetadataKeys.RouteKind, out var kind) || kind == McpProxyConfigBuilder.RouteKinds.Endpoint)
            ? server : null;
    }

    /// <summary>Writes a hit: <c>{"jsonrpc":"2.0","id":…,"result":…}</c> as JSON or as one SSE event.</summary>
    internal static Task WriteHitAsync(HttpContext context, CachedListResult entry, ReadOnlyMemory<byte> rawId, long remainingMs)
    {
        var json = new ArrayBufferWriter<byte>(entry.Result.Length + rawId.Length + 64);
        json.Write("{\"jsonrpc\":\"2.0\",\"id\":"u8);
        json.Write(rawId.Span);
        json.Write(",\"result\":"u8);
        if (entry.TtlOffset < 0)
        {
            json.Write(entry.Result);
        }
        else
        {
            json.Write(entry.Result.AsSpan(0, entry.TtlOffset));
            Utf8Formatter.TryFormat(Math.Max(0, remainingMs), json.GetSpan(20), out var written);
            json.Advance(written);
            json.Write(entry.Result.AsSpan(entry.TtlOffset + entry.TtlLength));
        }
        json.Write("}"u8);

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.Headers["X-Cache"] = "HIT";
        if (AcceptsJson(context.Request.Headers.Accept.ToString()))
        {
            response.ContentType = "application/json";
            response.ContentLength = json.WrittenCount;
            return response.Body.WriteAsync(json.WrittenMemory, context.RequestAborted).AsTask();
        }
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        var sse = new ArrayBufferWriter<byte>(json.WrittenCount + 32);
        sse.Write("event: message\ndata: "u8);
        // JSON has line breaks only between tokens: each line becomes a data line.
        var rest = json.WrittenSpan;
        int newline;
        while ((newline = rest.IndexOfAny((byte)'\r', (byte)'\n')) >= 0)
        {
            sse.Write(rest[..newline]);
            sse.Write("\ndata: "u8);
            rest = rest[(newline + 1)..];
        }
        sse.Write(rest);
        sse.Write("\n\n"u8);
        response.ContentLength = sse.WrittenCount;
        return response.Body.WriteAsync(sse.WrittenMemory, context.RequestAborted).AsTask();
    }

    /// <summary>True unless <c>Accept</c> lists media types and none of them takes JSON.</summary>
    internal static bool AcceptsJson(string accept) =>
        accept.Length == 0 || accept.Contains("application/json", StringComparison.OrdinalIgnoreCase)
        || accept.Contains("*/*", StringComparison.Ordinal) || accept.Contains("application/*", StringComparison.OrdinalIgnoreCase)
        || !accept.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase);

    /// <summary>The leader of a miss: forwards the request, relays the answer and reads a copy of it.</summary>
    private sealed class Fetch(ListCacheMiddleware owner, HttpContext context, JsonRpcMessageFeature message, string server,
        ListCacheRequest request, ListCacheScope keyed, ListCacheOptions options)
    {
        /// <summary>True once this request's own factory ran (its client gets the upstream's answer directly).</summary>
        public bool Led { get; private set; }

        public async ValueTask<CachedListResult> RunAsync()
        {
            Led = true;
            var cache = owner._cache;
            var method = message.Method!;
            cache.Miss(server, method);
            var started = owner._time.GetTimestamp();
            var response = context.Response;
            var original = response.Body;
            using var capture = new CaptureStream(original, owner._config.Current.Caching.MaxEntryBytes);
            response.Body = capture;
            try
            {
                await owner._next(context);
            }
            finally
            {
                response.Body = original;
            }

            var value = Read(capture, started, out var scope, out var ttl);
            if (scope != keyed)
            {
                // The server says another scope than the key was built for: never store it under this
                // key; store it under its own (when this request can use it) and key by it from now on.
                cache.Learn(server, method, scope);
                if (request.KeyFor(scope) is { } own)
                {
                    await cache.Store.SetAsync(own, value, new HybridCacheEntryOptions { Expiration = ttl }, [ListCache.Tag(server, method)]);
                }
                throw new UncacheableException($"the result's scope is {scope}, the request was keyed {keyed}");
            }
            return value;
        }

        private CachedListResult Read(CaptureStream capture, long started, out ListCacheScope scope, out TimeSpan ttl)
        {
            var response = context.Response;
            if (response.StatusCode != StatusCodes.Status200OK)
            {
                throw new UncacheableException($"the upstream answered {response.StatusCode}");
            }
            if (capture.Overflowed)
            {
                throw new UncacheableException($"the answer is larger than Caching:MaxEntryBytes ({owner._config.Current.Caching.MaxEntryBytes} bytes)");
            }
            var contentType = response.ContentType ?? "";
            var eventStream = contentType.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase);
            if (!eventStream && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            {
                throw new UncacheableException($"the answer's content type is '{contentType}'");
            }
            var answer = UpstreamAnswer.Find(capture.Captured, eventStream, message.RawId.Span)
                ?? throw new UncacheableException("the answer holds no response to the request");
            if (answer.IsError)
            {
                throw new UncacheableException("the upstream answered with an error");
            }
            if (answer.ResultType is not (null or "complete"))
            {
                throw new UncacheableException($"the result type is '{answer.ResultType}'");
            }

            scope = answer.CacheScope switch
            {
                "public" => ListCacheScope.Shared,
                "private" => ListCacheScope.Principal,
                _ => ListCache.ParseScope(options.Scope),
            };
            if (answer.TtlMs is { } ms)
            {
                ttl = ms > 0 ? TimeSpan.FromMilliseconds(ms) : throw new UncacheableException("ttlMs is 0");
            }
            else
            {
                ttl = answer.CacheScope is null ? options.Ttl : throw new UncacheableException("cacheScope without ttlMs (stale at once)");
            }
            if (ttl > options.MaxTtl)
            {
                ttl = options.MaxTtl;
            }
            var ttlOffset = answer.TtlOffset < 0 ? -1 : answer.TtlOffset - answer.ResultOffset;
            return new CachedListResult(answer.Result.ToArray(), ttlOffset, answer.TtlLength,
                started + (long)(ttl.TotalSeconds * owner._time.TimestampFrequency), scope);
        }
    }

    /// <summary>The upstream's answer could not be cached (or not under the key asked for); the message says why.</summary>
    private sealed class UncacheableException(string message) : Exception(message);

    [LoggerMessage(EventId = 81, Level = LogLevel.Debug, Message = "{Method} answer from server {Server} not cached: {Reason}.")]
    private static partial void LogNotCached(ILogger logger, string server, string method, string reason);
}
