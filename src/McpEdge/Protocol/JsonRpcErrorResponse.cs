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
    public static Task WriteAsync(HttpContext context, int statusCode, int code, string message)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return Task.CompletedTask;
        }
        response.Clear();
        response.StatusCode = statusCode;
        response.ContentType = "application/json";
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
