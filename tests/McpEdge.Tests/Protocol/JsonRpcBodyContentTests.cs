using System.Buffers;
using System.Text;
using McpEdge.Forwarder;
using McpEdge.Protocol;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.Protocol;

/// <summary>The read body's lifetime (<see cref="JsonRpcMessageFeature"/> holders) and its upstream content (<see cref="JsonRpcBodyContent"/>).</summary>
public class JsonRpcBodyContentTests
{
    private const string Body = """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}""";

    private static JsonRpcMessageFeature Feature(bool pooled = false)
    {
        var bytes = Encoding.UTF8.GetBytes(Body);
        var buffer = pooled ? ArrayPool<byte>.Shared.Rent(bytes.Length) : bytes;
        bytes.CopyTo(buffer, 0);
        Assert.Equal(JsonRpcParseStatus.Ok, JsonRpcEnvelope.Parse(buffer.AsSpan(0, bytes.Length), 64, out var envelope, out _));
        return new JsonRpcMessageFeature(buffer, bytes.Length, envelope, pooled);
    }

    private static HttpContent YarpCopy()
    {
        var content = new StreamContent(Stream.Null);
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        content.Headers.TryAddWithoutValidation("Content-Language", "en");
        return content;
    }

    [Fact]
    public void TheBuffer_IsHeldUntilTheLastHolderLetsGo_ThenNoOneCanHoldItAgain()
    {
        var feature = Feature();
        Assert.True(feature.TryRetain()); // an upstream send starts
        feature.Dispose(); // the request ends first
        Assert.True(feature.TryRetain()); // still held by the send
        feature.Release();
        feature.Release(); // the send ends: the last holder
        Assert.False(feature.TryRetain());
    }

    [Fact]
    public async Task Content_IsTheBody_WithItsLengthAndTheClientsContentHeaders()
    {
        var feature = Feature(pooled: true);
        using var content = new JsonRpcBodyContent(feature, YarpCopy());

        Assert.Equal(Encoding.UTF8.GetByteCount(Body), content.Headers.ContentLength);
        Assert.Equal("application/json", content.Headers.ContentType?.MediaType);
        Assert.Equal("en", Assert.Single(content.Headers.ContentLanguage));
        using var sent = new MemoryStream();
        await content.CopyToAsync(sent);
        Assert.Equal(Body, Encoding.UTF8.GetString(sent.ToArray()));
        Assert.True(feature.TryRetain()); // sending let go of its hold, the request's remains
        feature.Release();
        feature.Dispose();
    }

    [Fact]
    public async Task Content_SentAfterTheRequestEnded_IsRefused_NotSentFromARecycledBuffer()
    {
        var feature = Feature(pooled: true);
        using var content = new JsonRpcBodyContent(feature, YarpCopy());
        feature.Dispose(); // the buffer is back in the pool

        using var sent = new MemoryStream();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => content.CopyToAsync(sent));
        Assert.Equal(0, sent.Length);
    }

    [Fact]
    public void Use_SwapsTheContent_OnlyWhenTheEdgeReadTheBody()
    {
        var context = new DefaultHttpContext();
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1:9/mcp") { Content = YarpCopy() };
        JsonRpcBodyContent.Use(context, request);
        Assert.IsType<StreamContent>(request.Content); // no parsed message: YARP's copy stays

        context.Features.Set(Feature());
        JsonRpcBodyContent.Use(context, request);
        Assert.IsType<JsonRpcBodyContent>(request.Content);

        using var get = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:9/mcp");
        JsonRpcBodyContent.Use(context, get);
        Assert.Null(get.Content); // nothing to send stays nothing
    }
}
