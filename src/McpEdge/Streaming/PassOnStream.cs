namespace McpEdge.Streaming;

/// <summary>
/// The shape of the edge's response-body wrappers (<see cref="Caching.CaptureStream"/>,
/// <see cref="Exposure.ReplayFilterStream"/>): write-only, not seekable, flushes passed on to the
/// stream underneath (so SSE flushes and backpressure reach the client). Subclasses decide what a
/// write passes on.
/// </summary>
/// <param name="inner">The stream writes and flushes go to (the client's response body).</param>
internal abstract class PassOnStream(Stream inner) : Stream
{
    /// <summary>The stream underneath.</summary>
    protected Stream Inner { get; } = inner;

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override Task FlushAsync(CancellationToken cancellationToken) => Inner.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public override void Flush() => Inner.Flush();

    /// <inheritdoc />
    public override bool CanRead => false;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => true;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();
}
