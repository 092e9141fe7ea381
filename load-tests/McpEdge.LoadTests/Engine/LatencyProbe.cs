using System.Buffers.Text;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace McpEdge.LoadTests.Engine;

/// <summary>
/// A second, independent latency figure at a fixed rate, next to the scenario engine's: one
/// keep-alive HTTP/1.1 connection driven by a dedicated thread with blocking socket calls, which
/// spins until each request's due time. Neither a sleeping thread's wake-up (the engine's start
/// lag, tens of microseconds) nor an async client's hand-offs and connection pool enter the figure,
/// so what remains is the target's latency plus one loopback round trip.
/// </summary>
/// <remarks>
/// Open model on one connection: request <c>i</c> is due at <c>start + i / rate</c>. A request
/// whose due time passed while the previous one was in flight starts at once and is timed from its
/// due time, so a stall shows in every request it delayed (no coordinated omission). The spinning
/// thread keeps one core busy for the whole run: pin the process to a core of its own.
/// </remarks>
public static class LatencyProbe
{
    /// <summary>How long one request may go unanswered (each send and each receive): 10 s.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Sends <paramref name="request"/> (a complete HTTP/1.1 request) to <paramref name="target"/>'s host and port at <paramref name="rate"/> per second for <paramref name="duration"/>.</summary>
    /// <param name="target">Where to connect (<c>http</c> only; the request carries its own path).</param>
    /// <param name="request">The bytes of one request, sent as they are for every request.</param>
    /// <param name="rate">Requests per second, more than 0.</param>
    /// <param name="duration">How long to schedule requests for.</param>
    /// <param name="cancellation">Stops the run early.</param>
    /// <returns>The latencies of the answered requests (HTTP 200, µs, ascending) and the failures by reason
    /// (a status, <c>closed before answering</c>, or an exception's type: a connect or a
    /// <see cref="RequestTimeout"/> that failed is a <c>SocketException</c>).</returns>
    /// <exception cref="ArgumentOutOfRangeException">A rate of 0 or less.</exception>
    public static ProbeResult Run(Uri target, byte[] request, double rate, TimeSpan duration, CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rate);
        var latencies = new List<long>((int)Math.Min(rate * duration.TotalSeconds + 1, 10_000_000));
        var failures = new Dictionary<string, int>(StringComparer.Ordinal);
        var buffer = new byte[64 * 1024];
        var period = Stopwatch.Frequency / rate;
        var count = (long)(rate * duration.TotalSeconds);
        Socket? socket = null;
        var start = Stopwatch.GetTimestamp();
        try
        {
            for (long i = 0; i < count && !cancellation.IsCancellationRequested; i++)
            {
                var due = start + (long)(i * period);
                while (Stopwatch.GetTimestamp() < due)
                {
                    Thread.SpinWait(20);
                }
                try
                {
                    var reused = socket is not null;
                    socket ??= Connect(target);
                    socket.Send(request);
                    var (status, close) = ReadResponse(socket, buffer, out var gotNothing);
                    if (gotNothing && reused)
                    {
                        // The server had closed the idle connection (as clients do, retry once on a new one).
                        socket.Dispose();
                        socket = Connect(target);
                        socket.Send(request);
                        (status, close) = ReadResponse(socket, buffer, out _);
                    }
                    if (close)
                    {
                        // Connection: close (nginx does after keepalive_requests): the next request connects anew.
                        socket.Dispose();
                        socket = null;
                    }
                    if (status == 200)
                    {
                        latencies.Add((Stopwatch.GetTimestamp() - due) * 1_000_000 / Stopwatch.Frequency);
                    }
                    else
                    {
                        Count(failures, status == 0 ? "closed before answering" : $"HTTP {status}");
                    }
                }
                catch (Exception ex) when (ex is SocketException or IOException or FormatException)
                {
                    Count(failures, ex.GetType().Name);
                    socket?.Dispose();
                    socket = null;
                }
            }
        }
        finally
        {
            socket?.Dispose();
        }
        latencies.Sort();
        return new ProbeResult(latencies.ToArray(), failures);
    }

    /// <summary>A complete HTTP/1.1 POST of <paramref name="body"/> to <paramref name="target"/> with <paramref name="headers"/> (name, value) added.</summary>
    public static byte[] Post(Uri target, string body, params (string Name, string Value)[] headers)
    {
        var text = new StringBuilder($"POST {target.PathAndQuery} HTTP/1.1\r\nHost: {target.Authority}\r\n");
        foreach (var (name, value) in headers)
        {
            text.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        var content = Encoding.UTF8.GetBytes(body);
        text.Append("Content-Length: ").Append(content.Length).Append("\r\n\r\n");
        return [.. Encoding.ASCII.GetBytes(text.ToString()), .. content];
    }

    /// <summary>The <c>stateless-call</c> scenario's request (2026-07-28 <c>tools/call</c> of <c>echo</c>, no session) to <paramref name="endpoint"/>.</summary>
    public static byte[] StatelessCall(Uri endpoint) => Post(endpoint,
        """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"probe"}}}""",
        ("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/call"), ("Mcp-Name", "echo"));

    private static Socket Connect(Uri target)
    {
        // Bounded: a request unanswered for RequestTimeout fails (SocketException, TimedOut) and the connection is replaced.
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true,
            ReceiveTimeout = (int)RequestTimeout.TotalMilliseconds,
            SendTimeout = (int)RequestTimeout.TotalMilliseconds,
        };
        try
        {
            socket.Connect(target.Host, target.Port);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads one whole response (Content-Length or chunked body); returns its status code and whether
    /// it ends the connection (<c>Connection: close</c>). <paramref name="gotNothing"/>: the connection
    /// was closed before the first byte (status 0).
    /// </summary>
    /// <exception cref="IOException">The connection closed mid-response.</exception>
    /// <exception cref="FormatException">Not an HTTP/1.1 response this probe can frame.</exception>
    internal static (int Status, bool Close) ReadResponse(Socket socket, byte[] buffer, out bool gotNothing)
    {
        gotNothing = false;
        var length = socket.Receive(buffer);
        if (length == 0)
        {
            gotNothing = true;
            return (0, true);
        }
        int headerEnd;
        while ((headerEnd = buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8)) < 0)
        {
            length += Receive(socket, buffer, length);
        }
        var head = Encoding.ASCII.GetString(buffer, 0, headerEnd);
        if (!head.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) || !int.TryParse(head.AsSpan(9, 3), out var status))
        {
            throw new FormatException($"not an HTTP/1.1 status line: {head.Split('\r')[0]}");
        }
        var close = Header(head, "connection")?.Contains("close", StringComparison.OrdinalIgnoreCase) == true;
        var bodyStart = headerEnd + 4;
        if (Header(head, "content-length") is { } contentLength)
        {
            var end = bodyStart + int.Parse(contentLength, System.Globalization.CultureInfo.InvariantCulture);
            if (end > buffer.Length)
            {
                throw new FormatException($"a response of {end} bytes is larger than the probe's buffer");
            }
            while (length < end)
            {
                length += Receive(socket, buffer, length);
            }
            return (status, close);
        }
        if (Header(head, "transfer-encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true)
        {
            // Chunks: size in hex, CRLF, data, CRLF; the last one has size 0 (no trailers expected).
            var position = bodyStart;
            while (true)
            {
                int lineEnd;
                while ((lineEnd = buffer.AsSpan(position, length - position).IndexOf("\r\n"u8)) < 0)
                {
                    length += Receive(socket, buffer, length);
                }
                var sizeText = buffer.AsSpan(position, lineEnd);
                var semicolon = sizeText.IndexOf((byte)';');
                if (!Utf8Parser.TryParse(semicolon < 0 ? sizeText : sizeText[..semicolon], out int size, out _, 'x'))
                {
                    throw new FormatException("a chunk size that is not hexadecimal");
                }
                var next = position + lineEnd + 2 + size + 2;
                if (next > buffer.Length)
                {
                    throw new FormatException($"a response of {next} bytes is larger than the probe's buffer");
                }
                while (length < next)
                {
                    length += Receive(socket, buffer, length);
                }
                if (size == 0)
                {
                    return (status, close);
                }
                position = next;
            }
        }
        throw new FormatException("a response with neither Content-Length nor chunked framing");
    }

    private static int Receive(Socket socket, byte[] buffer, int offset)
    {
        if (offset == buffer.Length)
        {
            throw new FormatException("a response larger than the probe's buffer");
        }
        var read = socket.Receive(buffer, offset, buffer.Length - offset, SocketFlags.None);
        return read > 0 ? read : throw new IOException("the connection closed mid-response");
    }

    private static string? Header(string head, string name)
    {
        foreach (var line in head.Split("\r\n"))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line.AsSpan(0, colon).Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return line[(colon + 1)..].Trim();
            }
        }
        return null;
    }

    private static void Count(Dictionary<string, int> failures, string reason) =>
        failures[reason] = failures.GetValueOrDefault(reason) + 1;
}

/// <summary>What a <see cref="LatencyProbe"/> run measured.</summary>
/// <param name="Latencies">Latencies of the answered requests, µs from each one's due time, ascending.</param>
/// <param name="Failures">Requests not answered with HTTP 200, by reason (<c>HTTP 503</c>, an exception's type).</param>
public sealed record ProbeResult(long[] Latencies, IReadOnlyDictionary<string, int> Failures)
{
    /// <summary>The <paramref name="percentile"/>-th percentile, µs (<see cref="Percentiles.Of"/>); 0 with no samples.</summary>
    public long Percentile(double percentile) => Latencies.Length == 0 ? 0 : Percentiles.Of(Latencies, percentile);
}
