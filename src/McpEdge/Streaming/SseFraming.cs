using System.Text;

namespace McpEdge.Streaming;

/// <summary>
/// Event framing of <c>text/event-stream</c> (WHATWG HTML, "Server-sent events", §9.2.5–9.2.6):
/// lines end with CRLF, LF or CR; a blank line ends an event.
/// </summary>
public static class SseFraming
{
    /// <summary>
    /// Whether a <c>Content-Type</c> value names <c>text/event-stream</c> (RFC 9110 §8.3.1: the media
    /// type before any <c>;</c> parameters, case-insensitive, optional whitespace around it). Reads
    /// the header's string as received, so answering the question parses and allocates nothing
    /// (<see cref="System.Net.Http.Headers.HttpContentHeaders.ContentType"/> would build a
    /// <see cref="System.Net.Http.Headers.MediaTypeHeaderValue"/> for every upstream response).
    /// </summary>
    /// <param name="contentType">The header value; null or empty for none.</param>
    public static bool IsEventStream(ReadOnlySpan<char> contentType)
    {
        var semicolon = contentType.IndexOf(';');
        var mediaType = (semicolon < 0 ? contentType : contentType[..semicolon]).Trim(" \t");
        return mediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The length of the first complete event in <paramref name="buffer"/> (through its blank
    /// line), or -1 when the buffer holds no complete event yet. A CR at the very end counts as
    /// incomplete, since an LF may follow in the next read.
    /// </summary>
    public static int FindEventEnd(ReadOnlySpan<byte> buffer)
    {
        var lineStart = 0;
        for (var i = 0; i < buffer.Length; i++)
        {
            var b = buffer[i];
            if (b != (byte)'\n' && b != (byte)'\r')
            {
                continue;
            }
            var terminator = 1;
            if (b == (byte)'\r')
            {
                if (i + 1 == buffer.Length)
                {
                    return -1;
                }
                if (buffer[i + 1] == (byte)'\n')
                {
                    terminator = 2;
                }
            }
            if (i == lineStart)
            {
                return i + terminator;
            }
            i += terminator - 1;
            lineStart = i + 1;
        }
        return -1;
    }

    /// <summary>
    /// If <paramref name="sseEvent"/> (one complete event, as <see cref="FindEventEnd"/> cut it) is an
    /// <c>endpoint</c> event, returns its data (data lines joined by LF); otherwise null.
    /// </summary>
    public static string? TryGetEndpointData(ReadOnlySpan<byte> sseEvent)
    {
        string? eventType = null;
        StringBuilder? data = null;
        foreach (var line in Lines(Encoding.UTF8.GetString(sseEvent)))
        {
            var (field, value) = SplitField(line);
            if (field == "event")
            {
                eventType = value;
            }
            else if (field == "data")
            {
                data = data is null ? new StringBuilder(value) : data.Append('\n').Append(value);
            }
        }
        return eventType == "endpoint" && data is not null ? data.ToString() : null;
    }

    /// <summary>Writes an <c>endpoint</c> event with <paramref name="data"/>, keeping the original event's <c>id</c> and <c>retry</c> lines.</summary>
    public static byte[] RewriteEndpointEvent(ReadOnlySpan<byte> sseEvent, string data)
    {
        var builder = new StringBuilder("event: endpoint\n");
        foreach (var line in Lines(Encoding.UTF8.GetString(sseEvent)))
        {
            var (field, _) = SplitField(line);
            if (field is "id" or "retry")
            {
                builder.Append(line).Append('\n');
            }
        }
        builder.Append("data: ").Append(data).Append("\n\n");
        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    /// <summary>
    /// Writes <paramref name="sseEvent"/> with <paramref name="data"/> (one line: compact JSON holds no
    /// line break) in place of its data lines, keeping its <c>id</c>, <c>event</c> and <c>retry</c> lines.
    /// </summary>
    public static byte[] RewriteEventData(ReadOnlySpan<byte> sseEvent, ReadOnlySpan<byte> data)
    {
        var builder = new StringBuilder();
        foreach (var line in Lines(Encoding.UTF8.GetString(sseEvent)))
        {
            var (field, _) = SplitField(line);
            if (field is "id" or "event" or "retry")
            {
                builder.Append(line).Append('\n');
            }
        }
        builder.Append("data: ").Append(Encoding.UTF8.GetString(data)).Append("\n\n");
        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    private static IEnumerable<string> Lines(string text) =>
        text.Split(["\r\n", "\n", "\r"], StringSplitOptions.RemoveEmptyEntries);

    private static (string Field, string Value) SplitField(string line)
    {
        var colon = line.IndexOf(':');
        if (colon < 0)
        {
            return (line, "");
        }
        var value = line[(colon + 1)..];
        return (line[..colon], value.StartsWith(' ') ? value[1..] : value);
    }
}
