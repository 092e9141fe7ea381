using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using McpEdge.LoadTests.Targets;

using static McpEdge.Benchmarks.BenchmarkSupport;

namespace McpEdge.Benchmarks;

/// <summary>
/// Issue 7's streaming benchmark. The edge runs as its own process (<c>McpEdge.dll</c> next to this
/// one) so that its memory can be read from <c>/proc</c>; the upstream and the clients run here.
/// <list type="number">
/// <item>Idle SSE streams through the edge: a warm-up set (<c>--warm-streams</c>, default 500), then
/// N more (<c>--streams</c>, default 2000): the edge's resident memory per stream, for the warm-up set
/// (one-time costs included) and for the N (the cost of one more stream), and keep-alive lateness
/// (arrival gap minus the interval) over the run. <c>--open-rate</c> paces the opening (streams per
/// second; default 0, all at once).</item>
/// <item>Relay throughput of one fast stream (1 KiB events, as fast as the upstream can write)
/// through the edge vs direct, alternating; through nginx too (<c>proxy_buffering off</c>) when it is
/// installed and the upstream speaks HTTP/1.1.</item>
/// </list>
/// <c>--upstream-http 2</c>: the upstream serves cleartext HTTP/2 only and the edge speaks it
/// (<c>UpstreamHttpVersion: "2"</c>), so the idle streams share a few upstream connections; the
/// direct figure is then over HTTP/2 too. The clients speak HTTP/1.1 to the edge either way.
/// </summary>
internal static class StreamingBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var streams = (int)Option(args, "--streams", 2000);
        var keepAlive = TimeSpan.FromSeconds(Option(args, "--keepalive-s", 5));
        var idleSeconds = Option(args, "--idle-s", 30);
        var warmStreams = (int)Option(args, "--warm-streams", 500);
        // Streams opened per second (0: all at once, a burst). Kestrel's block pool keeps what a burst made it grow to.
        var openRate = Option(args, "--open-rate", 0);
        var throughputMiB = (long)Option(args, "--mib", 1024);
        var http2 = Option(args, "--upstream-http", 1.1) == 2;

        var upstream = await UpstreamAsync(http2);
        var upstreamUrl = Address(upstream);
        using var edge = await StartEdgeAsync(new
        {
            Servers = new
            {
                idle = new { Upstreams = new[] { upstreamUrl + "/idle" }, UpstreamHttpVersion = http2 ? "2" : "auto", HealthCheck = new { Active = new { Enabled = false } } },
                fast = new { Upstreams = new[] { upstreamUrl + "/fast" }, UpstreamHttpVersion = http2 ? "2" : "auto", HealthCheck = new { Active = new { Enabled = false } } },
            },
            Streaming = new { KeepAliveInterval = keepAlive.ToString("c", CultureInfo.InvariantCulture), MaxStreams = (streams + warmStreams) * 2, MaxStreamsPerClient = (streams + warmStreams) * 2 },
        }, args);
        var edgeUrl = edge.Url;
        // nginx relays the fast stream too when installed (it has no HTTP/2 to upstreams: HTTP/1.1 runs only).
        using var nginx = http2 ? null : await StartNginxAsync(upstreamUrl, "/fast?mib=0");
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        try
        {
            Console.WriteLine($"# Streaming: {Environment.ProcessorCount} cores, edge pid {edge.Process.Id}, upstream HTTP/{(http2 ? "2 (h2c)" : "1.1")}");

            // 1. Idle streams, in two stages: a warm-up set first (its share carries the one-time costs:
            // JIT, thread-pool threads, Kestrel's block pool, the first metric points), then the measured
            // set, whose RSS growth is the cost of one more stream.
            var fresh = Rss(edge.Process.Id);
            using var stop = new CancellationTokenSource();
            var total = warmStreams + streams;
            var gaps = new List<double>[total];
            var opened = 0;
            var readers = new Task[total];
            async Task<TimeSpan> OpenAsync(int from, int to)
            {
                var clock = Stopwatch.StartNew();
                for (var i = from; i < to; i++)
                {
                    if (openRate > 0 && TimeSpan.FromSeconds((i - from) / openRate) is var due && due > clock.Elapsed)
                    {
                        await Task.Delay(due - clock.Elapsed);
                    }
                    var index = i;
                    gaps[i] = [];
                    readers[i] = Task.Run(() => ReadIdleAsync(client, edgeUrl, gaps[index], () => Interlocked.Increment(ref opened), stop.Token));
                }
                while (Volatile.Read(ref opened) < to && clock.Elapsed < TimeSpan.FromSeconds(120))
                {
                    await Task.Delay(100);
                }
                return clock.Elapsed;
            }
            var warmOpenedIn = await OpenAsync(0, warmStreams);
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(idleSeconds, 10)));
            var warm = Rss(edge.Process.Id);
            var openedIn = await OpenAsync(warmStreams, total);
            await Task.Delay(TimeSpan.FromSeconds(idleSeconds));
            var during = Rss(edge.Process.Id);
            await stop.CancelAsync();
            await Task.WhenAll(readers.Where(r => r is not null)).ContinueWith(_ => { });
            // The first keep-alive of a stream counts from its open, not from a previous one: skip it.
            var lateness = gaps.Where(g => g is not null).SelectMany(g => g.Skip(1)).Select(g => g - keepAlive.TotalMilliseconds).Order().ToArray();
            var measured = Volatile.Read(ref opened) - warmStreams;
            Console.WriteLine();
            Console.WriteLine("| idle streams | opened in | edge RSS | per stream |");
            Console.WriteLine("|---|---:|---:|---:|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| none (edge started, `/healthz` answered) | | {fresh / 1048576.0:0.0} MiB | |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {warmStreams} warm-up (one-time costs included) | {warmOpenedIn.TotalSeconds:0.0} s | {warm / 1048576.0:0.0} MiB | {(warm - fresh) / 1024.0 / Math.Max(1, warmStreams):0.0} KiB |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| **{measured} more** (the cost of one more stream) | {openedIn.TotalSeconds:0.0} s | {during / 1048576.0:0.0} MiB | **{(during - warm) / 1024.0 / Math.Max(1, measured):0.0} KiB** |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| all {warmStreams + measured} over the fresh edge | | | {(during - fresh) / 1024.0 / Math.Max(1, warmStreams + measured):0.0} KiB |"));
            Console.WriteLine();
            Console.WriteLine("| keep-alives measured | lateness p50 | p99 | max |");
            Console.WriteLine("|---:|---:|---:|---:|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {lateness.Length} | {Percentile(lateness, 50):0} ms | {Percentile(lateness, 99):0} ms | {lateness.LastOrDefault():0} ms |"));

            // 2. One fast stream, direct vs through the edge, alternating, after an unreported warm-up
            // round of up to 256 MiB (the first direct run otherwise carries the client's JIT and first
            // connection, and the edge's relay loop needs a few hundred milliseconds to reach tier-1 code).
            await ThroughputAsync(client, $"{upstreamUrl}/fast?mib={Math.Min(throughputMiB, 256)}", http2);
            await ThroughputAsync(client, $"{edgeUrl}/mcp/fast?mib={Math.Min(throughputMiB, 256)}", http2: false);
            await ThroughputAsync(client, $"{edgeUrl}/mcp/fast?mib={Math.Min(throughputMiB, 256)}&plain=1", http2: false);
            if (nginx is not null)
            {
                await ThroughputAsync(client, $"{nginx.Url}/fast?mib={Math.Min(throughputMiB, 256)}", http2: false);
            }
            Console.WriteLine();
            Console.WriteLine($"| round | direct MiB/s | edge SSE relay MiB/s | ratio | edge, YARP's copier (not SSE) MiB/s | ratio |{(nginx is null ? "" : " nginx MiB/s | ratio | edge ÷ nginx |")}");
            Console.WriteLine($"|---:|---:|---:|---:|---:|---:|{(nginx is null ? "" : "---:|---:|---:|")}");
            var cpu = new List<(int Round, string Target, Throughput Run)>();
            for (var round = 1; round <= 3; round++)
            {
                var direct = await ThroughputAsync(client, $"{upstreamUrl}/fast?mib={throughputMiB}", http2);
                var viaEdge = await ThroughputAsync(client, $"{edgeUrl}/mcp/fast?mib={throughputMiB}", http2: false, edge.Process.Id);
                var viaYarp = await ThroughputAsync(client, $"{edgeUrl}/mcp/fast?mib={throughputMiB}&plain=1", http2: false, edge.Process.Id);
                cpu.AddRange([(round, "direct", direct), (round, "edge SSE relay", viaEdge), (round, "edge, YARP's copier", viaYarp)]);
                var line = string.Create(CultureInfo.InvariantCulture, $"| {round} | {direct.MiBPerSecond:0} | {viaEdge.MiBPerSecond:0} | {viaEdge.MiBPerSecond / direct.MiBPerSecond:0.00} | {viaYarp.MiBPerSecond:0} | {viaYarp.MiBPerSecond / direct.MiBPerSecond:0.00} |");
                if (nginx is not null)
                {
                    var viaNginx = await ThroughputAsync(client, $"{nginx.Url}/fast?mib={throughputMiB}", http2: false, nginx.Process.Id);
                    cpu.Add((round, "nginx", viaNginx));
                    line += string.Create(CultureInfo.InvariantCulture, $" {viaNginx.MiBPerSecond:0} | {viaNginx.MiBPerSecond / direct.MiBPerSecond:0.00} | {viaEdge.MiBPerSecond / viaNginx.MiBPerSecond:0.00} |");
                }
                Console.WriteLine(line);
            }

            // Where the CPU went: the rate of a CPU-bound relay is at most the machine's cores over the CPU
            // every process spends on a byte, so these say how far any proxy on this machine could go.
            Console.WriteLine();
            Console.WriteLine($"| round | target | MiB/s | upstream + client CPU s per GiB | proxy CPU s per GiB | machine busy (of {ProcessCpu.MachineCores} cores) | at most, all cores busy, MiB/s |");
            Console.WriteLine("|---:|---|---:|---:|---:|---:|---:|");
            foreach (var (round, target, run) in cpu)
            {
                var gib = run.MiB / 1024.0;
                var perMiB = (run.HereTicks + run.ProxyTicks) * ProcessCpu.TickSeconds / run.MiB; // CPU seconds per MiB
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {round} | {target} | {run.MiBPerSecond:0} | {run.HereTicks * ProcessCpu.TickSeconds / gib:0.00} | {(target == "direct" ? "-" : (run.ProxyTicks * ProcessCpu.TickSeconds / gib).ToString("0.00", CultureInfo.InvariantCulture))} | {run.MachineTicks * ProcessCpu.TickSeconds / run.Seconds:0.00} | {ProcessCpu.MachineCores / perMiB:0} |"));
            }
        }
        finally
        {
            await upstream.StopAsync();
        }
        return 0;
    }

    /// <summary>Holds one idle stream open until <paramref name="stop"/>, recording the gaps between its keep-alives, ms.</summary>
    private static async Task ReadIdleAsync(HttpClient client, string edgeUrl, List<double> gaps, Action opened, CancellationToken stop)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, edgeUrl + "/mcp/idle");
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop));
            var last = Stopwatch.GetTimestamp();
            opened();
            while (await reader.ReadLineAsync(stop) is { } line)
            {
                if (line.StartsWith(": keep-alive", StringComparison.Ordinal))
                {
                    var now = Stopwatch.GetTimestamp();
                    gaps.Add(Stopwatch.GetElapsedTime(last, now).TotalMilliseconds);
                    last = now;
                }
                else if (line.Length > 0)
                {
                    last = Stopwatch.GetTimestamp();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// One fast-stream run: its rate, and the CPU it cost, in clock ticks (10 ms): this process (the
    /// upstream and the client), the proxy (edge or nginx, with its workers; 0 for direct) and the machine.
    /// </summary>
    private readonly record struct Throughput(double MiBPerSecond, double MiB, double Seconds, long HereTicks, long ProxyTicks, long MachineTicks);

    private static async Task<Throughput> ThroughputAsync(HttpClient client, string url, bool http2, int proxyPid = 0)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (http2)
        {
            request.Version = System.Net.HttpVersion.Version20;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        // This process alone: it started the edge and nginx, whose CPU goes in the proxy column.
        var here = ProcessCpu.Ticks(Environment.ProcessId);
        var proxy = proxyPid == 0 ? 0 : ProcessCpu.Ticks(proxyPid, withChildren: true);
        var machine = ProcessCpu.MachineBusyTicks();
        var clock = Stopwatch.StartNew();
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64 * 1024];
        long total = 0;
        int n;
        while ((n = await body.ReadAsync(buffer)) > 0)
        {
            total += n;
        }
        var seconds = clock.Elapsed.TotalSeconds;
        var mib = total / 1048576.0;
        return new(mib / seconds, mib, seconds, ProcessCpu.Ticks(Environment.ProcessId) - here,
            proxyPid == 0 ? 0 : ProcessCpu.Ticks(proxyPid, withChildren: true) - proxy, ProcessCpu.MachineBusyTicks() - machine);
    }

    private static async Task<WebApplication> UpstreamAsync(bool http2)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        if (http2)
        {
            builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(l => l.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2));
        }
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var chunk = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("data: " + new string('x', 1016) + "\n\n", 64)));
        app.Run(async context =>
        {
            // plain=1: not SSE, so the edge copies it with YARP's own stream copier (the reference).
            context.Response.ContentType = context.Request.Query.ContainsKey("plain") ? "application/octet-stream" : "text/event-stream";
            if (context.Request.Path.StartsWithSegments("/fast"))
            {
                var mib = long.Parse(context.Request.Query["mib"].ToString(), CultureInfo.InvariantCulture);
                for (long sent = 0; sent < mib * 1048576; sent += chunk.Length)
                {
                    await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                }
                return;
            }
            await context.Response.WriteAsync("data: open\n\n");
            await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { });
        });
        await app.StartAsync();
        return app;
    }
}
