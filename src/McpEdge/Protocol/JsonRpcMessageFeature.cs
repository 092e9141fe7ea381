namespace McpEdge.Protocol;

/// <summary>
/// The request feature set by <see cref="JsonRpcMessageMiddleware"/> on a POST to an MCP server:
/// the body (read once, pooled) and its <see cref="JsonRpcEnvelope"/>. Every MCP-aware step
/// (failover, hashing, rate limits, caching, batches) reads the message from here, never from the
/// body again.
/// </summary>
public sealed class JsonRpcMessageFeature
{
    private readonly byte[] _buffer;
    private string? _name;
    private bool _nameRead;

    internal JsonRpcMessageFeature(byte[] buffer, int length, JsonRpcEnvelope envelope)
    {
        _buffer = buffer;
        Length = length;
        Envelope = envelope;
    }

    /// <summary>The body's length in bytes.</summary>
    public int Length { get; }

    /// <summary>The body (valid while the request runs; the buffer goes back to the pool after it).</summary>
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
