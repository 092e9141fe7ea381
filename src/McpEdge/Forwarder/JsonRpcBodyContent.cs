using System.Net;
using McpEdge.Protocol;

namespace McpEdge.Forwarder;

/// <summary>
/// The upstream request's body when the edge has already read it (<see cref="JsonRpcMessageFeature"/>):
/// written from that buffer in one write with a known length, in place of YARP's streaming copy.
/// </summary>
/// <remarks>
/// YARP's own request content (<c>StreamCopyHttpContent</c>, YARP 2.1) flushes the request headers
/// before it copies the body, so every forwarded POST leaves in two TCP sends and reaches the upstream
/// as two segments. Here HttpClient's HTTP/1.1 connection buffers the headers and a body that fits its
/// write buffer together and sends them at once, as nginx does. The buffer is held
/// (<see cref="JsonRpcMessageFeature.TryRetain"/>) while it is written, so it cannot go back to the pool
/// under a send still in progress; a send that starts after the request has ended is refused.
/// </remarks>
internal sealed class JsonRpcBodyContent : HttpContent
{
    private readonly JsonRpcMessageFeature _message;

    /// <summary>Takes the content headers (Content-Type, …) YARP copied from the client onto <paramref name="replaced"/>.</summary>
    public JsonRpcBodyContent(JsonRpcMessageFeature message, HttpContent replaced)
    {
        _message = message;
        foreach (var header in replaced.Headers.NonValidated)
        {
            // One value each (Content-Type, Content-Length): as a string, nothing boxed.
            Headers.TryAddWithoutValidation(header.Key, header.Value.ToString());
        }
    }

    /// <summary>Swaps the content of a request YARP is about to send for this one, when the edge read the body.</summary>
    public static void Use(HttpContext context, HttpRequestMessage proxyRequest)
    {
        if (proxyRequest.Content is { } content && context.Features.Get<JsonRpcMessageFeature>() is { } message)
        {
            proxyRequest.Content = new JsonRpcBodyContent(message, content);
        }
    }

    /// <inheritdoc />
    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    /// <inheritdoc />
    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        if (!_message.TryRetain())
        {
            throw new OperationCanceledException("The request ended before its body was sent upstream.");
        }
        ValueTask write;
        try
        {
            write = stream.WriteAsync(_message.Body, cancellationToken);
        }
        catch
        {
            _message.Release();
            throw;
        }
        if (write.IsCompletedSuccessfully)
        {
            // The usual case: the body went into HttpClient's write buffer behind the headers.
            _message.Release();
            return Task.CompletedTask;
        }
        return AwaitAsync(write);
    }

    private async Task AwaitAsync(ValueTask write)
    {
        try
        {
            await write;
        }
        finally
        {
            _message.Release();
        }
    }

    /// <inheritdoc />
    protected override bool TryComputeLength(out long length)
    {
        length = _message.Length;
        return true;
    }
}
