using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using McpEdge.Configuration;
using McpEdge.Protocol;
using McpEdge.Streaming;

namespace McpEdge.Exposure;

/// <summary>What a server exposes that <see cref="ExposureFilterOptions"/> can hide.</summary>
internal enum ExposedKind
{
    /// <summary>Tools, by name (<see cref="McpServerOptions.Tools"/>).</summary>
    Tool,
    /// <summary>Prompts, by name (<see cref="McpServerOptions.Prompts"/>).</summary>
    Prompt,
    /// <summary>Resources, by URI, and resource templates, by <c>uriTemplate</c> (<see cref="McpServerOptions.Resources"/>).</summary>
    Resource,
}

/// <summary>
/// A list method and where its result names each entry: <c>result.{Array}[].{Key}</c> (MCP 2025-11-25
/// <c>server/tools.mdx</c> "Listing Tools", <c>server/prompts.mdx</c> "Listing Prompts",
/// <c>server/resources.mdx</c> "Listing Resources" and "Resource Templates").
/// </summary>
internal sealed record ExposedList(string Method, ExposedKind Kind, string Array, string Key)
{
    private static readonly ExposedList Tools = new(McpMethods.ToolsList, ExposedKind.Tool, "tools", "name");
    private static readonly ExposedList Prompts = new(McpMethods.PromptsList, ExposedKind.Prompt, "prompts", "name");
    private static readonly ExposedList Resources = new(McpMethods.ResourcesList, ExposedKind.Resource, "resources", "uri");
    private static readonly ExposedList Templates = new(McpMethods.ResourceTemplatesList, ExposedKind.Resource, "resourceTemplates", "uriTemplate");

    /// <summary>The four lists.</summary>
    public static readonly IReadOnlyList<ExposedList> All = [Tools, Prompts, Resources, Templates];

    /// <summary>The list <paramref name="method"/> returns, or null when it is not one of the four.</summary>
    public static ExposedList? Of(string? method) => method switch
    {
        McpMethods.ToolsList => Tools,
        McpMethods.PromptsList => Prompts,
        McpMethods.ResourcesList => Resources,
        McpMethods.ResourceTemplatesList => Templates,
        _ => null,
    };
}

/// <summary>
/// A compiled <see cref="ExposureFilterOptions"/>: which names (URIs) a server exposes; and the
/// rewrite of a list answer without the entries a predicate hides. Thread-safe.
/// </summary>
internal sealed class ExposureFilter
{
    private static readonly ConditionalWeakTable<ExposureFilterOptions, ExposureFilter> Compiled = [];
    private readonly System.Text.RegularExpressions.Regex[] _allow;
    private readonly System.Text.RegularExpressions.Regex[] _deny;
    private readonly bool _uris;

    private ExposureFilter(ExposureFilterOptions options, bool uris)
    {
        _allow = [.. options.Allow.Select(Glob.Compile)];
        _deny = [.. options.Deny.Select(Glob.Compile)];
        _uris = uris;
    }

    /// <summary>
    /// The filter of <paramref name="options"/>, compiled once per configuration (a reload brings new
    /// options); with <paramref name="uris"/> it judges resource URIs (<see cref="IsAmbiguousUri"/>).
    /// </summary>
    public static ExposureFilter For(ExposureFilterOptions options, bool uris) => Compiled.GetOrAdd(options, static (o, uris) => new ExposureFilter(o, uris), uris);

    /// <summary>The filter of <paramref name="options"/>'s setting for <paramref name="kind"/>, or null when that setting hides nothing.</summary>
    public static ExposureFilter? For(McpServerOptions options, ExposedKind kind)
    {
        var setting = kind switch { ExposedKind.Tool => options.Tools, ExposedKind.Prompt => options.Prompts, _ => options.Resources };
        return setting.IsEnabled ? For(setting, kind == ExposedKind.Resource) : null;
    }

    /// <summary>True when the name (URI) <paramref name="name"/> is exposed.</summary>
    public bool Exposes(string name) =>
        !(_uris && IsAmbiguousUri(name)) && (_allow.Length == 0 || _allow.Any(g => g.IsMatch(name))) && !_deny.Any(g => g.IsMatch(name));

    /// <summary>
    /// True when <paramref name="uri"/> has a <c>.</c> or <c>..</c> segment (between <c>/</c> or
    /// <c>\</c>, up to a <c>?</c> or <c>#</c>) or a percent-encoded <c>.</c>, <c>/</c> or <c>\</c>
    /// (<c>%2E</c>, <c>%2F</c>, <c>%5C</c>, any case): a replica may resolve such a URI (RFC 3986
    /// §5.2.4, "Remove Dot Segments", or its own decoding) to one the globs, which match the URI as
    /// written, would hide. The edge does not guess how: it exposes none.
    /// </summary>
    internal static bool IsAmbiguousUri(ReadOnlySpan<char> uri)
    {
        if (uri.IndexOf('%') >= 0
            && (uri.Contains("%2e", StringComparison.OrdinalIgnoreCase) || uri.Contains("%2f", StringComparison.OrdinalIgnoreCase) || uri.Contains("%5c", StringComparison.OrdinalIgnoreCase)))
        {
            return true;
        }
        foreach (var range in uri.SplitAny('/', '\\'))
        {
            var segment = uri[range];
            var end = segment.IndexOfAny('?', '#');
            if (end >= 0)
            {
                segment = segment[..end];
            }
            if (segment is "." or "..")
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Rewrites an upstream answer to a <paramref name="list"/> request (<paramref name="rawId"/>)
    /// without the hidden entries: a JSON body, or an SSE body whose response event is rewritten in
    /// place (its <c>id</c>, <c>event</c> and <c>retry</c> lines kept, every other event as it was).
    /// </summary>
    /// <param name="body">The whole upstream answer.</param>
    /// <param name="eventStream">True when it is <c>text/event-stream</c>.</param>
    /// <param name="rawId">The request's id as raw JSON.</param>
    /// <param name="list">Which list the answer holds.</param>
    /// <param name="exposes">Whether an entry, by its <see cref="ExposedList.Key"/>, stays in the list.</param>
    /// <param name="hidden">How many entries were left out.</param>
    /// <returns>The new body, or null when nothing was hidden or the answer holds no such list (it then goes as it was).</returns>
    public static byte[]? Rewrite(ReadOnlyMemory<byte> body, bool eventStream, ReadOnlySpan<byte> rawId, ExposedList list, Func<string, bool> exposes, out int hidden)
    {
        hidden = 0;
        if (UpstreamAnswer.Find(body, eventStream, rawId) is not { IsError: false } response || WithoutHidden(response.Message, list, exposes, out hidden) is not { } message)
        {
            return null;
        }
        if (!eventStream)
        {
            return message;
        }
        var output = new ArrayBufferWriter<byte>(body.Length);
        var rest = body;
        var replaced = false;
        while (!rest.IsEmpty)
        {
            var end = SseFraming.FindEventEnd(rest.Span);
            var sseEvent = end < 0 ? rest : rest[..end];
            rest = end < 0 ? ReadOnlyMemory<byte>.Empty : rest[end..];
            if (!replaced && end >= 0 && UpstreamAnswer.EventData(sseEvent.Span).Span.SequenceEqual(response.Message.Span))
            {
                output.Write(SseFraming.RewriteEventData(sseEvent.Span, message));
                replaced = true;
                continue;
            }
            output.Write(sseEvent.Span);
        }
        return replaced ? output.WrittenSpan.ToArray() : null;
    }

    /// <summary>
    /// Rewrites one event of a resumed stream when its data is the answer to a list request (a
    /// JSON-RPC response whose <c>result</c> holds one of the lists of <see cref="ExposedList.All"/>;
    /// on a resumed stream the request's method is not known) and hides something: the event with
    /// its <c>data</c> replaced (<c>id</c>, <c>event</c> and <c>retry</c> kept); else null.
    /// </summary>
    /// <param name="sseEvent">One complete event, through its blank line.</param>
    /// <param name="exposesFor">What each list keeps; null for a list nothing is hidden from.</param>
    public static byte[]? RewriteReplayed(ReadOnlySpan<byte> sseEvent, Func<ExposedList, Func<string, bool>?> exposesFor)
    {
        var data = UpstreamAnswer.EventData(sseEvent);
        var trimmed = data.Span.TrimStart(" \t\r\n"u8);
        if (trimmed.IsEmpty || trimmed[0] != (byte)'{')
        {
            return null; // not a JSON object: no response
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(data, ParseOptions);
        }
        catch (JsonException)
        {
            return null; // not JSON: the client cannot read a list from it either
        }
        using (document)
        {
            // One parse per event: the result's member says which list it is, if any (progress and other notifications have no result).
            var root = document.RootElement;
            if (!root.TryGetProperty("result", out var result) || result.ValueKind != JsonValueKind.Object)
            {
                return null;
            }
            foreach (var list in ExposedList.All)
            {
                if (result.TryGetProperty(list.Array, out _))
                {
                    return exposesFor(list) is { } exposes && WithoutHidden(root, data.Length, list, exposes, out _) is { } message
                        ? SseFraming.RewriteEventData(sseEvent, message) : null;
                }
            }
        }
        return null;
    }

    private static readonly JsonDocumentOptions ParseOptions = new() { MaxDepth = 256 };

    /// <summary>The response message with <c>result.{Array}</c> filtered, or null when it hides nothing.</summary>
    private static byte[]? WithoutHidden(ReadOnlyMemory<byte> message, ExposedList list, Func<string, bool> exposes, out int hidden)
    {
        using var document = JsonDocument.Parse(message, ParseOptions);
        return WithoutHidden(document.RootElement, message.Length, list, exposes, out hidden);
    }

    /// <summary>As above, on a parsed message (an object); <paramref name="sizeHint"/> is its length in bytes.</summary>
    private static byte[]? WithoutHidden(JsonElement root, int sizeHint, ExposedList list, Func<string, bool> exposes, out int hidden)
    {
        bool IsExposed(JsonElement entry) => IsKept(entry, list.Key, exposes);
        hidden = 0;
        if (!root.TryGetProperty("result", out var result) || result.ValueKind != JsonValueKind.Object
            || !result.TryGetProperty(list.Array, out var entries) || entries.ValueKind != JsonValueKind.Array)
        {
            return null;
        }
        foreach (var entry in entries.EnumerateArray())
        {
            if (!IsExposed(entry))
            {
                hidden++;
            }
        }
        if (hidden == 0)
        {
            return null;
        }
        var output = new ArrayBufferWriter<byte>(sizeHint);
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            foreach (var member in root.EnumerateObject())
            {
                if (member.NameEquals("result"u8))
                {
                    writer.WritePropertyName(member.Name);
                    writer.WriteStartObject();
                    foreach (var field in result.EnumerateObject())
                    {
                        if (field.NameEquals(list.Array))
                        {
                            writer.WritePropertyName(field.Name);
                            writer.WriteStartArray();
                            foreach (var entry in entries.EnumerateArray().Where(IsExposed))
                            {
                                entry.WriteTo(writer);
                            }
                            writer.WriteEndArray();
                        }
                        else
                        {
                            field.WriteTo(writer);
                        }
                    }
                    writer.WriteEndObject();
                }
                else
                {
                    member.WriteTo(writer);
                }
            }
            writer.WriteEndObject();
        }
        return output.WrittenSpan.ToArray();
    }

    /// <summary>An entry without a string <paramref name="key"/> names nothing a client could ask for: it stays.</summary>
    private static bool IsKept(JsonElement entry, string key, Func<string, bool> exposes) =>
        entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty(key, out var name) || name.ValueKind != JsonValueKind.String || exposes(name.GetString()!);
}
