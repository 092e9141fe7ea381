using System.Buffers;
using McpEdge.Streaming;

namespace McpEdge.Exposure;

/// <summary>
/// The client side of a resumed SSE stream (a GET with <c>Last-Event-ID</c>, MCP 2025-11-25
/// <c>basic/transports.mdx</c>, "Resumability and Redelivery") of a server that hides entries: the
/// replayed events may hold the answer to a list request whose own stream was cut, and that answer
/// must lose the hidden entries as it would have on its own stream. Complete events pass through
/// <see cref="ExposureFilter.RewriteReplayed"/>; comment lines between events (keep-alives) go out
/// at once; the bytes of an event not yet complete wait for its end, at most
/// <paramref name="maxEventBytes"/> (a longer one fails the write, which ends the stream: the edge
/// does not pass on what it cannot judge). An event left incomplete when the stream ends is
/// dropped, as SSE parsers drop it (WHATWG HTML §9.2.6). A response that is not an event stream (an
/// upstream's error) passes untouched.
/// </summary>
/// <param name="inner">The response body the relay would have written to.</param>
/// <param name="isEventStream">Asked at the first write: whether the response is <c>text/event-stream</c>.</param>
/// <param name="maxEventBytes">The longest event held, bytes (<c>Messages:MaxBytes</c>).</param>
/// <param name="rewrite">Rewrites one complete event, or returns null to send it as it is.</param>
internal sealed class ReplayFilterStream(Stream inner, Func<bool> isEventStream, int maxEventBytes, Func<ReadOnlyMemory<byte>, byte[]?> rewrite) : PassOnStream(inner)
{
    private readonly ArrayBufferWriter<byte> _pending = new();
    private bool? _events;

    /// <summary>Events rewritten so far.</summary>
    public int Rewritten { get; private set; }

    /// <summary>True once an event outgrew the longest allowed (the write failed).</summary>
    public bool Overflowed { get; private set; }

    /// <inheritdoc />
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!(_events ??= isEventStream()))
        {
            await Inner.WriteAsync(buffer, cancellationToken);
            return;
        }
        _pending.Write(buffer.Span);
        var pending = _pending.WrittenMemory;
        var consumed = 0;
        while (consumed < pending.Length)
        {
            var rest = pending[consumed..];
            int length;
            byte[]? rewritten = null;
            if (rest.Span[0] == (byte)':' && rest.Span.IndexOfAny((byte)'\n', (byte)'\r') is var lineEnd and >= 0)
            {
                // A comment line between events (a keep-alive): on its way at once.
                length = lineEnd + (rest.Span[lineEnd] == (byte)'\r' && lineEnd + 1 < rest.Length && rest.Span[lineEnd + 1] == (byte)'\n' ? 2 : 1);
            }
            else if ((length = SseFraming.FindEventEnd(rest.Span)) > 0)
            {
                rewritten = rewrite(rest[..length]);
            }
            else
            {
                break;
            }
            if (rewritten is not null)
            {
                Rewritten++;
                await Inner.WriteAsync(rewritten, cancellationToken);
            }
            else
            {
                await Inner.WriteAsync(rest[..length], cancellationToken);
            }
            consumed += length;
        }
        if (consumed > 0)
        {
            var left = pending[consumed..].ToArray();
            _pending.ResetWrittenCount();
            _pending.Write(left);
        }
        if (_pending.WrittenCount > maxEventBytes)
        {
            Overflowed = true;
            throw new IOException($"An event of the resumed stream is longer than Messages:MaxBytes ({maxEventBytes} bytes); the edge cannot filter it.");
        }
    }

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
}
