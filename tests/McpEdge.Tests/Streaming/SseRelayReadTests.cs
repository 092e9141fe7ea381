using System.Text;
using McpEdge.Caching;
using McpEdge.Configuration;
using McpEdge.LoadBalancing;
using McpEdge.Streaming;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Tests.Streaming;

/// <summary>How the relay reads the upstream: a zero-byte read first unless the previous read was busy.</summary>
public class SseRelayReadTests
{
    [Fact]
    public async Task Relay_WaitsWithZeroByteReadAfterSmallReads_ReadsAtOnceAfterBusyOnes_AndPassesEveryByte()
    {
        var small = Event(100);
        var busy = Event(SseRelay.BusyReadBytes);
        var justUnder = Event(SseRelay.BusyReadBytes - 1);
        var upstream = new ScriptedStream([small, busy, small, busy, justUnder]);
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var relay = Relay(services);
        var context = new DefaultHttpContext();
        var client = new MemoryStream();
        context.Response.Body = client;
        using var response = new HttpResponseMessage { Content = new StreamContent(upstream) };

        await relay.RelayAsync(context, response, rewriteEndpoint: null, server: "s");

        // 0 = a zero-byte read (waits for data holding no buffer), full = a read with the relay's buffer.
        const int full = SseRelay.BufferSize;
        Assert.Equal(
        [
            0, full,     // small: not busy
            0, full,     // busy: the next read goes at once
            full,        // small: not busy
            0, full,     // busy
            full,        // just under: not busy
            0, full,     // the end (read returns 0)
        ], upstream.ReadSizes);
        Assert.Equal(Encoding.ASCII.GetString([.. small, .. busy, .. small, .. busy, .. justUnder]), Encoding.ASCII.GetString(client.ToArray()));
    }

    /// <summary>One SSE event of exactly <paramref name="length"/> bytes.</summary>
    private static byte[] Event(int length) => Encoding.ASCII.GetBytes("data: " + new string('x', length - 8) + "\n\n");

    private static SseRelay Relay(ServiceProvider services)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["McpEdge:Servers:s:Upstreams:0"] = "http://127.0.0.1:1/mcp",
        }).Build();
        var config = new McpEdgeConfigState(configuration, [new NamedPolicy(McpLoadBalancingPolicies.LeastResponseTime)], NullLogger<McpEdgeConfigState>.Instance);
        var meters = services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        var listCache = new ListCache(new NoCache(), meters, NullLogger<ListCache>.Instance);
        return new SseRelay(config, new StreamingMetrics(meters), new Lifetime(), TimeProvider.System, listCache, NullLogger<SseRelay>.Instance);
    }

    /// <summary>Returns one scripted chunk per non-empty read (then end of stream); a zero-byte read returns at once, as data is always waiting. Records every read's buffer size.</summary>
    private sealed class ScriptedStream(IReadOnlyList<byte[]> chunks) : ReadOnlyTestStream
    {
        private int _next;

        public List<int> ReadSizes { get; } = [];

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ReadSizes.Add(buffer.Length);
            if (buffer.Length == 0 || _next == chunks.Count)
            {
                return ValueTask.FromResult(0);
            }
            var chunk = chunks[_next++];
            chunk.CopyTo(buffer);
            return ValueTask.FromResult(chunk.Length);
        }

    }

    private sealed class NamedPolicy(string name) : ILoadBalancingPolicy
    {
        public string Name => name;
        public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations) => null;
    }

    private sealed class Lifetime : Microsoft.Extensions.Hosting.IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;
        public CancellationToken ApplicationStopping => CancellationToken.None;
        public CancellationToken ApplicationStopped => CancellationToken.None;
        public void StopApplication() { }
    }

    /// <summary>The relay only drops tags from the cache (on list_changed), which this stream never sends.</summary>
    private sealed class NoCache : HybridCache
    {
        public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null,
            CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
