using System.Security.Cryptography;
using System.Text.Json;
using McpEdge.Hosting;
using McpEdge.SampleServer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace McpEdge.LoadTests.Targets;

/// <summary>
/// The bundled target, in this process: <see cref="ReplicaCount"/> sample MCP server replicas (each
/// its own Kestrel on 127.0.0.1, 2026-07-28 stateless requests on) behind an edge with two servers:
/// <c>sample</c> (all replicas, least response time, 1 s active probes) and <c>limited</c> (the
/// same replicas behind a token-bucket rate limit of <see cref="RateLimit"/> requests per second).
/// A replica can be stopped mid-run (the failover scenario).
/// </summary>
public sealed class SelfHosted : IAsyncDisposable
{
    /// <summary>Replicas of the sample server.</summary>
    public const int ReplicaCount = 3;

    /// <summary>Permits per second of the <c>limited</c> server (bucket of the same size).</summary>
    public const int RateLimit = 20;

    private readonly List<WebApplication> _replicas;
    private readonly WebApplication _edge;
    private readonly string _configFile;

    private SelfHosted(List<WebApplication> replicas, WebApplication edge, string configFile, Uri edgeBase)
    {
        _replicas = replicas;
        _edge = edge;
        _configFile = configFile;
        EdgeBase = edgeBase;
    }

    /// <summary><c>http://127.0.0.1:{port}</c> of the edge.</summary>
    public Uri EdgeBase { get; }

    /// <summary>The <c>sample</c> server through the edge.</summary>
    public Uri Sample => new(EdgeBase, "/mcp/sample");

    /// <summary>The rate-limited <c>limited</c> server through the edge.</summary>
    public Uri Limited => new(EdgeBase, "/mcp/limited");

    /// <summary>The replicas' MCP endpoints (direct, not through the edge).</summary>
    public IReadOnlyList<Uri> Replicas => _replicas.Select(r => new Uri(Address(r) + "/mcp")).ToArray();

    /// <summary>Starts the replicas and the edge (logs at Warning, the access log off).</summary>
    public static async Task<SelfHosted> StartAsync()
    {
        var replicas = new List<WebApplication>();
        for (var i = 0; i < ReplicaCount; i++)
        {
            var replica = SampleMcpServer.Build(["--urls", "http://127.0.0.1:0", "--stateless", "true"]);
            await replica.StartAsync();
            replicas.Add(replica);
        }
        var upstreams = replicas.Select(r => Address(r) + "/mcp").ToArray();
        var server = new
        {
            Upstreams = upstreams,
            LoadBalancingPolicy = "LeastResponseTime",
            HealthCheck = new { Active = new { Interval = "00:00:01", Timeout = "00:00:01" } },
            Timeouts = new { Connect = "00:00:01", Response = "00:00:30" },
        };
        // In a directory of its own: the edge watches its configuration file's directory, subdirectories included.
        var configFile = Path.Combine(Directory.CreateTempSubdirectory("mcpedge-load-").FullName, "mcpedge.json");
        await File.WriteAllTextAsync(configFile, JsonSerializer.Serialize(new
        {
            Logging = new { Format = "text", LogLevel = new Dictionary<string, string> { ["Default"] = "Warning", ["McpEdge.Access"] = "Warning" } },
            McpEdge = new
            {
                Servers = new { sample = server, limited = server },
                Sessions = new { Keys = new[] { Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) } },
                RateLimits = new[] { new { Name = "limited-burst", Server = "limited", Limiter = "TokenBucket", PermitLimit = RateLimit, Window = "00:00:01" } },
            },
        }));
        var edge = McpEdgeApplication.Build(["--config", configFile, "--urls", "http://127.0.0.1:0"]);
        await edge.StartAsync();
        return new SelfHosted(replicas, edge, configFile, new Uri(Address(edge)));
    }

    /// <summary>
    /// The edge's <c>mcpedge_failover_retries_total</c> for server <paramref name="server"/> from its
    /// <c>/metrics</c>, summed over replicas: requests it sent again after a refused connect, by the
    /// retry's result.
    /// </summary>
    public async Task<(long Ok, long Failed)> FailoverRetriesAsync(HttpClient client, string server, CancellationToken cancellation = default)
    {
        var text = await client.GetStringAsync(new Uri(EdgeBase, "/metrics"), cancellation);
        long ok = 0, failed = 0;
        foreach (var line in text.Split('\n'))
        {
            // mcpedge_failover_retries_total{mcp_server="sample",mcpedge_replica="…",result="ok"} 2 [timestamp]
            if (!line.StartsWith("mcpedge_failover_retries_total{", StringComparison.Ordinal) || !line.Contains($"mcp_server=\"{server}\"", StringComparison.Ordinal))
            {
                continue;
            }
            var value = (long)double.Parse(line[(line.IndexOf('}') + 2)..].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            if (line.Contains("result=\"ok\"", StringComparison.Ordinal))
            {
                ok += value;
            }
            else
            {
                failed += value;
            }
        }
        return (ok, failed);
    }

    /// <summary>Stops replica <paramref name="index"/> (its port then refuses connections).</summary>
    public Task StopReplicaAsync(int index) => _replicas[index].StopAsync();

    private static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _edge.StopAsync();
        await _edge.DisposeAsync();
        foreach (var replica in _replicas)
        {
            await replica.StopAsync();
            await replica.DisposeAsync();
        }
        Directory.Delete(Path.GetDirectoryName(_configFile)!, recursive: true);
    }
}
