using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using McpEdge.Caching;
using McpEdge.Configuration;
using McpEdge.Forwarder;
using McpEdge.Protocol;
using McpEdge.Sessions;
using Microsoft.AspNetCore.Http.Features;

namespace McpEdge.Streaming;

/// <summary>
/// Relays an upstream <c>text/event-stream</c> response to the client, in place of YARP's body copy.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Headers go out as soon as the upstream's arrive (YARP would hold them until the first body
/// byte), with <c>X-Accel-Buffering: no</c>; bytes pass unchanged (<c>id:</c>, <c>retry:</c>, comments
/// and priming events as sent), except the HTTP+SSE <c>endpoint</c> event, rewritten when asked.
/// Everything read is flushed before the relay waits for the upstream, so no event waits in the edge
/// for a later one; only the reads of a busy stream that find more data already there are gathered
/// into one flush (at most <see cref="MaxUnflushedBytes"/>).</item>
/// <item>Backpressure: a flush completes only when Kestrel's output buffer has room, with at most one
/// upstream read in flight meanwhile, so a slow client stops the upstream through TCP flow control.
/// While idle the relay waits with a zero-byte read and holds no buffer; in flight (and after a read
/// of <see cref="BusyReadBytes"/> or more, until the next bytes) it holds one pooled buffer of
/// <see cref="StreamingOptions.RelayBufferBytes"/>. Memory per stream does not grow with the upstream's speed.</item>
/// <item>A client that accepts nothing for <see cref="StreamingOptions.SlowConsumerTimeout"/> is cut:
/// both connections closed, counted and logged with server, hashed session and client.</item>
/// <item>A <c>: keep-alive</c> comment line goes out on a stream idle for
/// <see cref="StreamingOptions.KeepAliveInterval"/>, only at a line boundary (a comment line inside an
/// event is ignored by SSE parsers, so it never splits one).</item>
/// <item>A client that hangs up ends the upstream request (for MCP 2026-07-28 that is the
/// cancellation; for older revisions a disconnect, after which the client may resume with
/// <c>Last-Event-ID</c>). An upstream that fails mid-stream aborts the client connection, so the
/// client sees a broken stream rather than a clean end.</item>
/// <item>Every read is scanned for <c>notifications/*/list_changed</c> (<see cref="ListChangedScanner"/>),
/// which drops the cached list results of the server it covers.</item>
/// <item>On shutdown (<see cref="IHostApplicationLifetime.ApplicationStopping"/>) the stream ends with
/// <c>retry: {DrainRetry}</c> at an event boundary, so MCP 2025-11-25 clients reconnect through
/// any edge replica and resume with <c>Last-Event-ID</c>.</item>
/// </list>
/// Runs inside a YARP response transform, which must not throw once the response has started:
/// every failure is handled here. Reads ignore YARP's activity timeout, so an idle stream is never cut by it.
/// </remarks>
public sealed partial class SseRelay(McpEdgeConfigState config, StreamingMetrics metrics, IHostApplicationLifetime lifetime,
    TimeProvider time, ListCache listCache, ILogger<SseRelay> logger)
{
    private readonly StreamingMetrics _metrics = metrics;
    private readonly TimeProvider _time = time;
    private readonly ILogger _logger = logger;

    /// <summary>
    /// Bytes: a read of at least this many marks the stream busy, and the next read goes straight to
    /// the upstream with the relay's buffer (<see cref="StreamingOptions.RelayBufferBytes"/>) instead of
    /// waiting first with a zero-byte read.
    /// </summary>
    /// <remarks>
    /// After a zero-byte read, the HTTP/1.1 response stream of <c>SocketsHttpHandler</c>
    /// (<c>HttpConnection.ChunkedEncodingReadStream</c>, .NET 10) has filled its own 4 KiB connection
    /// buffer, so the next read is copied out of it, at most 4 KiB at a time. Without the zero-byte
    /// read, a read of at least 4 KiB into a chunk at least as long goes from the socket into the
    /// relay's buffer (up to its size per system call, one copy less). One fast stream
    /// relayed 1.5–2 times faster with this (docs/benchmarks.md, "One fast stream"). 2 KiB is half that
    /// connection buffer: less than that, and the upstream is trickling events, not streaming.
    /// The price: a stream that goes quiet right after a busy read keeps its pooled buffer until its
    /// next bytes arrive.
    /// </remarks>
    public const int BusyReadBytes = 2 * 1024;

    /// <summary>
    /// Bytes: the most the relay writes to the client without a flush while the upstream keeps
    /// delivering at once (busy reads that complete without waiting).
    /// </summary>
    /// <remarks>
    /// Every event is flushed before the relay waits for the upstream, so no event waits in the edge
    /// for the next one; a busy stream's reads that are already there go out in one flush of up to this
    /// many bytes (one hand-off to Kestrel's sending thread and one system call for several reads).
    /// Half of Kestrel's default <c>MaxResponseBufferSize</c> (64 KiB), so the flush itself rarely waits.
    /// </remarks>
    public const int MaxUnflushedBytes = 32 * 1024;

    /// <summary>How far into a legacy stream the <c>endpoint</c> event is looked for, bytes.</summary>
    public const int MaxEndpointSearchBytes = 64 * 1024;

    private static readonly byte[] KeepAliveLine = ": keep-alive\n"u8.ToArray();

    private int _open;

    /// <summary>Streams being relayed now.</summary>
    public int OpenStreams => Volatile.Read(ref _open);

    /// <summary>Relays the body of <paramref name="upstream"/>. Never throws.</summary>
    /// <param name="context">The client's request.</param>
    /// <param name="upstream">The upstream response, headers already copied to the client response.</param>
    /// <param name="rewriteEndpoint">For HTTP+SSE streams: maps the upstream's endpoint URI to the edge's; null for no rewrite.</param>
    /// <param name="server">The MCP server name, for logs and metrics.</param>
    public async Task RelayAsync(HttpContext context, HttpResponseMessage upstream, Func<string, string>? rewriteEndpoint, string server)
    {
        var response = context.Response;
        var aborted = context.RequestAborted;
        response.Headers[McpHeaders.AccelBuffering] = "no";
        response.Headers.ContentLength = null;
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var options = config.Current.Streaming;
        var bufferSize = options.RelayBufferBytes;
        using var writer = new Writer(this, context, server, options);
        var scanner = new ListChangedScanner(listCache, server);
        // Upstream reads stop when the client leaves or the edge drains; writes have their own timer.
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(aborted, lifetime.ApplicationStopping);
        Interlocked.Increment(ref _open);
        _metrics.Opened(server);
        try
        {
            await using var body = await upstream.Content.ReadAsStreamAsync(aborted);
            // StartAsync only makes the headers final; the flush puts them on the wire.
            await response.StartAsync(aborted);
            await response.BodyWriter.FlushAsync(aborted);
            writer.StartKeepAlive();

            if (rewriteEndpoint is null || await RelayUntilEndpointAsync(context, body, writer, scanner, rewriteEndpoint, server, bufferSize, reading.Token))
            {
                // One read and write per turn, inline (an idle stream waits here with a single async frame).
                var busy = false;
                var clientGone = false;
                while (true)
                {
                    int read;
                    byte[] buffer;
                    try
                    {
                        if (!busy)
                        {
                            // Unless the previous read was busy (more is probably waiting), wait for data
                            // with a zero-byte read, so that an idle stream holds no buffer.
#pragma warning disable CA2022 // A zero-byte read only waits for data; its result is always 0.
                            await body.ReadAsync(Memory<byte>.Empty, reading.Token);
#pragma warning restore CA2022
                        }
                        buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
                        try
                        {
                            var pending = body.ReadAsync(buffer.AsMemory(0, bufferSize), reading.Token);
                            if (!pending.IsCompleted && writer.Unflushed > 0 && !await writer.FlushAsync())
                            {
                                // The client is gone: end the read before its buffer goes back to the pool.
                                clientGone = true;
                                await reading.CancelAsync();
                            }
                            read = await pending;
                        }
                        catch
                        {
                            ArrayPool<byte>.Shared.Return(buffer);
                            throw;
                        }
                    }
                    catch (Exception ex) when (!reading.IsCancellationRequested)
                    {
                        await writer.FlushAsync(); // the events read before the failure reach the client first
                        UpstreamFailed(context, server, ex);
                        break;
                    }
                    catch (Exception) when (clientGone)
                    {
                        break;
                    }
                    try
                    {
                        if (clientGone)
                        {
                            break;
                        }
                        if (read == 0)
                        {
                            await writer.FlushAsync(); // what was written without a flush, if anything
                            break;
                        }
                        scanner.Scan(buffer.AsSpan(0, read));
                        // After a busy read more is probably waiting: write without a flush; the flush comes
                        // before the relay waits for the upstream (above), or at MaxUnflushedBytes.
                        busy = read >= BusyReadBytes;
                        if (!await writer.WriteAsync(buffer.AsMemory(0, read), flush: !busy || writer.Unflushed + read >= MaxUnflushedBytes))
                        {
                            break;
                        }
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested && !aborted.IsCancellationRequested)
        {
            await writer.StopKeepAliveAsync();
            await writer.DrainAsync(options.DrainRetry);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client hung up; disposing the upstream response (YARP does) ends the upstream request.
        }
        catch (Exception ex)
        {
            LogRelayFailed(_logger, server, ex.GetType().Name, ex.Message);
            context.Abort();
        }
        finally
        {
            await reading.CancelAsync();
            await writer.StopKeepAliveAsync();
            Interlocked.Decrement(ref _open);
            _metrics.Closed(server);
        }
    }

    /// <summary>HTTP+SSE: passes events through until the endpoint event, rewrites it. False when the stream is over.</summary>
    private async Task<bool> RelayUntilEndpointAsync(HttpContext context, Stream body, Writer writer, ListChangedScanner scanner, Func<string, string> rewrite, string server, int bufferSize, CancellationToken reading)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(MaxEndpointSearchBytes + bufferSize);
        try
        {
            var pending = 0;
            while (true)
            {
                int read;
                try
                {
                    read = await body.ReadAsync(buffer.AsMemory(pending, bufferSize), reading);
                }
                catch (Exception ex) when (!reading.IsCancellationRequested)
                {
                    UpstreamFailed(context, server, ex);
                    return false;
                }
                if (read == 0)
                {
                    if (pending > 0)
                    {
                        await writer.WriteAsync(buffer.AsMemory(0, pending));
                    }
                    return false;
                }

                scanner.Scan(buffer.AsSpan(pending, read));
                pending += read;
                var offset = 0;
                int end;
                while ((end = SseFraming.FindEventEnd(buffer.AsSpan(offset, pending - offset))) > 0)
                {
                    var sseEvent = buffer.AsMemory(offset, end);
                    offset += end;
                    var data = SseFraming.TryGetEndpointData(sseEvent.Span);
                    if (data is null)
                    {
                        if (!await writer.WriteAsync(sseEvent))
                        {
                            return false;
                        }
                        continue;
                    }
                    if (!await writer.WriteAsync(SseFraming.RewriteEndpointEvent(sseEvent.Span, rewrite(data))))
                    {
                        return false;
                    }
                    return offset == pending || await writer.WriteAsync(buffer.AsMemory(offset, pending - offset));
                }
                buffer.AsSpan(offset, pending - offset).CopyTo(buffer);
                pending -= offset;
                if (pending >= MaxEndpointSearchBytes)
                {
                    LogNoEndpointEvent(_logger, server, MaxEndpointSearchBytes);
                    context.Abort();
                    return false;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void UpstreamFailed(HttpContext context, string server, Exception ex)
    {
        LogUpstreamFailed(_logger, server, ex.GetType().Name, ex.Message);
        UpstreamFailures.MarkStreamFailed(context, ex);
        context.Abort();
    }

    /// <summary>The client side of one stream: serialized writes with the slow-consumer timer, keep-alives, drain.</summary>
    private sealed class Writer(SseRelay relay, HttpContext context, string server, StreamingOptions options) : IDisposable
    {
        private readonly SemaphoreSlim _lock = new(1, 1);
        private readonly CancellationTokenSource _cut = new(Timeout.InfiniteTimeSpan, relay._time);
        private long _lastWrite = relay._time.GetTimestamp();
        private int _newlines = 2; // consecutive line ends at the tail of what was written ('\r' ignored); 2+ = event boundary
        private ITimer? _keepAlive;
        private Task _keepAliveWrite = Task.CompletedTask;
        private int _stopped;

        private int _unflushed;

        /// <summary>Bytes written since the last flush.</summary>
        public int Unflushed => _unflushed;

        /// <summary>
        /// Writes and (unless <paramref name="flush"/> is false) flushes; false when the client is gone or
        /// was cut. Without a flush the bytes only go into Kestrel's buffer, which never waits.
        /// </summary>
        public async ValueTask<bool> WriteAsync(ReadOnlyMemory<byte> bytes, bool flush = true)
        {
            await _lock.WaitAsync();
            try
            {
                if (!flush)
                {
                    return WriteUnflushed(bytes.Span);
                }
                return await WriteLockedAsync(bytes, countEvents: true);
            }
            finally
            {
                _lock.Release();
            }
        }

        /// <summary>Flushes what was written without a flush; false when the client is gone or was cut.</summary>
        public ValueTask<bool> FlushAsync() => _unflushed == 0 ? ValueTask.FromResult(!context.RequestAborted.IsCancellationRequested) : WriteAsync(ReadOnlyMemory<byte>.Empty);

        private bool WriteUnflushed(ReadOnlySpan<byte> bytes)
        {
            if (context.RequestAborted.IsCancellationRequested)
            {
                return false;
            }
            context.Response.BodyWriter.Write(bytes);
            _unflushed += bytes.Length;
            relay._metrics.Relayed(server, bytes.Length, Track(bytes));
            Volatile.Write(ref _lastWrite, relay._time.GetTimestamp());
            return true;
        }

        private async ValueTask<bool> WriteLockedAsync(ReadOnlyMemory<byte> bytes, bool countEvents)
        {
            if (context.RequestAborted.IsCancellationRequested)
            {
                return false;
            }
            _unflushed = 0;
            _cut.CancelAfter(options.SlowConsumerTimeout);
            FlushResult result;
            try
            {
                var flush = context.Response.BodyWriter.WriteAsync(bytes, _cut.Token);
                if (!flush.IsCompleted)
                {
                    relay._metrics.Paused(server);
                }
                result = await flush;
            }
            catch (Exception ex) when (_cut.IsCancellationRequested && ex is OperationCanceledException or IOException or ObjectDisposedException)
            {
                // The timer fired: the client accepted nothing for SlowConsumerTimeout (Kestrel may have
                // aborted the connection in reaction already, hence any of these exceptions).
                Cut();
                return false;
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                return false;
            }
            if (!_cut.TryReset())
            {
                Cut();
                return false;
            }
            if (bytes.Length > 0)
            {
                var events = Track(bytes.Span);
                relay._metrics.Relayed(server, bytes.Length, countEvents ? events : 0);
            }
            Volatile.Write(ref _lastWrite, relay._time.GetTimestamp());
            return !result.IsCompleted && !result.IsCanceled;
        }

        /// <summary>Updates the line/event boundary state; returns the events completed by <paramref name="bytes"/> (vectorized newline search).</summary>
        private int Track(ReadOnlySpan<byte> bytes)
        {
            var events = 0;
            while (true)
            {
                var newline = bytes.IndexOf((byte)'\n');
                var segment = newline < 0 ? bytes : bytes[..newline];
                if (segment.IndexOfAnyExcept((byte)'\r') >= 0)
                {
                    _newlines = 0;
                }
                if (newline < 0)
                {
                    break;
                }
                if (++_newlines == 2)
                {
                    events++;
                }
                bytes = bytes[(newline + 1)..];
            }
            return events;
        }

        private void Cut()
        {
            relay._metrics.Cut(server);
            var session = context.Features.Get<McpSessionFeature>()?.ClientToken;
            LogSlowConsumer(relay._logger, server, session is null ? "-" : Telemetry.RequestLogScope.Hash(session),
                Client(context), options.SlowConsumerTimeout);
            context.Abort();
        }

        /// <summary>
        /// Starts the stream's keep-alive timer: one <see cref="ITimer"/> per stream, re-armed with
        /// <see cref="ITimer.Change"/> (no allocation per keep-alive, nothing that lives for an interval
        /// and then dies in an older GC generation).
        /// </summary>
        public void StartKeepAlive() =>
            _keepAlive = relay._time.CreateTimer(static state => ((Writer)state!).KeepAliveDue(), this, options.KeepAliveInterval, Timeout.InfiniteTimeSpan);

        /// <summary>Stops the keep-alive timer and waits for a keep-alive write in progress. Idempotent.</summary>
        public async ValueTask StopKeepAliveAsync()
        {
            Volatile.Write(ref _stopped, 1);
            if (_keepAlive is { } timer)
            {
                // Completes once no callback runs any more, so _keepAliveWrite is final after it.
                await timer.DisposeAsync();
            }
            await Volatile.Read(ref _keepAliveWrite);
        }

        /// <summary>Timer callback: sends a keep-alive if nothing was written for the interval, else re-arms for the rest. Never throws.</summary>
        private void KeepAliveDue()
        {
            try
            {
                var interval = options.KeepAliveInterval;
                var idle = relay._time.GetElapsedTime(Volatile.Read(ref _lastWrite));
                if (idle < interval)
                {
                    Arm(interval - idle);
                }
                else if (!_lock.Wait(0))
                {
                    // A write in progress (or waiting on a slow client) is no idle stream.
                    Arm(interval);
                }
                else
                {
                    Volatile.Write(ref _keepAliveWrite, SendKeepAliveAsync());
                }
            }
            catch (ObjectDisposedException)
            {
                // The stream ended while the timer fired.
            }
        }

        /// <summary>Writes the keep-alive line, the lock already held; releases it and re-arms while the stream lives.</summary>
        private async Task SendKeepAliveAsync()
        {
            var interval = options.KeepAliveInterval;
            var alive = true;
            try
            {
                var idle = relay._time.GetElapsedTime(Volatile.Read(ref _lastWrite));
                if (idle < interval)
                {
                    // A write finished between the check and the lock.
                }
                else if (_newlines == 0)
                {
                    // The upstream stopped mid-line: a comment here would corrupt it.
                    Volatile.Write(ref _lastWrite, relay._time.GetTimestamp());
                }
                else
                {
                    alive = await WriteLockedAsync(KeepAliveLine, countEvents: false);
                    if (alive)
                    {
                        relay._metrics.KeepAlive(server);
                    }
                }
            }
            catch (Exception ex)
            {
                alive = false;
                LogRelayFailed(relay._logger, server, ex.GetType().Name, ex.Message);
                context.Abort();
            }
            finally
            {
                _lock.Release();
            }
            if (alive)
            {
                Arm(interval - relay._time.GetElapsedTime(Volatile.Read(ref _lastWrite)));
            }
        }

        private void Arm(TimeSpan due)
        {
            try
            {
                if (Volatile.Read(ref _stopped) == 0)
                {
                    _keepAlive?.Change(due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
                }
            }
            catch (ObjectDisposedException)
            {
                // Stopped between the check and the change.
            }
        }

        /// <summary>Ends the stream for a shutdown: <c>retry:</c> at an event boundary, so the client reconnects soon.</summary>
        public async Task DrainAsync(TimeSpan retry)
        {
            await _lock.WaitAsync();
            try
            {
                if (_newlines >= 2)
                {
                    var line = Encoding.ASCII.GetBytes($"retry: {(long)retry.TotalMilliseconds}\n\n");
                    if (await WriteLockedAsync(line, countEvents: false))
                    {
                        relay._metrics.Drained(server);
                    }
                }
            }
            finally
            {
                _lock.Release();
            }
        }

        public void Dispose()
        {
            _cut.Dispose();
            _lock.Dispose();
        }
    }

    private static string Client(HttpContext context) =>
        Security.BearerAuthentication.PrincipalOf(context) ?? context.Connection.RemoteIpAddress?.ToString() ?? "-";

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "SSE stream from an upstream of server {Server} failed mid-stream ({ErrorType}: {Error}); the client connection was aborted so it can resume.")]
    private static partial void LogUpstreamFailed(ILogger logger, string server, string errorType, string error);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "HTTP+SSE stream of server {Server} sent no endpoint event in its first {Bytes} bytes; the client connection was aborted.")]
    private static partial void LogNoEndpointEvent(ILogger logger, string server, int bytes);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "SSE relay for server {Server} failed ({ErrorType}: {Error}); the client connection was aborted.")]
    private static partial void LogRelayFailed(ILogger logger, string server, string errorType, string error);

    [LoggerMessage(EventId = 23, Level = LogLevel.Warning, Message = "Slow consumer cut: server {Server}, session {SessionHash}, client {Client} accepted nothing for {Timeout}; both connections closed.")]
    private static partial void LogSlowConsumer(ILogger logger, string server, string sessionHash, string client, TimeSpan timeout);
}
