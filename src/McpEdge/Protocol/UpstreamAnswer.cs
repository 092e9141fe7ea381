using System.Buffers;
using System.Text.Json;
using McpEdge.Streaming;

namespace McpEdge.Protocol;

/// <summary>
/// The JSON-RPC response to one request, found in an upstream's answer: an <c>application/json</c>
/// body, or a <c>text/event-stream</c> body whose events carry the response among notifications
/// and server requests (MCP 2025-03-26 and later, basic/transports.mdx "Sending Messages to the Server").
/// </summary>
/// <param name="Message">The response message, exactly as the upstream sent it (data lines joined with LF).</param>
/// <param name="IsError">True for an <c>error</c> response.</param>
/// <param name="ResultOffset">Where <c>result</c>'s value starts in <paramref name="Message"/>; -1 for an error.</param>
/// <param name="ResultLength">The length of <c>result</c>'s value.</param>
/// <param name="TtlOffset">Where the value of <c>result.ttlMs</c> starts in <paramref name="Message"/>; -1 when absent.</param>
/// <param name="TtlLength">The length of that value.</param>
/// <param name="TtlMs">The value of <c>result.ttlMs</c> (MCP 2026-07-28 server/utilities/caching.mdx), when it is an integer.</param>
/// <param name="CacheScope"><c>result.cacheScope</c>: <c>public</c>, <c>private</c> or null.</param>
/// <param name="ResultType"><c>result.resultType</c> (2026-07-28; absent means <c>complete</c>).</param>
/// <param name="ErrorOffset">Where <c>error</c>'s value starts in <paramref name="Message"/>; -1 for a result.</param>
/// <param name="ErrorLength">The length of <c>error</c>'s value.</param>
public sealed record UpstreamResponse(ReadOnlyMemory<byte> Message, bool IsError, int ResultOffset, int ResultLength,
    int TtlOffset, int TtlLength, long? TtlMs, string? CacheScope, string? ResultType, int ErrorOffset = -1, int ErrorLength = 0)
{
    /// <summary>The raw JSON of <c>result</c>; empty for an error.</summary>
    public ReadOnlyMemory<byte> Result => ResultOffset < 0 ? ReadOnlyMemory<byte>.Empty : Message.Slice(ResultOffset, ResultLength);

    /// <summary>The raw JSON of <c>error</c>; empty for a result.</summary>
    public ReadOnlyMemory<byte> Error => ErrorOffset < 0 ? ReadOnlyMemory<byte>.Empty : Message.Slice(ErrorOffset, ErrorLength);
}

/// <summary>Reads upstream answers (<see cref="UpstreamResponse"/>).</summary>
public static class UpstreamAnswer
{
    /// <summary>
    /// Finds the response to the request with <paramref name="rawId"/> (its id as raw JSON) in
    /// <paramref name="body"/>. An SSE body is read event by event; events that are not that response
    /// (notifications, server requests, priming events, comments are skipped) are reported through
    /// <paramref name="otherEvent"/> as their raw bytes when it is given.
    /// </summary>
    /// <param name="body">The whole upstream body.</param>
    /// <param name="eventStream">True when the body is <c>text/event-stream</c>.</param>
    /// <param name="rawId">The request's id as raw JSON.</param>
    /// <param name="otherEvent">Receives every SSE event that carries data but is not the response, or null.</param>
    /// <returns>The response, or null when there is none with that id (or the body is not JSON-RPC).</returns>
    public static UpstreamResponse? Find(ReadOnlyMemory<byte> body, bool eventStream, ReadOnlySpan<byte> rawId, Action<ReadOnlyMemory<byte>>? otherEvent = null)
    {
        if (!eventStream)
        {
            return TryRead(body, rawId);
        }
        UpstreamResponse? found = null;
        var rest = body;
        while (!rest.IsEmpty)
        {
            var end = SseFraming.FindEventEnd(rest.Span);
            var sseEvent = end < 0 ? rest : rest[..end];
            rest = end < 0 ? ReadOnlyMemory<byte>.Empty : rest[end..];
            var data = EventData(sseEvent.Span);
            if (data.IsEmpty)
            {
                continue;
            }
            if (found is null && TryRead(data, rawId) is { } response)
            {
                found = response;
                continue;
            }
            otherEvent?.Invoke(sseEvent);
        }
        return found;
    }

    /// <summary>The data of one SSE event: its <c>data</c> lines joined with LF (WHATWG HTML §9.2.6); empty when it has none.</summary>
    public static ReadOnlyMemory<byte> EventData(ReadOnlySpan<byte> sseEvent)
    {
        ArrayBufferWriter<byte>? joined = null;
        ReadOnlyMemory<byte> single = default;
        var lines = 0;
        while (!sseEvent.IsEmpty)
        {
            var newline = sseEvent.IndexOfAny((byte)'\r', (byte)'\n');
            var line = newline < 0 ? sseEvent : sseEvent[..newline];
            if (newline < 0)
            {
                sseEvent = default;
            }
            else
            {
                var skip = sseEvent[newline] == (byte)'\r' && newline + 1 < sseEvent.Length && sseEvent[newline + 1] == (byte)'\n' ? 2 : 1;
                sseEvent = sseEvent[(newline + skip)..];
            }
            if (!line.StartsWith("data"u8) || (line.Length > 4 && line[4] != (byte)':'))
            {
                continue;
            }
            var value = line.Length > 4 ? line[5..] : default;
            if (!value.IsEmpty && value[0] == (byte)' ')
            {
                value = value[1..];
            }
            if (lines++ == 0)
            {
                single = value.ToArray();
                continue;
            }
            if (joined is null)
            {
                joined = new ArrayBufferWriter<byte>(single.Length + value.Length + 1);
                joined.Write(single.Span);
            }
            joined.Write("\n"u8);
            joined.Write(value);
        }
        return joined?.WrittenMemory ?? single;
    }

    private static UpstreamResponse? TryRead(ReadOnlyMemory<byte> message, ReadOnlySpan<byte> rawId)
    {
        try
        {
            return Read(message, rawId);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static UpstreamResponse? Read(ReadOnlyMemory<byte> message, ReadOnlySpan<byte> rawId)
    {
        var reader = new Utf8JsonReader(message.Span, new JsonReaderOptions { MaxDepth = 256 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }
        bool idMatches = false, hasMethod = false, isError = false;
        int resultOffset = -1, resultLength = 0, ttlOffset = -1, ttlLength = 0, errorOffset = -1, errorLength = 0;
        long? ttl = null;
        string? scope = null, resultType = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                idMatches = IdEquals(message.Span[start..(int)reader.BytesConsumed], rawId);
            }
            else if (reader.ValueTextEquals("method"u8))
            {
                hasMethod = true;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("error"u8))
            {
                isError = true;
                reader.Read();
                errorOffset = (int)reader.TokenStartIndex;
                reader.Skip();
                errorLength = (int)reader.BytesConsumed - errorOffset;
            }
            else if (reader.ValueTextEquals("result"u8))
            {
                reader.Read();
                resultOffset = (int)reader.TokenStartIndex;
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (reader.ValueTextEquals("ttlMs"u8))
                        {
                            reader.Read();
                            if (reader.TokenType == JsonTokenType.Number)
                            {
                                ttlOffset = (int)reader.TokenStartIndex;
                                ttlLength = reader.ValueSpan.Length;
                                ttl = reader.TryGetInt64(out var ms) ? ms : null;
                            }
                            else
                            {
                                reader.Skip();
                            }
                        }
                        else if (reader.ValueTextEquals("cacheScope"u8))
                        {
                            reader.Read();
                            scope = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                        }
                        else if (reader.ValueTextEquals("resultType"u8))
                        {
                            reader.Read();
                            resultType = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                        }
                        else
                        {
                            reader.Read();
                            reader.Skip();
                        }
                    }
                }
                else
                {
                    reader.Skip();
                }
                resultLength = (int)reader.BytesConsumed - resultOffset;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (!idMatches || hasMethod || (resultOffset < 0) == !isError)
        {
            return null;
        }
        return new UpstreamResponse(message, isError, isError ? -1 : resultOffset, isError ? 0 : resultLength,
            ttlOffset, ttlLength, ttl, scope, resultType, isError ? errorOffset : -1, isError ? errorLength : 0);
    }

    /// <summary>
    /// Whether two raw JSON ids are the same id: byte-equal, or equal strings once unescaped
    /// (an upstream may escape differently from the client).
    /// </summary>
    public static bool IdEquals(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.SequenceEqual(b))
        {
            return true;
        }
        if (a.IsEmpty || b.IsEmpty || a[0] != (byte)'"' || b[0] != (byte)'"' || (a.IndexOf((byte)'\\') < 0 && b.IndexOf((byte)'\\') < 0))
        {
            return false;
        }
        var readerA = new Utf8JsonReader(a);
        var readerB = new Utf8JsonReader(b);
        return readerA.Read() && readerB.Read() && readerA.GetString() == readerB.GetString();
    }
}
