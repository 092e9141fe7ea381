using BenchmarkDotNet.Running;
using McpEdge.Benchmarks;

// `latency [--rate N --seconds S --rounds R --slow-ms M]`: the policy latency run (PolicyLatencyBenchmark).
// Anything else goes to BenchmarkDotNet, e.g. `--filter *PolicyPick*`.
if (args.Length > 0 && args[0] == "latency")
{
    return await PolicyLatencyBenchmark.RunAsync(args[1..]);
}
// `streams [--streams N --keepalive-s S --idle-s S --mib M]`: idle streams and relay throughput (StreamingBenchmark).
if (args.Length > 0 && args[0] == "streams")
{
    return await StreamingBenchmark.RunAsync(args[1..]);
}
// `cache [--seconds S --concurrency C --rounds R]`: tools/list with the list cache on vs off (CacheLoadBenchmark).
if (args.Length > 0 && args[0] == "cache")
{
    return await CacheLoadBenchmark.RunAsync(args[1..]);
}
BenchmarkSwitcher.FromAssembly(typeof(PolicyPickBenchmarks).Assembly).Run(args);
return 0;
