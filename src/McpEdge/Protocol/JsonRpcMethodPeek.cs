using System.Text.Json;

namespace McpEdge.Protocol;

/// <summary>
/// Reads the top-level <c>method</c> of a single JSON-RPC message without materialising the
/// document (one <see cref="Utf8JsonReader"/> pass, nested values skipped). Used by failover to
/// tell the messages that are safe to repeat.
/// </summary>
internal static class JsonRpcMethodPeek
{
    /// <summary>The <c>method</c> string of the top-level object, or null for a batch, a response, malformed JSON or a missing/non-string method.</summary>
    public static string? TryGetMethod(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isMethod = reader.ValueTextEquals("method"u8);
                if (!reader.Read())
                {
                    return null;
                }
                if (isMethod)
                {
                    return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                reader.Skip();
            }
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
