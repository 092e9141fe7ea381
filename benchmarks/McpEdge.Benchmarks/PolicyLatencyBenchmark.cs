using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using McpEdge.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

using static McpEdge.Benchmarks.BenchmarkSupport;

namespace McpEdge.Benchmarks;

/// <summary>
/// Issue 3's policy benchmark: three replicas, one of them with +50 ms of latency, a fixed arrival
/// rate (open model: requests start on schedule whether or not earlier ones finished, and latency
/// is measured from the scheduled start), and p50/p99 for RoundRobin, PowerOfTwoChoices and
/// LeastResponseTime side by side in one run, plus LeastResponseTime over three fast replicas as
/// the baseline. Everything (upstreams, edge, load) runs in this process on loopback; targets
/// alternate round by round so drift hits all alike.
/// </summary>
internal static class PolicyLatencyBenchmark
{
    private sealed record Target(string Name, string Policy, bool WithSlow);

    private static readonly Target[] Targets =
    [
        new("rr", "RoundRobin", true),
        new("p2c", "PowerOfTwoChoices", true),
        new("lrt", "LeastResponseTime", true),
        new("fast", "LeastResponseTime", false),
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        var rate = Option(args, "--rate", 400.0);
        var seconds = Option(args, "--seconds", 15.0);
        var rounds = (int)Option(args, "--rounds", 2.0);
        var slowMs = Option(args, "--slow-ms", 50.0);

        var hits = new ConcurrentDictionary<string, int>();
        var fast = new List<WebApplication>();
        for (var i = 0; i < 3; i++)
        {
            fast.Add(await UpstreamAsync($"fast{i}", TimeSpan.Zero, hits));
        }
        var slow = await UpstreamAsync("slow", TimeSpan.FromMilliseconds(slowMs), hits);
        string Url(WebApplication app, string target) => Address(app) + "/mcp/" + target;

        var servers = Targets.ToDictionary(t => t.Name, t => (object)new
        {
            Upstreams = t.WithSlow ? new[] { Url(fast[0], t.Name), Url(fast[1], t.Name), Url(slow, t.Name) } : fast.Select(f => Url(f, t.Name)).ToArray(),
            LoadBalancingPolicy = t.Policy,
            HealthCheck = new { Active = new { Enabled = false } },
        });
        // In a directory of its own: the edge watches its configuration file's directory, subdirectories included.
        var configFile = Path.Combine(Directory.CreateTempSubdirectory("mcpedge-bench-").FullName, "mcpedge.json");
        await File.WriteAllTextAsync(configFile, JsonSerializer.Serialize(new { McpEdge = new { Servers = servers } }));
        var edge = McpEdgeApplication.Build(["--config", configFile, "--urls", "http://127.0.0.1:0"],
            b => b.Logging.SetMinimumLevel(LogLevel.Error));
        await edge.StartAsync();
        var edgeUrl = Address(edge);

        using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan, UseProxy = false })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        Console.WriteLine($"# Policy latency: {rate:0} req/s per target, {rounds} × {seconds:0} s rounds, one replica +{slowMs:0} ms, {Environment.ProcessorCount} cores");
        foreach (var target in Targets)
        {
            await LoadAsync(client, $"{edgeUrl}/mcp/{target.Name}", rate, TimeSpan.FromSeconds(3));
        }
        hits.Clear();
        var latencies = Targets.ToDictionary(t => t.Name, _ => new List<double>());
        var failures = Targets.ToDictionary(t => t.Name, _ => 0);
        for (var round = 0; round < rounds; round++)
        {
            foreach (var target in Targets)
            {
                var (samples, failed) = await LoadAsync(client, $"{edgeUrl}/mcp/{target.Name}", rate, TimeSpan.FromSeconds(seconds));
                latencies[target.Name].AddRange(samples);
                failures[target.Name] += failed;
            }
        }

        Console.WriteLine();
        Console.WriteLine("| policy | replicas | requests | failed | to slow replica | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var target in Targets)
        {
            var sorted = latencies[target.Name].Order().ToArray();
            var toSlow = hits.GetValueOrDefault($"slow:{target.Name}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {target.Policy} | {(target.WithSlow ? $"2 fast + 1 slow (+{slowMs:0} ms)" : "3 fast")} | {sorted.Length} | {failures[target.Name]} | {(target.WithSlow ? $"{toSlow} ({100.0 * toSlow / Math.Max(1, sorted.Length):0.00}%)" : "-")} | {Percentile(sorted, 50):0.00} | {Percentile(sorted, 90):0.00} | {Percentile(sorted, 99):0.00} | {Percentile(sorted, 99.9):0.00} | {sorted.LastOrDefault():0.00} |"));
        }

        await edge.StopAsync();
        foreach (var app in fast.Append(slow))
        {
            await app.StopAsync();
        }
        Directory.Delete(Path.GetDirectoryName(configFile)!, recursive: true);
        return 0;
    }

    /// <summary>
    /// Open-model load: request i starts at start + i / rate, scheduled by a dedicated thread
    /// (sleep, then spin for the last 200 µs, so that timer granularity does not bunch requests);
    /// its latency counts from that instant, so a stalled proxy cannot hide its queue (no
    /// coordinated omission).
    /// </summary>
    private static async Task<(List<double> Samples, int Failed)> LoadAsync(HttpClient client, string url, double rate, TimeSpan duration)
    {
        var count = (int)(rate * duration.TotalSeconds);
        var samples = new double[count];
        var tasks = new Task[count];
        var failed = 0;
        var interval = Stopwatch.Frequency / rate;
        var spin = Stopwatch.Frequency / 5000; // 200 µs
        var scheduler = new Thread(() =>
        {
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < count; i++)
            {
                var due = start + (long)(i * interval);
                long now;
                while ((now = Stopwatch.GetTimestamp()) < due)
                {
                    if (due - now > spin)
                    {
                        Thread.Sleep(1);
                    }
                    else
                    {
                        Thread.SpinWait(20);
                    }
                }
                var index = i;
                tasks[i] = Task.Run(async () =>
                {
                    try
                    {
                        using var content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}""", Encoding.UTF8, "application/json");
                        using var response = await client.PostAsync(url, content);
                        await response.Content.ReadAsByteArrayAsync();
                        if (!response.IsSuccessStatusCode)
                        {
                            Interlocked.Increment(ref failed);
                        }
                    }
                    catch (HttpRequestException)
                    {
                        Interlocked.Increment(ref failed);
                    }
                    samples[index] = Stopwatch.GetElapsedTime(due).TotalMilliseconds;
                });
            }
        }) { IsBackground = true, Priority = ThreadPriority.AboveNormal, Name = "open-model scheduler" };
        scheduler.Start();
        await Task.Run(scheduler.Join);
        await Task.WhenAll(tasks);
        return (samples.ToList(), failed);
    }

    private static async Task<WebApplication> UpstreamAsync(string name, TimeSpan delay, ConcurrentDictionary<string, int> hits)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var body = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}""");
        app.Run(async context =>
        {
            hits.AddOrUpdate($"{name}:{context.Request.Path.Value!.Split('/').Last()}", 1, (_, n) => n + 1);
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay);
            }
            context.Response.ContentType = "application/json";
            await context.Response.Body.WriteAsync(body);
        });
        await app.StartAsync();
        return app;
    }



}
