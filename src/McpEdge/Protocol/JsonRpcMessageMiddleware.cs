using System.Buffers;
using System.Text;
using McpEdge.Configuration;

namespace McpEdge.Protocol;

/// <summary>
/// First step of the proxy pipeline for POSTs: reads the body once into a pooled buffer (at most
/// <see cref="MessageOptions.MaxBytes"/>), parses its top level (<see cref="JsonRpcEnvelope"/>),
/// checks the MCP 2026-07-28 standard headers against it, and sets
/// <see cref="JsonRpcMessageFeature"/>; the upstream then gets the same bytes from the buffer.
/// </summary>
/// <remarks>
/// Refusals, each with a JSON-RPC error carrying the request's <c>id</c> when it was read and one
/// log line with the reason: body larger than the limit → 413 (-32600); a body Kestrel cannot read
/// (<see cref="BadHttpRequestException"/>: broken chunked framing, fewer bytes than its
/// <c>Content-Length</c>, below the minimum data rate) → its status, 400 or 408 (-32700); not JSON,
/// not UTF-8 or too deep → 400 (-32700); not a JSON-RPC message, or one with a member the edge reads
/// given twice → 400 (-32600); a <c>name</c>, <c>uri</c> or <c>cursor</c> of the wrong type → 400
/// (-32602); <c>Mcp-Method</c>/<c>Mcp-Name</c>
/// not matching the body, or missing on a 2026-07-28 request → 400 (-32020, MCP 2026-07-28
/// basic/transports/streamable-http.mdx "Server Validation"; an encoded
/// <c>=?base64?…?=</c> value is decoded first).
/// </remarks>
internal sealed partial class JsonRpcMessageMiddleware(RequestDelegate next, McpEdgeConfigState config, ILogger<JsonRpcMessageMiddleware> logger)
{
    /// <summary>The first revision whose requests carry <c>Mcp-Method</c> and <c>Mcp-Name</c>.</summary>
    public const string StandardHeadersRevision = "2026-07-28";

    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context) => HttpMethods.IsPost(context.Request.Method) ? ReadAndParseAsync(context) : next(context);

    private Task ReadAndParseAsync(HttpContext context)
    {
        var request = context.Request;
        var limits = config.Current.Messages;
        if (request.ContentLength > limits.MaxBytes)
        {
            return RejectTooLargeAsync(context, limits.MaxBytes);
        }
        // A small body has usually arrived with the headers: then no async frame of this step at all.
        var read = ReadBodyAsync(request, limits.MaxBytes, context.RequestAborted);
        return read.IsCompletedSuccessfully ? ParseAndContinue(context, read.Result, limits) : ReadThenParseAsync(context, read, limits);
    }

    private async Task ReadThenParseAsync(HttpContext context, ValueTask<(byte[]? Buffer, int Length)> read, MessageOptions limits)
    {
        (byte[]? Buffer, int Length) body;
        try
        {
            body = await read;
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel found the body's framing broken (a bad chunk, the body ending before its
            // Content-Length, too slow a sender): the client's mistake, answered like any other bad
            // message instead of surfacing as an application error.
            var reason = $"the request body could not be read ({ex.Message})";
            LogRejected(logger, RouteServer(context), ex.StatusCode, McpErrorCodes.ParseError, reason);
            await JsonRpcErrorResponse.WriteAsync(context, ex.StatusCode, McpErrorCodes.ParseError, $"Parse error: {reason}");
            return;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException && context.RequestAborted.IsCancellationRequested)
        {
            LogClientGone(logger, RouteServer(context), ex.GetType().Name);
            return;
        }
        await ParseAndContinue(context, body, limits);
    }

    private Task ParseAndContinue(HttpContext context, (byte[]? Buffer, int Length) body, MessageOptions limits)
    {
        var (buffer, length) = body;
        if (buffer is null)
        {
            return RejectTooLargeAsync(context, limits.MaxBytes);
        }
        var request = context.Request;
        var status = JsonRpcEnvelope.Parse(buffer.AsSpan(0, length), limits.MaxDepth, out var envelope, out var reason);
        var message = new JsonRpcMessageFeature(buffer, length, envelope, pooled: true);
        // The buffer lives until the request has ended (as ASP.NET Core's own request buffering does):
        // steps before this one (the access log, the log scope) read the message after the rest of the
        // pipeline has run, and an upstream send may still be writing it (JsonRpcBodyContent).
        context.Response.RegisterForDispose(message);
        if (status != JsonRpcParseStatus.Ok)
        {
            var (code, text) = McpErrorCodes.ForParseStatus(status);
            LogRejected(logger, RouteServer(context), 400, code, reason!);
            return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status400BadRequest, code, $"{text}: {reason}", message.RawId, null, null);
        }
        if (HeaderMismatch(request, message) is { } mismatch)
        {
            LogRejected(logger, RouteServer(context), 400, McpErrorCodes.HeaderMismatch, mismatch);
            return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status400BadRequest, McpErrorCodes.HeaderMismatch, $"Header mismatch: {mismatch}", message.RawId, null, null);
        }

        context.Features.Set(message);
        // Later readers of the body (a retried forward, a batch element) read the buffer.
        request.Body = new MemoryStream(buffer, 0, length, writable: false);
        request.ContentLength = length;
        return next(context);
    }

    /// <summary>Reads the whole body into a pooled buffer; a null buffer when it is larger than <paramref name="maxBytes"/>.</summary>
    private static async ValueTask<(byte[]? Buffer, int Length)> ReadBodyAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(request.ContentLength ?? 4096, maxBytes) + 1);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > maxBytes)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        return (null, 0);
                    }
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, maxBytes + 1L));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
                var read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    break;
                }
                length += read;
                if (length == request.ContentLength)
                {
                    break; // all of it: no read just to learn that the body has ended
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        if (length > maxBytes)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return (null, 0);
        }
        return (buffer, length);
    }

    /// <summary>What is wrong with the standard headers, or null when they agree with the body.</summary>
    internal static string? HeaderMismatch(HttpRequest request, JsonRpcMessageFeature message)
    {
        if (message.Kind is not (JsonRpcKind.Request or JsonRpcKind.Notification))
        {
            return null;
        }
        var version = request.Headers[McpHeaders.ProtocolVersion].ToString();
        var required = string.CompareOrdinal(version, StandardHeadersRevision) >= 0;

        var methodHeader = request.Headers[McpHeaders.Method];
        if (methodHeader.Count == 0)
        {
            if (required)
            {
                return $"the Mcp-Method header is required (body method '{message.Method}')";
            }
        }
        else if (methodHeader.Count > 1 || !string.Equals(methodHeader[0], message.Method, StringComparison.Ordinal))
        {
            return $"Mcp-Method header value '{methodHeader}' does not match body value '{message.Method}'";
        }

        var nameHeader = request.Headers[McpHeaders.Name];
        if (nameHeader.Count == 0)
        {
            // The name is turned into a string only when it has to be compared or reported.
            return required && message.Name is { } missing ? $"the Mcp-Name header is required (body value '{missing}')" : null;
        }
        var name = message.Name;
        if (nameHeader.Count > 1 || DecodeHeaderValue(nameHeader[0]!) is not { } decoded)
        {
            return $"Mcp-Name header value '{nameHeader}' is malformed";
        }
        return string.Equals(decoded, name, StringComparison.Ordinal) ? null : $"Mcp-Name header value '{decoded}' does not match body value '{name}'";
    }

    /// <summary>
    /// A header value with the Base64 sentinel (<c>=?base64?{value}?=</c>, MCP 2026-07-28
    /// basic/transports/streamable-http.mdx "Value Encoding") decoded; null when the encoding is broken.
    /// </summary>
    internal static string? DecodeHeaderValue(string value)
    {
        const string Prefix = "=?base64?", Suffix = "?=";
        if (!value.StartsWith(Prefix, StringComparison.Ordinal) || !value.EndsWith(Suffix, StringComparison.Ordinal) || value.Length < Prefix.Length + Suffix.Length)
        {
            return value;
        }
        var encoded = value.AsSpan(Prefix.Length, value.Length - Prefix.Length - Suffix.Length);
        var bytes = new byte[(encoded.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64Chars(encoded, bytes, out var written))
        {
            return null;
        }
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, 0, written);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    private Task RejectTooLargeAsync(HttpContext context, int maxBytes)
    {
        LogRejected(logger, RouteServer(context), 413, McpErrorCodes.InvalidRequest, $"body larger than {maxBytes} bytes");
        return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, McpErrorCodes.InvalidRequest,
            $"Invalid Request: the message is larger than {maxBytes} bytes (McpEdge:Messages:MaxBytes)");
    }

    private static string RouteServer(HttpContext context) =>
        context.GetReverseProxyFeature()?.Route.Config.RouteId ?? "-";

    [LoggerMessage(EventId = 70, Level = LogLevel.Information, Message = "JSON-RPC message for route {Route} rejected with {Status} ({Code}): {Reason}.")]
    private static partial void LogRejected(ILogger logger, string route, int status, int code, string reason);

    [LoggerMessage(EventId = 71, Level = LogLevel.Information, Message = "JSON-RPC message for route {Route} not read: the client closed the connection while sending it ({ErrorType}).")]
    private static partial void LogClientGone(ILogger logger, string route, string errorType);
}
