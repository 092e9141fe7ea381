using System.Buffers;
using System.Text.Json;

namespace McpEdge.Exposure;

/// <summary>
/// The requests that name a prompt or resource inside their parameters rather than as
/// <c>params.name</c> or <c>params.uri</c>: <c>completion/complete</c> (its <c>params.ref</c>) and the
/// 2026-07-28 <c>subscriptions/listen</c> (its <c>params.notifications.resourceSubscriptions</c>).
/// Both are read with <see cref="JsonDocument"/>: they are rare next to calls, and read only for a
/// server whose prompts or resources are filtered.
/// </summary>
internal static class ExposedRequests
{
    /// <summary>
    /// What a <c>completion/complete</c> request completes: <c>params.ref</c> of type <c>ref/prompt</c>
    /// (its <c>name</c>) or <c>ref/resource</c> (its <c>uri</c>, a resource template's
    /// <c>uriTemplate</c> or a resource's URI) (MCP 2025-11-25 <c>server/utilities/completion.mdx</c>,
    /// "Reference Types"; the same in 2025-03-26 … 2026-07-28). Null for any other shape, which the
    /// replica judges.
    /// </summary>
    /// <param name="body">The request, already parsed once by the envelope (so valid JSON within <paramref name="maxDepth"/>).</param>
    /// <param name="maxDepth">The nesting the envelope accepted.</param>
    public static (ExposedKind Kind, string Key)? CompletionRef(ReadOnlyMemory<byte> body, int maxDepth)
    {
        using var document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = maxDepth });
        if (!document.RootElement.TryGetProperty("params"u8, out var parameters) || parameters.ValueKind != JsonValueKind.Object
            || !parameters.TryGetProperty("ref"u8, out var reference) || reference.ValueKind != JsonValueKind.Object
            || !reference.TryGetProperty("type"u8, out var type) || type.ValueKind != JsonValueKind.String)
        {
            return null;
        }
        var prompt = type.ValueEquals("ref/prompt"u8);
        if (!prompt && !type.ValueEquals("ref/resource"u8))
        {
            return null;
        }
        return reference.TryGetProperty(prompt ? "name"u8 : "uri"u8, out var named) && named.ValueKind == JsonValueKind.String
            ? (prompt ? ExposedKind.Prompt : ExposedKind.Resource, named.GetString()!) : null;
    }

    /// <summary>The members that lead to the URIs of a <c>subscriptions/listen</c> request.</summary>
    private static readonly byte[][] SubscriptionsPath = ["params"u8.ToArray(), "notifications"u8.ToArray(), "resourceSubscriptions"u8.ToArray()];

    /// <summary>
    /// A <c>subscriptions/listen</c> request (MCP 2026-07-28 <c>basic/patterns/subscriptions.mdx</c>,
    /// "Notification Filter") without the URIs of <c>params.notifications.resourceSubscriptions</c>
    /// that <paramref name="exposes"/> hides, everything else as it was (re-serialized). The server then
    /// acknowledges only what is left, as it would for URIs it does not know, and sends no
    /// <c>notifications/resources/updated</c> for a hidden one. Every member on that path is filtered,
    /// duplicates included, so a replica that reads another duplicate than the edge finds none either.
    /// </summary>
    /// <param name="body">The request, already parsed once by the envelope.</param>
    /// <param name="maxDepth">The nesting the envelope accepted.</param>
    /// <param name="exposes">Whether a URI stays.</param>
    /// <param name="hidden">The URIs left out.</param>
    /// <returns>The new body, or null when no URI was hidden (the request then goes as it came).</returns>
    public static byte[]? WithoutHiddenSubscriptions(ReadOnlyMemory<byte> body, int maxDepth, Func<string, bool> exposes, out List<string> hidden)
    {
        hidden = [];
        using var document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = maxDepth });
        var output = new ArrayBufferWriter<byte>(body.Length);
        using (var writer = new Utf8JsonWriter(output, new JsonWriterOptions { MaxDepth = maxDepth, SkipValidation = true }))
        {
            WriteFiltered(writer, document.RootElement, 0, exposes, hidden);
        }
        return hidden.Count == 0 ? null : output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Writes <paramref name="element"/>; past the end of <see cref="SubscriptionsPath"/> (an array)
    /// without the strings <paramref name="exposes"/> hides, and on the way there (objects) with the
    /// member that continues the path written the same way.
    /// </summary>
    private static void WriteFiltered(Utf8JsonWriter writer, JsonElement element, int level, Func<string, bool> exposes, List<string> hidden)
    {
        if (level == SubscriptionsPath.Length && element.ValueKind == JsonValueKind.Array)
        {
            writer.WriteStartArray();
            foreach (var item in element.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String && item.GetString() is { } uri && !exposes(uri))
                {
                    hidden.Add(uri);
                    continue;
                }
                item.WriteTo(writer);
            }
            writer.WriteEndArray();
            return;
        }
        if (level == SubscriptionsPath.Length || element.ValueKind != JsonValueKind.Object)
        {
            element.WriteTo(writer);
            return;
        }
        writer.WriteStartObject();
        foreach (var member in element.EnumerateObject())
        {
            if (!member.NameEquals(SubscriptionsPath[level]))
            {
                member.WriteTo(writer);
                continue;
            }
            writer.WritePropertyName(member.Name);
            WriteFiltered(writer, member.Value, level + 1, exposes, hidden);
        }
        writer.WriteEndObject();
    }
}
