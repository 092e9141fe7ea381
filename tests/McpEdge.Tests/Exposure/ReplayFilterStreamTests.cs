using System.Text;
using McpEdge.Exposure;

namespace McpEdge.Tests.Exposure;

/// <summary>
/// The resumed-stream filter: whole events reach the rewrite however the bytes are split, comment
/// lines between events go out at once, an event too long fails the write, and a body that is not an
/// event stream passes untouched.
/// </summary>
public class ReplayFilterStreamTests
{
    private const string Stream = ": primed\n\nid: 1\ndata: {\"a\":1}\n\n: keep-alive\nid: 2\r\nevent: message\r\ndata: {\"b\":2}\r\n\r\n";

    private static (ReplayFilterStream Filter, MemoryStream Sent, List<string> Seen) Create(int maxEventBytes = 1024, bool eventStream = true)
    {
        var sent = new MemoryStream();
        var seen = new List<string>();
        var filter = new ReplayFilterStream(sent, () => eventStream, maxEventBytes, e =>
        {
            var text = Encoding.UTF8.GetString(e.Span);
            seen.Add(text);
            return text.Contains("\"b\"", StringComparison.Ordinal) ? Encoding.UTF8.GetBytes(text.Replace("\"b\":2", "\"b\":two", StringComparison.Ordinal)) : null;
        });
        return (filter, sent, seen);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(1000)]
    public async Task WholeEvents_ReachTheRewrite_HoweverTheBytesAreSplit(int chunk)
    {
        var (filter, sent, seen) = Create();
        var bytes = Encoding.UTF8.GetBytes(Stream);
        for (var i = 0; i < bytes.Length; i += chunk)
        {
            await filter.WriteAsync(bytes.AsMemory(i, Math.Min(chunk, bytes.Length - i)));
        }

        Assert.Equal(["\n", "id: 1\ndata: {\"a\":1}\n\n", "id: 2\r\nevent: message\r\ndata: {\"b\":2}\r\n\r\n"], seen);
        Assert.Equal(Stream.Replace("\"b\":2", "\"b\":two", StringComparison.Ordinal), Encoding.UTF8.GetString(sent.ToArray()));
        Assert.Equal(1, filter.Rewritten);
    }

    [Fact]
    public async Task ACommentLineBetweenEvents_GoesOutAtOnce_AnUnfinishedEventWaits()
    {
        var (filter, sent, _) = Create();

        await filter.WriteAsync(Encoding.UTF8.GetBytes("data: {\"a\":1}\n\n: keep-alive\nid: 3\ndata: {\"a\""));

        Assert.Equal("data: {\"a\":1}\n\n: keep-alive\n", Encoding.UTF8.GetString(sent.ToArray()));
    }

    [Fact]
    public async Task AnEventLongerThanTheLimit_FailsTheWrite_ManyShortEventsInOneWriteDoNot()
    {
        var (filter, sent, _) = Create(maxEventBytes: 16);

        await filter.WriteAsync(Encoding.UTF8.GetBytes("data: 1\n\ndata: 2\n\ndata: 3\n\n")); // 27 bytes, no event over 16
        await filter.WriteAsync(Encoding.UTF8.GetBytes("data: 12345678"));
        await Assert.ThrowsAsync<IOException>(async () => await filter.WriteAsync(Encoding.UTF8.GetBytes("9abc")));

        Assert.True(filter.Overflowed);
        Assert.Equal("data: 1\n\ndata: 2\n\ndata: 3\n\n", Encoding.UTF8.GetString(sent.ToArray()));
    }

    [Fact]
    public async Task ABodyThatIsNotAnEventStream_PassesUntouched()
    {
        var (filter, sent, seen) = Create(eventStream: false);

        await filter.WriteAsync(Encoding.UTF8.GetBytes("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{}}"));

        Assert.Equal("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{}}", Encoding.UTF8.GetString(sent.ToArray()));
        Assert.Empty(seen);
    }
}
