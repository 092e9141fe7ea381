using System.Buffers;

namespace McpEdge.Protocol;

/// <summary>
/// The request feature set by <see cref="JsonRpcMessageMiddleware"/> on a POST to an MCP server:
/// the body (read once, pooled) and its <see cref="JsonRpcEnvelope"/>. Every MCP-aware step
/// (failover, hashing, rate limits, caching, batches) reads the message from here, never from the
/// body again.
/// </summary>
public sealed class JsonRpcMessageFeature : IDisposable
{
    private readonly byte[] _buffer;
    private readonly bool _pooled;
    private int _holders = 1;
    private string? _name;
    private bool _nameRead;

    /// <param name="buffer">The body's bytes (from offset 0).</param>
    /// <param name="length">How many of them.</param>
    /// <param name="envelope">Their parse.</param>
    /// <param name="pooled">
    /// The buffer was rented from <see cref="ArrayPool{T}.Shared"/>: it goes back when the last holder
    /// lets go (<see cref="Release"/>): the request step that read it, and an upstream send still
    /// writing it (<see cref="Forwarder.JsonRpcBodyContent"/>).
    /// </param>
    internal JsonRpcMessageFeature(byte[] buffer, int length, JsonRpcEnvelope envelope, bool pooled = false)
    {
        _buffer = buffer;
        _pooled = pooled;
        Length = length;
        Envelope = envelope;
    }

    /// <summary>Holds the buffer for one more user; false once it has gone back to the pool (the request has ended).</summary>
    internal bool TryRetain()
    {
        var holders = Volatile.Read(ref _holders);
        while (holders > 0)
        {
            var seen = Interlocked.CompareExchange(ref _holders, holders + 1, holders);
            if (seen == holders)
            {
                return true;
            }
            holders = seen;
        }
        return false;
    }

    /// <summary>The request has ended: lets go of its hold on the buffer (<see cref="Release"/>).</summary>
    public void Dispose() => Release();

    /// <summary>Lets go of the buffer; the last holder returns a pooled one.</summary>
    internal void Release()
    {
        if (Interlocked.Decrement(ref _holders) == 0 && _pooled)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }

    /// <summary>The body's length in bytes.</summary>
    public int Length { get; }

    /// <summary>The body (valid until the request has ended; the buffer goes back to the pool after it).</summary>
    public ReadOnlyMemory<byte> Body => _buffer.AsMemory(0, Length);

    /// <summary>
    /// The body, writable, for an in-place rewrite that keeps its length (the trace context in
    /// <c>params._meta</c>); the request forwarded upstream reads this buffer.
    /// </summary>
    internal Span<byte> WritableBody => _buffer.AsSpan(0, Length);

    /// <summary>The parsed top level.</summary>
    public JsonRpcEnvelope Envelope { get; }

    /// <summary>Shortcut for <see cref="JsonRpcEnvelope.Kind"/>.</summary>
    public JsonRpcKind Kind => Envelope.Kind;

    /// <summary>Shortcut for <see cref="JsonRpcEnvelope.Method"/>.</summary>
    public string? Method => Envelope.Method;

    /// <summary>The tool, prompt or resource the request names (<see cref="JsonRpcEnvelope.GetName"/>), computed once.</summary>
    public string? Name
    {
        get
        {
            if (!_nameRead)
            {
                _name = Envelope.GetName(_buffer.AsSpan(0, Length));
                _nameRead = true;
            }
            return _name;
        }
    }

    /// <summary>The raw JSON <c>id</c>, empty when the message has none (or is a batch).</summary>
    public ReadOnlyMemory<byte> RawId => _buffer.AsMemory(Envelope.IdOffset, Envelope.IdLength);
}
