using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
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
    public static async Task<EdgeProcess> StartEdgeAsync(object mcpEdgeSection, string[] args)
    {
        var port = FreePort();
        var config = Path.Combine(Path.GetTempPath(), $"mcpedge-bench-{Environment.ProcessId}-{port}.json");
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
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("edge: " + e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var edge = new EdgeProcess(process, $"http://127.0.0.1:{port}", config);
        using var client = new HttpClient();
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var response = await client.GetAsync(edge.Url + "/healthz");
                if (response.IsSuccessStatusCode)
                {
                    return edge;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        edge.Dispose();
        throw new InvalidOperationException("the edge did not start");
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

/// <summary>An edge started by <see cref="BenchmarkSupport.StartEdgeAsync"/>; disposing ends it (this process started it).</summary>
internal sealed class EdgeProcess(Process process, string url, string configFile) : IDisposable
{
    public Process Process { get; } = process;

    /// <summary><c>http://127.0.0.1:{port}</c>.</summary>
    public string Url { get; } = url;

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill();
            Process.WaitForExit();
        }
        Process.Dispose();
        File.Delete(configFile);
    }
}
