using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using McpEdge.Configuration;
using McpEdge.Protocol;
using McpEdge.Streaming;

namespace McpEdge.Tools;

/// <summary>
/// A compiled <see cref="ToolFilterOptions"/>: which tool names a server exposes; and the rewrite of
/// a <c>tools/list</c> answer without the tools a predicate hides (MCP 2025-11-25 <c>server/tools.mdx</c>, "Listing
/// Tools": <c>result.tools</c>, an array of objects with a <c>name</c>). Thread-safe.
/// </summary>
internal sealed class ToolFilter
{
    private static readonly ConditionalWeakTable<ToolFilterOptions, ToolFilter> Compiled = [];
    private readonly System.Text.RegularExpressions.Regex[] _allow;
    private readonly System.Text.RegularExpressions.Regex[] _deny;

    private ToolFilter(ToolFilterOptions options)
    {
        _allow = [.. options.Allow.Select(Glob.Compile)];
        _deny = [.. options.Deny.Select(Glob.Compile)];
    }

    /// <summary>The filter of <paramref name="options"/>, compiled once per configuration (a reload brings new options).</summary>
    public static ToolFilter For(ToolFilterOptions options) => Compiled.GetValue(options, static o => new ToolFilter(o));

    /// <summary>True when the tool named <paramref name="name"/> is exposed.</summary>
    public bool Exposes(string name) => (_allow.Length == 0 || _allow.Any(g => g.IsMatch(name))) && !_deny.Any(g => g.IsMatch(name));

    /// <summary>
    /// Rewrites an upstream answer to a <c>tools/list</c> request (<paramref name="rawId"/>) without
    /// the hidden tools: a JSON body, or an SSE body whose response event is rewritten in place (its
    /// <c>id</c>, <c>event</c> and <c>retry</c> lines kept, every other event as it was).
    /// </summary>
    /// <param name="body">The whole upstream answer.</param>
    /// <param name="eventStream">True when it is <c>text/event-stream</c>.</param>
    /// <param name="rawId">The request's id as raw JSON.</param>
    /// <param name="exposes">Whether a tool, by name, stays in the list.</param>
    /// <param name="hidden">How many tools were left out.</param>
    /// <returns>The new body, or null when nothing was hidden or the answer holds no <c>tools</c> result (it then goes as it was).</returns>
    public static byte[]? Rewrite(ReadOnlyMemory<byte> body, bool eventStream, ReadOnlySpan<byte> rawId, Func<string, bool> exposes, out int hidden)
    {
        hidden = 0;
        if (UpstreamAnswer.Find(body, eventStream, rawId) is not { IsError: false } response || WithoutHidden(response.Message, exposes, out hidden) is not { } message)
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

    /// <summary>The response message with <c>result.tools</c> filtered, or null when it hides nothing.</summary>
    private static byte[]? WithoutHidden(ReadOnlyMemory<byte> message, Func<string, bool> exposes, out int hidden)
    {
        bool IsExposed(JsonElement tool) => IsKept(tool, exposes);
        hidden = 0;
        using var document = JsonDocument.Parse(message, new JsonDocumentOptions { MaxDepth = 256 });
        var root = document.RootElement;
        if (!root.TryGetProperty("result", out var result) || result.ValueKind != JsonValueKind.Object
            || !result.TryGetProperty("tools", out var tools) || tools.ValueKind != JsonValueKind.Array)
        {
            return null;
        }
        foreach (var tool in tools.EnumerateArray())
        {
            if (!IsExposed(tool))
            {
                hidden++;
            }
        }
        if (hidden == 0)
        {
            return null;
        }
        var output = new ArrayBufferWriter<byte>(message.Length);
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
                        if (field.NameEquals("tools"u8))
                        {
                            writer.WritePropertyName(field.Name);
                            writer.WriteStartArray();
                            foreach (var tool in tools.EnumerateArray().Where(IsExposed))
                            {
                                tool.WriteTo(writer);
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

    /// <summary>A tool without a string <c>name</c> is not the edge's to judge: it stays.</summary>
    private static bool IsKept(JsonElement tool, Func<string, bool> exposes) =>
        tool.ValueKind != JsonValueKind.Object || !tool.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String || exposes(name.GetString()!);
}
