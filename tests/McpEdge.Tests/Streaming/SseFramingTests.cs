using System.Text;
using McpEdge.Streaming;

namespace McpEdge.Tests.Streaming;

public class SseFramingTests
{
    [Theory]
    [InlineData("data: a\n\nrest", 9)]
    [InlineData("data: a\r\n\r\nrest", 11)]
    [InlineData("data: a\r\rrest", 9)]
    [InlineData(": comment\n\n", 11)]
    [InlineData("\n", 1)]
    [InlineData("data: a\n", -1)]
    [InlineData("data: a\r\n\r", -1)]
    [InlineData("", -1)]
    public void FindEventEnd_LineEndingsOfTheSpec(string text, int expected)
    {
        Assert.Equal(expected, SseFraming.FindEventEnd(Encoding.UTF8.GetBytes(text)));
    }

    [Theory]
    [InlineData("text/event-stream", true)]
    [InlineData("TEXT/Event-Stream", true)]
    [InlineData("text/event-stream; charset=utf-8", true)]
    [InlineData(" text/event-stream ;charset=utf-8", true)]
    [InlineData("text/event-stream\t", true)]
    [InlineData("application/json", false)]
    [InlineData("text/event-streams", false)]
    [InlineData("text/event-stream garbage", false)]
    [InlineData("text/event", false)]
    [InlineData("", false)]
    public void IsEventStream_ReadsTheMediaTypeBeforeItsParameters(string contentType, bool expected)
    {
        Assert.Equal(expected, SseFraming.IsEventStream(contentType));
    }

    [Theory]
    [InlineData("event: endpoint\ndata: /message?sessionId=abc\n\n", "/message?sessionId=abc")]
    [InlineData("event:endpoint\r\ndata:/m?x=1\r\n\r\n", "/m?x=1")]
    [InlineData("event: message\ndata: {}\n\n", null)]
    [InlineData("data: /message\n\n", null)]
    public void TryGetEndpointData_OnlyEndpointEvents(string text, string? expected)
    {
        Assert.Equal(expected, SseFraming.TryGetEndpointData(Encoding.UTF8.GetBytes(text)));
    }

    [Fact]
    public void RewriteEndpointEvent_KeepsIdAndRetry()
    {
        var rewritten = SseFraming.RewriteEndpointEvent(Encoding.UTF8.GetBytes("id: 7\nevent: endpoint\nretry: 1000\ndata: /old\n\n"), "/mcp/x/message?sessionId=T");
        Assert.Equal("event: endpoint\nid: 7\nretry: 1000\ndata: /mcp/x/message?sessionId=T\n\n", Encoding.UTF8.GetString(rewritten));
    }
}
