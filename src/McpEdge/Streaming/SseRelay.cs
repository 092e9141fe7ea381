using System.Buffers;
using Microsoft.AspNetCore.Http.Features;
using McpEdge.Forwarder;
using McpEdge.Protocol;

namespace McpEdge.Streaming;

/// <summary>
/// Relays an upstream <c>text/event-stream</c> response to the client, in place of YARP's body copy.
/// </summary>
/// <remarks>
/// YARP holds response headers back until the first body byte; an MCP server may open an SSE
/// stream and send nothing for seconds. The relay sends the headers as soon as the upstream's
/// arrive, adds <c>X-Accel-Buffering: no</c>, writes every read to the client and flushes it at
/// once (so every event is flushed, <c>id:</c>, <c>retry:</c> and comment lines included), and
/// rewrites the HTTP+SSE <c>endpoint</c> event when asked. It reads with the client's
/// <see cref="HttpContext.RequestAborted"/> only, so YARP's activity timeout never cuts an idle
/// stream. Runs inside a YARP response transform, which must not throw once the response has
/// started: every failure is handled here. A client that hangs up ends the upstream request
/// (which, for MCP 2026-07-28, cancels it); an upstream that fails mid-stream aborts the client
/// connection, so the client sees a broken stream rather than a clean end and can resume.
/// </remarks>
public sealed partial class SseRelay(ILogger<SseRelay> logger)
{
    /// <summary>Read buffer size, bytes.</summary>
    public const int BufferSize = 16 * 1024;

    /// <summary>How far into a legacy stream the <c>endpoint</c> event is looked for, bytes.</summary>
    public const int MaxEndpointSearchBytes = 64 * 1024;

    /// <summary>Relays the body of <paramref name="upstream"/>. Never throws.</summary>
    /// <param name="context">The client's request.</param>
    /// <param name="upstream">The upstream response, headers already copied to the client response.</param>
    /// <param name="rewriteEndpoint">For HTTP+SSE streams: maps the upstream's endpoint URI to the edge's; null for no rewrite.</param>
    /// <param name="server">The MCP server name, for logs.</param>
    public async Task RelayAsync(HttpContext context, HttpResponseMessage upstream, Func<string, string>? rewriteEndpoint, string server)
    {
        var response = context.Response;
        var aborted = context.RequestAborted;
        response.Headers[McpHeaders.AccelBuffering] = "no";
        response.Headers.ContentLength = null;
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var buffer = ArrayPool<byte>.Shared.Rent(rewriteEndpoint is null ? BufferSize : MaxEndpointSearchBytes + BufferSize);
        try
        {
            await using var body = await upstream.Content.ReadAsStreamAsync(aborted);
            // StartAsync only makes the headers final; the flush puts them on the wire.
            await response.StartAsync(aborted);
            await response.BodyWriter.FlushAsync(aborted);
            var pending = 0;
            while (true)
            {
                int read;
                try
                {
                    read = await body.ReadAsync(buffer.AsMemory(pending, BufferSize), aborted);
                }
                catch (Exception ex) when (!aborted.IsCancellationRequested)
                {
                    LogUpstreamFailed(logger, server, ex.GetType().Name, ex.Message);
                    UpstreamFailures.MarkStreamFailed(context, ex);
                    context.Abort();
                    return;
                }
                if (read == 0)
                {
                    if (pending > 0)
                    {
                        await WriteAsync(response, buffer.AsMemory(0, pending), aborted);
                    }
                    return;
                }

                if (rewriteEndpoint is null)
                {
                    if (!await WriteAsync(response, buffer.AsMemory(0, read), aborted))
                    {
                        return;
                    }
                    continue;
                }

                // HTTP+SSE: pass events through until the endpoint event, rewrite it, then copy bytes.
                pending += read;
                var offset = 0;
                int end;
                while (rewriteEndpoint is not null && (end = SseFraming.FindEventEnd(buffer.AsSpan(offset, pending - offset))) > 0)
                {
                    var sseEvent = buffer.AsMemory(offset, end);
                    offset += end;
                    var data = SseFraming.TryGetEndpointData(sseEvent.Span);
                    if (data is not null)
                    {
                        var rewritten = SseFraming.RewriteEndpointEvent(sseEvent.Span, rewriteEndpoint(data));
                        rewriteEndpoint = null;
                        if (!await WriteAsync(response, rewritten, aborted))
                        {
                            return;
                        }
                    }
                    else if (!await WriteAsync(response, sseEvent, aborted))
                    {
                        return;
                    }
                }
                if (rewriteEndpoint is null)
                {
                    if (offset < pending && !await WriteAsync(response, buffer.AsMemory(offset, pending - offset), aborted))
                    {
                        return;
                    }
                    pending = 0;
                    continue;
                }
                buffer.AsSpan(offset, pending - offset).CopyTo(buffer);
                pending -= offset;
                if (pending >= MaxEndpointSearchBytes)
                {
                    LogNoEndpointEvent(logger, server, MaxEndpointSearchBytes);
                    context.Abort();
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client hung up; disposing the upstream response (YARP does) ends the upstream request.
        }
        catch (Exception ex)
        {
            LogRelayFailed(logger, server, ex.GetType().Name, ex.Message);
            context.Abort();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Writes and flushes; false when the client is gone.</summary>
    private static async ValueTask<bool> WriteAsync(HttpResponse response, ReadOnlyMemory<byte> bytes, CancellationToken aborted)
    {
        try
        {
            var result = await response.BodyWriter.WriteAsync(bytes, aborted);
            return !result.IsCompleted && !result.IsCanceled;
        }
        catch (Exception) when (aborted.IsCancellationRequested)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "SSE stream from an upstream of server {Server} failed mid-stream ({ErrorType}: {Error}); the client connection was aborted so it can resume.")]
    private static partial void LogUpstreamFailed(ILogger logger, string server, string errorType, string error);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "HTTP+SSE stream of server {Server} sent no endpoint event in its first {Bytes} bytes; the client connection was aborted.")]
    private static partial void LogNoEndpointEvent(ILogger logger, string server, int bytes);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "SSE relay for server {Server} failed ({ErrorType}: {Error}); the client connection was aborted.")]
    private static partial void LogRelayFailed(ILogger logger, string server, string errorType, string error);
}
