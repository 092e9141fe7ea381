using System.Text.Json;

namespace McpEdge.Protocol;

/// <summary>Writes edge-generated JSON-RPC error responses (<c>{"jsonrpc":"2.0","id":null,"error":{"code":…,"message":…}}</c>).</summary>
public static class JsonRpcErrorResponse
{
    /// <summary>
    /// Sets <paramref name="statusCode"/>, <c>Content-Type: application/json</c> and writes the
    /// error body with a <c>null</c> id (the edge answers before reading the request body).
    /// Does nothing if the response has already started.
    /// </summary>
    /// <param name="context">The request.</param>
    /// <param name="statusCode">The HTTP status.</param>
    /// <param name="code">The JSON-RPC error code (<see cref="McpErrorCodes"/>).</param>
    /// <param name="message">The error message.</param>
    /// <param name="retryAfterSeconds">When set, a <c>Retry-After</c> header in seconds (RFC 9110 §10.2.3).</param>
    public static Task WriteAsync(HttpContext context, int statusCode, int code, string message, int? retryAfterSeconds = null)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return Task.CompletedTask;
        }
        response.Clear();
        response.StatusCode = statusCode;
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
            writer.WriteNull("id");
            writer.WriteStartObject("error");
            writer.WriteNumber("code", code);
            writer.WriteString("message", message);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        response.ContentLength = buffer.WrittenCount;
        return response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).AsTask();
    }
}
