using System.Net;
using System.Net.Sockets;
using System.Text;

namespace McpEdge.Tests.Infrastructure;

/// <summary>
/// An upstream on 127.0.0.1 that answers every request with the same raw bytes and closes the
/// connection: for responses Kestrel would refuse to send (a 204 with a <c>Content-Length</c>, say).
/// It reads each request's headers and <c>Content-Length</c> body first.
/// </summary>
public sealed class RawUpstream : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _requests;

    private RawUpstream(byte[] response)
    {
        _listener.Start();
        _accepting = AcceptAsync(response);
    }

    /// <summary>The base URL, <c>http://127.0.0.1:{port}</c>.</summary>
    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Requests answered so far.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Starts an upstream answering <paramref name="response"/> (HTTP/1.1 bytes, status line to body).</summary>
    public static RawUpstream Start(string response) => new(Encoding.Latin1.GetBytes(response));

    private async Task AcceptAsync(byte[] response)
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = AnswerAsync(client, response);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task AnswerAsync(TcpClient client, byte[] response)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            var received = new List<byte>();
            var buffer = new byte[4096];
            while (true)
            {
                var read = await stream.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    return;
                }
                received.AddRange(buffer.AsSpan(0, read));
                var text = Encoding.Latin1.GetString([.. received]);
                var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                var length = System.Text.RegularExpressions.Regex.Match(text, "(?im)^Content-Length: *([0-9]+)");
                if (end >= 0 && received.Count - end - 4 >= (length.Success ? int.Parse(length.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0))
                {
                    break;
                }
            }
            Interlocked.Increment(ref _requests);
            await stream.WriteAsync(response, _stop.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
