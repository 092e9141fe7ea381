using System.Buffers;

namespace McpEdge.Caching;

/// <summary>
/// A write-only stream that passes every write on to the client's response body and keeps a copy of
/// the first <c>limit</c> bytes, so an upstream answer can be read after it was relayed unchanged
/// (and unbuffered: backpressure and SSE flushes pass through). Past the limit it only passes on.
/// </summary>
internal sealed class CaptureStream(Stream inner, int limit) : Streaming.PassOnStream(inner)
{
    private byte[] _copy = ArrayPool<byte>.Shared.Rent(Math.Min(limit, 16 * 1024));
    private int _length;

    /// <summary>When true, a write past the limit throws <see cref="IOException"/> instead of only passing on.</summary>
    public bool FailOnOverflow { get; init; }

    /// <summary>True when more than the limit was written (the copy is incomplete).</summary>
    public bool Overflowed { get; private set; }

    /// <summary>The bytes kept so far.</summary>
    public ReadOnlyMemory<byte> Captured => _copy.AsMemory(0, _length);

    private void Keep(ReadOnlySpan<byte> bytes)
    {
        if (Overflowed)
        {
            if (FailOnOverflow)
            {
                throw new IOException($"more than {limit} bytes written");
            }
            return;
        }
        if (_length + bytes.Length > limit)
        {
            Overflowed = true;
            if (FailOnOverflow)
            {
                throw new IOException($"more than {limit} bytes written");
            }
            return;
        }
        if (_length + bytes.Length > _copy.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(limit, Math.Max(_copy.Length * 2, _length + bytes.Length)));
            _copy.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_copy);
            _copy = larger;
        }
        bytes.CopyTo(_copy.AsSpan(_length));
        _length += bytes.Length;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Keep(buffer.Span);
        return Inner.WriteAsync(buffer, cancellationToken);
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        Keep(buffer.AsSpan(offset, count));
        Inner.Write(buffer, offset, count);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _copy.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_copy);
            _copy = [];
            _length = 0;
        }
        base.Dispose(disposing);
    }
}
