using System.Net.Http;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using McpEdge.Configuration;
using McpEdge.LoadBalancing;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Benchmarks;

/// <summary>
/// The cost of one pick of each McpEdge policy, for 3 and 64 destinations, in a warm state (every
/// destination measured, the ring built). Target (issue 3): under 1 µs and no allocation.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(InProcessConfig))]
public class PolicyPickBenchmarks
{
    private LeastResponseTimeLoadBalancingPolicy _leastResponseTime = null!;
    private ConsistentHashLoadBalancingPolicy _consistentHash = null!;
    private ClusterState _cluster = null!;
    private DestinationState[] _destinations = null!;
    private HttpContext _keyed = null!;

    /// <summary>Destinations in the cluster.</summary>
    [Params(3, 64)]
    public int Destinations { get; set; }

    /// <summary>Builds warm policies.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var tracker = new DestinationLoadTracker(TimeProvider.System);
        _leastResponseTime = new LeastResponseTimeLoadBalancingPolicy(tracker);
        _consistentHash = new ConsistentHashLoadBalancingPolicy(tracker, _leastResponseTime);
        var config = new ClusterConfig
        {
            ClusterId = "bench",
            Metadata = new Dictionary<string, string> { [McpProxyConfigBuilder.MetadataKeys.HashKey] = "mcp-name" },
        };
        _cluster = new ClusterState("bench", new ClusterModel(config, new HttpMessageInvoker(new SocketsHttpHandler())));
        _destinations = Enumerable.Range(0, Destinations).Select(i => new DestinationState($"10.0.{i / 250}.{i % 250}:3001/mcp")).ToArray();
        var halfLife = tracker.Ticks(TimeSpan.FromSeconds(10));
        var random = new Random(1);
        foreach (var destination in _destinations)
        {
            tracker.Get(destination).Observe(1 + random.NextDouble(), tracker.Now, halfLife);
        }
        _keyed = new DefaultHttpContext();
        _keyed.Request.Headers["Mcp-Name"] = "get_weather_forecast";
        _consistentHash.PickDestination(_keyed, _cluster, _destinations);
    }

    /// <summary>One <c>LeastResponseTime</c> pick.</summary>
    [Benchmark]
    public DestinationState? LeastResponseTime() => _leastResponseTime.PickDestination(_keyed, _cluster, _destinations);

    /// <summary>One <c>ConsistentHash</c> pick (hash of a 20-character tool name, ring look-up, load bound).</summary>
    [Benchmark]
    public DestinationState? ConsistentHash() => _consistentHash.PickDestination(_keyed, _cluster, _destinations);
}

/// <summary>
/// Runs benchmarks in this process: BenchmarkDotNet's generated project could not reference YARP,
/// which this repository consumes through <c>PackageDownload</c> + <c>Reference</c> (DEPENDENCIES.md).
/// </summary>
public sealed class InProcessConfig : ManualConfig
{
    /// <summary>One in-process job: 3 warm-up and 10 measured iterations.</summary>
    public InProcessConfig() =>
        AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(10));
}
