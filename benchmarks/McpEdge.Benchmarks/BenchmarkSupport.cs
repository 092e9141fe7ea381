using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using McpEdge.LoadTests.Targets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace McpEdge.Benchmarks;

/// <summary>Helpers shared by the latency and streaming runs.</summary>
internal static class BenchmarkSupport
{
    /// <summary>The address a started app listens on (<c>http://127.0.0.1:{port}</c>).</summary>
    public static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

    /// <summary>The nearest-rank percentile of sorted values (NaN when empty).</summary>
    public static double Percentile(double[] sorted, double percentile) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(percentile / 100 * sorted.Length) - 1)];

    /// <summary>The number after <paramref name="name"/> on the command line, or <paramref name="fallback"/>.</summary>
    public static double Option(string[] args, string name, double fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    /// <summary>
    /// Starts <c>McpEdge.dll</c> (next to this program) as its own process on a free loopback port
    /// with <paramref name="mcpEdgeSection"/> as its <c>McpEdge</c> section, and waits for <c>/healthz</c>.
    /// <c>--env NAME=VALUE</c> pairs in <paramref name="args"/> go into its environment (e.g. <c>DOTNET_gcServer=0</c>).
    /// </summary>
    public static async Task<ServerProcess> StartEdgeAsync(object mcpEdgeSection, string[] args)
    {
        var port = FreePort();
        // In a directory of its own: the edge watches its configuration file's directory, subdirectories
        // included, and in a busy /tmp that watch (its events, its memory) would become part of the measurement.
        var scratch = Directory.CreateTempSubdirectory("mcpedge-bench-").FullName;
        var config = Path.Combine(scratch, "mcpedge.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new { Logging = new { LogLevel = new { Default = "Warning" } }, McpEdge = mcpEdgeSection }));
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "McpEdge.dll"), "--config", config, "--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in args.Zip(args.Skip(1)).Where(p => p.First == "--env").Select(p => p.Second.Split('=', 2)).Select(kv => (kv[0], kv[1])))
        {
            start.Environment[name] = value;
        }
        return await StartServerAsync("edge", start, $"http://127.0.0.1:{port}", "/healthz", scratch);
    }

    /// <summary>
    /// Starts nginx (<c>/usr/sbin/nginx</c>, one worker, access log off) on a free loopback port as infra
    /// teams configure it in front of an MCP server's SSE streams (<c>proxy_buffering off</c>, HTTP/1.1
    /// keep-alive to the upstream; the same settings as the load tests' comparison), proxying every path
    /// to <paramref name="upstreamUrl"/>, ready when <paramref name="readyPath"/> answers 2xx through it; null when nginx is not installed.
    /// Its one unbuffered relay buffer (<c>proxy_buffer_size</c>) is 16 KiB, like the edge's SSE relay
    /// buffer; nginx's default of one memory page (4 KiB) made it 2–2.3 times slower than the edge on one fast stream.
    /// </summary>
    public static async Task<ServerProcess?> StartNginxAsync(string upstreamUrl, string readyPath)
    {
        if (!File.Exists("/usr/sbin/nginx"))
        {
            return null;
        }
        var port = FreePort();
        var prefix = Directory.CreateTempSubdirectory("mcpedge-bench-nginx-").FullName;
        var conf = Path.Combine(prefix, "nginx.conf");
        await File.WriteAllTextAsync(conf, NginxConfig.Build(prefix, $"127.0.0.1:{port}",
            upstreams: $"  upstream sse {{ server {new Uri(upstreamUrl).Authority}; keepalive 16; }}",
            server: """
                    proxy_buffer_size 16k;        # the relay buffer; nginx's default is one page (4 KiB)
                    proxy_busy_buffers_size 16k;  # must stay below proxy_buffers (8 x 4k) minus one buffer
                    location / { proxy_pass http://sse; }
                """));
        var start = new ProcessStartInfo("/usr/sbin/nginx", ["-p", prefix, "-c", conf, "-e", Path.Combine(prefix, "error.log")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        return await StartServerAsync("nginx", start, $"http://127.0.0.1:{port}", readyPath, prefix);
    }

    /// <summary>Starts <paramref name="start"/> and waits (≤ 20 s) until <paramref name="readyPath"/> answers 2xx.</summary>
    private static async Task<ServerProcess> StartServerAsync(string name, ProcessStartInfo start, string url, string readyPath, string scratch)
    {
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine($"{name}: {e.Data}"); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new ServerProcess(process, url, scratch);
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 200 && !process.HasExited; i++)
        {
            try
            {
                using var response = await client.GetAsync(url + readyPath);
                if (response.IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet, or not answering within the client's 2 s: try again.
            }
            await Task.Delay(100); // polling a process that gives no other readiness signal, bounded to 20 s
        }
        server.Dispose();
        throw new InvalidOperationException($"{name} did not answer {readyPath} with 2xx within 20 s");
    }

    /// <summary>Resident memory of a process, bytes (<c>/proc/{pid}/status</c>).</summary>
    public static long Rss(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }

    private static int FreePort()
    {
        using var socket = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        socket.Start();
        return ((System.Net.IPEndPoint)socket.LocalEndpoint).Port;
    }
}

/// <summary>
/// A server process started by <see cref="BenchmarkSupport.StartEdgeAsync"/> or <see cref="BenchmarkSupport.StartNginxAsync"/>;
/// disposing ends it and its children (this process started them) and deletes its scratch file or directory.
/// </summary>
internal sealed class ServerProcess(Process process, string url, string scratch) : IDisposable
{
    public Process Process { get; } = process;

    /// <summary><c>http://127.0.0.1:{port}</c>.</summary>
    public string Url { get; } = url;

    public void Dispose()
    {
        ProcessStop.End(Process, TimeSpan.FromSeconds(10));
        Process.Dispose();
        if (Directory.Exists(scratch))
        {
            Directory.Delete(scratch, recursive: true);
        }
        else
        {
            File.Delete(scratch);
        }
    }
}
