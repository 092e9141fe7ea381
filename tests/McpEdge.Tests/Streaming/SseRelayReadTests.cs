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
    [Theory]
    [InlineData(null)]   // StreamingOptions.DefaultRelayBufferBytes
    [InlineData(32768)]  // Streaming:RelayBufferBytes
    public async Task Relay_WaitsWithZeroByteReadAfterSmallReads_ReadsAtOnceAfterBusyOnes_AndPassesEveryByte(int? relayBufferBytes)
    {
        var small = Event(100);
        var busy = Event(SseRelay.BusyReadBytes);
        var justUnder = Event(SseRelay.BusyReadBytes - 1);
        var upstream = new ScriptedStream([small, busy, small, busy, justUnder]);
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var relay = Relay(services, relayBufferBytes);
        var context = new DefaultHttpContext();
        var client = new MemoryStream();
        context.Response.Body = client;
        using var response = new HttpResponseMessage { Content = new StreamContent(upstream) };

        await relay.RelayAsync(context, response, rewriteEndpoint: null, server: "s");

        // 0 = a zero-byte read (waits for data holding no buffer), full = a read with the relay's buffer.
        var full = relayBufferBytes ?? StreamingOptions.DefaultRelayBufferBytes;
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

    [Fact]
    public async Task Relay_GathersBusyReadsThatFoundDataWaiting_AndFlushesThemBeforeItWaitsForTheUpstream()
    {
        var busy = Event(SseRelay.BusyReadBytes);
        var last = Event(100);
        // Two busy reads find their data at once; the third has to wait until the test releases it.
        var client = new ReceivingStream();
        var upstream = new GatedStream([busy, busy], last, client);
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var relay = Relay(services);
        var context = new DefaultHttpContext();
        context.Response.Body = client;
        using var response = new HttpResponseMessage { Content = new StreamContent(upstream) };

        var relaying = relay.RelayAsync(context, response, rewriteEndpoint: null, server: "s");

        await upstream.Waiting.WaitAsync(TimeSpan.FromSeconds(10));
        // Both busy reads were gathered: nothing had reached the client when the third read began ...
        Assert.Equal(0, upstream.ClientBytesAtWait);
        // ... and they go out together while the relay waits for the upstream, not after its next bytes.
        await client.Received(2 * busy.Length).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain((long)busy.Length, client.FlushedLengths);
        upstream.Release();
        await relaying.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(Encoding.ASCII.GetString([.. busy, .. busy, .. last]), Encoding.ASCII.GetString(client.ToArray()));
    }

    /// <summary>One SSE event of exactly <paramref name="length"/> bytes.</summary>
    private static byte[] Event(int length) => Encoding.ASCII.GetBytes("data: " + new string('x', length - 8) + "\n\n");

    private static SseRelay Relay(ServiceProvider services, int? relayBufferBytes = null)
    {
        var settings = new Dictionary<string, string?> { ["McpEdge:Servers:s:Upstreams:0"] = "http://127.0.0.1:1/mcp" };
        if (relayBufferBytes is { } bytes)
        {
            settings["McpEdge:Streaming:RelayBufferBytes"] = bytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
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

    /// <summary>
    /// Answers the reads for <paramref name="ready"/> at once (zero-byte reads too); the read after them
    /// waits (<see cref="Waiting"/>) until <see cref="Release"/>, then returns <paramref name="last"/>;
    /// then end of stream. <paramref name="client"/> is the stream whose length <see cref="ClientBytesAtWait"/> records.
    /// </summary>
    private sealed class GatedStream(IReadOnlyList<byte[]> ready, byte[] last, ReceivingStream client) : ReadOnlyTestStream
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _waiting = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _next;

        /// <summary>Completes when the relay has started the read that waits.</summary>
        public Task Waiting => _waiting.Task;

        /// <summary>Bytes the client had received when that read started (set before <see cref="Waiting"/> completes).</summary>
        public long ClientBytesAtWait { get; private set; } = -1;

        public void Release() => _release.SetResult();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.Length == 0)
            {
                return ValueTask.FromResult(0);
            }
            if (_next < ready.Count)
            {
                var chunk = ready[_next++];
                chunk.CopyTo(buffer);
                return ValueTask.FromResult(chunk.Length);
            }
            if (_next++ == ready.Count)
            {
                return new ValueTask<int>(WaitThenReadAsync(buffer));
            }
            return ValueTask.FromResult(0);
        }

        private async Task<int> WaitThenReadAsync(Memory<byte> buffer)
        {
            ClientBytesAtWait = client.Length;
            _waiting.SetResult();
            await _release.Task;
            last.CopyTo(buffer);
            return last.Length;
        }
    }

    /// <summary>The client: keeps what it receives, notes its length at every flush, and tells when a flush has brought it a given number of bytes.</summary>
    private sealed class ReceivingStream : MemoryStream
    {
        private readonly Lock _lock = new();
        private readonly List<(long Bytes, TaskCompletionSource Done)> _waiters = [];

        /// <summary>The bytes received so far, at each flush.</summary>
        public List<long> FlushedLengths { get; } = [];

        public Task Received(long bytes)
        {
            lock (_lock)
            {
                if (FlushedLengths.Count > 0 && FlushedLengths[^1] >= bytes)
                {
                    return Task.CompletedTask;
                }
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add((bytes, done));
                return done.Task;
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            lock (_lock)
            {
                Write(buffer.Span);
            }
            return ValueTask.CompletedTask;
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            lock (_lock)
            {
                FlushedLengths.Add(Length);
                foreach (var waiter in _waiters.Where(w => Length >= w.Bytes).ToList())
                {
                    waiter.Done.SetResult();
                    _waiters.Remove(waiter);
                }
            }
            return Task.CompletedTask;
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
