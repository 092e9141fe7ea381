using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using McpEdge.SampleServer;

using static McpEdge.Benchmarks.BenchmarkSupport;

namespace McpEdge.Benchmarks;

/// <summary>
/// Issue 4's load test: <c>tools/list</c> through the edge with the list cache on (the default:
/// per session) and off, against the bundled sample server (or <c>--upstream URL</c>, e.g.
/// server-everything), after a warm-up, alternating rounds.
/// </summary>
/// <remarks>
/// The edge runs as its own process; the sample server and the load run here. Each of
/// <c>--concurrency</c> workers opens a session (initialize, not timed), then sends
/// <c>tools/list</c> back to back for <c>--seconds</c> (closed loop: this measures throughput,
/// not latency under an arrival rate). Every answer is checked for the worker's request id.
/// </remarks>
internal static class CacheLoadBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = Option(args, "--seconds", 10);
        var concurrency = (int)Option(args, "--concurrency", 16);
        var rounds = (int)Option(args, "--rounds", 2);
        var given = Array.IndexOf(args, "--upstream") is var at and >= 0 && at + 1 < args.Length ? args[at + 1] : null;

        var sample = SampleMcpServer.Build(["--urls", "http://127.0.0.1:0"]);
        await sample.StartAsync();
        var upstream = given ?? Address(sample) + "/mcp";
        using var edge = await StartEdgeAsync(new
        {
            Servers = new
            {
                cached = new { Upstreams = new[] { upstream }, HealthCheck = new { Active = new { Enabled = false } } },
                uncached = new { Upstreams = new[] { upstream }, HealthCheck = new { Active = new { Enabled = false } }, Cache = new { Enabled = false } },
            },
        }, args);
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = concurrency * 2 });
        try
        {
            Console.WriteLine($"# tools/list through the edge to {(given is null ? "the sample server" : given)}, cache on vs off: {Environment.ProcessorCount} cores, {concurrency} workers, {seconds} s per run");
            foreach (var server in new[] { "uncached", "cached" })
            {
                await RunAsync(client, $"{edge.Url}/mcp/{server}", concurrency, TimeSpan.FromSeconds(Math.Min(2, seconds))); // warm-up (JIT, connections)
            }
            Console.WriteLine("| round | server | requests/s | p50 µs | p99 µs | errors |");
            Console.WriteLine("|---|---|---|---|---|---|");
            var totals = new Dictionary<string, double> { ["uncached"] = 0, ["cached"] = 0 };
            for (var round = 1; round <= rounds; round++)
            {
                foreach (var server in new[] { "uncached", "cached" })
                {
                    var (rate, p50, p99, errors) = await RunAsync(client, $"{edge.Url}/mcp/{server}", concurrency, TimeSpan.FromSeconds(seconds));
                    totals[server] += rate;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {round} | {server} | {rate:0} | {p50:0} | {p99:0} | {errors} |"));
                }
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cached / uncached throughput: {totals["cached"] / totals["uncached"]:0.0}x"));
        }
        finally
        {
            await sample.StopAsync();
        }
        return 0;
    }

    private static async Task<(double Rate, double P50, double P99, int Errors)> RunAsync(HttpClient client, string url, int concurrency, TimeSpan duration)
    {
        var sessions = await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => InitializeAsync(client, url)));
        var latencies = new List<double>[concurrency];
        var errors = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
        {
            var mine = latencies[worker] = [];
            for (var id = 2; clock.Elapsed < duration; id++)
            {
                var started = Stopwatch.GetTimestamp();
                using var request = Post(url, $$"""{"jsonrpc":"2.0","id":{{id}},"method":"tools/list"}""", sessions[worker]);
                using var response = await client.SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                if (!response.IsSuccessStatusCode || !(body.Contains($"\"id\":{id},", StringComparison.Ordinal) || body.Contains($"\"id\":{id}}}", StringComparison.Ordinal)))
                {
                    Interlocked.Increment(ref errors);
                    continue;
                }
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
            }
        }));
        var elapsed = clock.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return (all.Length / elapsed, Percentile(all, 50), Percentile(all, 99), errors);
    }

    private static async Task<string> InitializeAsync(HttpClient client, string url)
    {
        using var request = Post(url, """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"cache-load","version":"1"}}}""", null);
        using var response = await client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return response.Headers.GetValues("Mcp-Session-Id").Single();
    }

    private static HttpRequestMessage Post(string url, string json, string? session)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (session is not null)
        {
            request.Headers.Add("Mcp-Session-Id", session);
            request.Headers.Add("MCP-Protocol-Version", "2025-11-25");
        }
        return request;
    }
}
