using System.Text;

namespace McpEdge.Tests.Infrastructure;

/// <summary>Reads a <c>text/event-stream</c> body one event at a time (the raw lines of each event).</summary>
public sealed class SseReader(Stream body) : IDisposable
{
    private readonly StreamReader _reader = new(body, Encoding.UTF8);

    /// <summary>The next event's lines, or null at the end of the stream. Fails the test after <paramref name="timeout"/>.</summary>
    public async Task<IReadOnlyList<string>?> NextAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var lines = new List<string>();
        while (true)
        {
            var line = await _reader.ReadLineAsync(cts.Token);
            if (line is null)
            {
                return lines.Count > 0 ? lines : null;
            }
            if (line.Length == 0)
            {
                if (lines.Count > 0)
                {
                    return lines;
                }
                continue;
            }
            lines.Add(line);
        }
    }

    /// <summary>The data of the next event.</summary>
    public async Task<string?> NextDataAsync(TimeSpan timeout)
    {
        var lines = await NextAsync(timeout);
        return lines is null ? null : string.Join("\n", lines.Where(l => l.StartsWith("data:")).Select(l => l[5..].TrimStart()));
    }

    public void Dispose() => _reader.Dispose();
}
