using System.Text.Json;

namespace McpEdge.Protocol;

/// <summary>Writes edge-generated JSON-RPC error responses (<c>{"jsonrpc":"2.0","id":…,"error":{"code":…,"message":…,"data":…}}</c>, JSON-RPC 2.0 §5.1).</summary>
public static class JsonRpcErrorResponse
{
    /// <summary>
    /// Sets <paramref name="statusCode"/>, <c>Content-Type: application/json</c> and writes the
    /// error body with a <c>null</c> id (for answers given before the body is read).
    /// Does nothing if the response has already started.
    /// </summary>
    /// <param name="context">The request.</param>
    /// <param name="statusCode">The HTTP status.</param>
    /// <param name="code">The JSON-RPC error code (<see cref="McpErrorCodes"/>).</param>
    /// <param name="message">The error message.</param>
    /// <param name="retryAfterSeconds">When set, a <c>Retry-After</c> header in seconds (RFC 9110 §10.2.3).</param>
    public static Task WriteAsync(HttpContext context, int statusCode, int code, string message, int? retryAfterSeconds = null) =>
        WriteAsync(context, statusCode, code, message, ReadOnlyMemory<byte>.Empty, retryAfterSeconds, writeData: null);

    /// <summary>
    /// As above, answering the request with <paramref name="rawId"/> (its <c>id</c> as raw JSON;
    /// empty writes <c>null</c>) and, when <paramref name="writeData"/> is given, an
    /// <c>error.data</c> value it writes.
    /// </summary>
    /// <param name="context">The request.</param>
    /// <param name="statusCode">The HTTP status.</param>
    /// <param name="code">The JSON-RPC error code (<see cref="McpErrorCodes"/>).</param>
    /// <param name="message">The error message.</param>
    /// <param name="rawId">The request's id as raw JSON, or empty.</param>
    /// <param name="retryAfterSeconds">When set, a <c>Retry-After</c> header in seconds (RFC 9110 §10.2.3).</param>
    /// <param name="writeData">Writes one JSON value for <c>error.data</c>, or null for none.</param>
    public static Task WriteAsync(HttpContext context, int statusCode, int code, string message, ReadOnlyMemory<byte> rawId, int? retryAfterSeconds, Action<Utf8JsonWriter>? writeData) =>
        Write(context, statusCode, code, message, rawId, retryAfterSeconds, writeData, header: null);

    /// <summary>
    /// As the first overload (a <c>null</c> id), with one more response header, such as the
    /// <c>WWW-Authenticate</c> challenge of a refused bearer token (RFC 6750 §3).
    /// </summary>
    /// <param name="context">The request.</param>
    /// <param name="statusCode">The HTTP status.</param>
    /// <param name="code">The JSON-RPC error code (<see cref="McpErrorCodes"/>).</param>
    /// <param name="message">The error message.</param>
    /// <param name="headerName">The header's name.</param>
    /// <param name="headerValue">Its value.</param>
    public static Task WriteAsync(HttpContext context, int statusCode, int code, string message, string headerName, string headerValue) =>
        Write(context, statusCode, code, message, ReadOnlyMemory<byte>.Empty, null, null, (headerName, headerValue));

    /// <summary>
    /// As the second overload (the request's id and an <c>error.data</c>), with one more response
    /// header, such as the <c>WWW-Authenticate</c> challenge of a step-up authorization (RFC 6750 §3.1).
    /// </summary>
    /// <param name="context">The request.</param>
    /// <param name="statusCode">The HTTP status.</param>
    /// <param name="code">The JSON-RPC error code (<see cref="McpErrorCodes"/>).</param>
    /// <param name="message">The error message.</param>
    /// <param name="rawId">The request's id as raw JSON, or empty.</param>
    /// <param name="writeData">Writes one JSON value for <c>error.data</c>, or null for none.</param>
    /// <param name="headerName">The header's name.</param>
    /// <param name="headerValue">Its value.</param>
    public static Task WriteAsync(HttpContext context, int statusCode, int code, string message, ReadOnlyMemory<byte> rawId, Action<Utf8JsonWriter>? writeData,
        string headerName, string headerValue) =>
        Write(context, statusCode, code, message, rawId, null, writeData, (headerName, headerValue));

    private static Task Write(HttpContext context, int statusCode, int code, string message, ReadOnlyMemory<byte> rawId, int? retryAfterSeconds,
        Action<Utf8JsonWriter>? writeData, (string Name, string Value)? header)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return Task.CompletedTask;
        }
        response.Clear();
        response.StatusCode = statusCode;
        if (header is { } extra)
        {
            response.Headers[extra.Name] = extra.Value;
        }
        response.ContentType = "application/json";
        if (retryAfterSeconds is { } seconds)
        {
            response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128 + message.Length);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("jsonrpc", "2.0");
            writer.WritePropertyName("id");
            if (rawId.IsEmpty)
            {
                writer.WriteNullValue();
            }
            else
            {
                writer.WriteRawValue(rawId.Span, skipInputValidation: true);
            }
            writer.WriteStartObject("error");
            writer.WriteNumber("code", code);
            writer.WriteString("message", message);
            if (writeData is not null)
            {
                writer.WritePropertyName("data");
                writeData(writer);
            }
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        response.ContentLength = buffer.WrittenCount;
        return response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).AsTask();
    }
}
