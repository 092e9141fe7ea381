using System.Security.Cryptography;
using System.Text.Json;

namespace McpEdge.LoadTests.Targets;

/// <summary>
/// One way to reach the sample replicas: its <c>stateless</c> URL (any of three replicas) and its
/// <c>single</c> URL (replica 0 only, for session traffic); the PIDs of the proxy (0 for direct) and of
/// the sample-server process behind it, for CPU per request (<see cref="ProcessCpu"/>).
/// </summary>
public sealed record ComparisonTarget(string Name, Uri Stateless, Uri Single, int ProxyPid, int UpstreamPid);

/// <summary>
/// The processes a comparison runs against, each its own OS process pinned to CPU 1: one sample
/// server process with three replicas (2026-07-28 stateless on), and in front of them McpEdge (every
/// MCP feature on: JSON-RPC parse, sealed sessions, LeastResponseTime, health probes, metrics; the
/// access log off, as nginx's), the same edge speaking cleartext HTTP/2 to a second set of three
/// replicas that accept only that (<c>edge-h2c</c>: nginx cannot proxy to those), plain YARP (<see cref="PlainYarp"/>), and nginx when installed
/// (consistent hash on <c>Mcp-Session-Id</c>, buffering off, upstream keep-alive, access log off:
/// the configuration infra teams write). Ended, by PID, on dispose.
/// </summary>
public sealed class Comparison : IDisposable
{
    private readonly List<ChildProcess> _processes = [];
    private readonly List<string> _files = [];

    /// <summary>direct, edge, edge-h2c, yarp and (when installed) nginx.</summary>
    public List<ComparisonTarget> Targets { get; } = [];

    /// <summary>Starts every process (≤ 30 s each); <paramref name="edgeEnvironment"/> is added to the edge's environment only.</summary>
    public static async Task<Comparison> StartAsync(bool withNginx = true, IReadOnlyDictionary<string, string>? edgeEnvironment = null)
    {
        var comparison = new Comparison();
        try
        {
            await comparison.StartAllAsync(withNginx, edgeEnvironment);
            return comparison;
        }
        catch
        {
            comparison.Dispose();
            throw;
        }
    }

    private async Task StartAllAsync(bool withNginx, IReadOnlyDictionary<string, string>? edgeEnvironment)
    {
        var here = AppContext.BaseDirectory;
        var ports = Enumerable.Range(0, 3).Select(_ => ChildProcess.FreePort()).ToArray();
        var replicas = ports.Select(p => $"http://127.0.0.1:{p}").ToArray();
        var sample = await ChildProcess.StartAsync("sample replicas", "dotnet",
            [Path.Combine(here, "McpEdge.SampleServer.dll"), "--urls", string.Join(';', replicas), "--stateless", "true"], new Uri(replicas[^1] + "/mcp"));
        _processes.Add(sample);
        Targets.Add(new ComparisonTarget("direct", new Uri(replicas[0] + "/mcp"), new Uri(replicas[0] + "/mcp"), 0, sample.Id));

        Targets.Add(await StartEdgeAsync("edge", replicas, sample.Id, "auto", edgeEnvironment));

        // The same edge speaking cleartext HTTP/2 (UpstreamHttpVersion "2") to three more replicas that accept only that.
        var h2cReplicas = Enumerable.Range(0, 3).Select(_ => $"http://127.0.0.1:{ChildProcess.FreePort()}").ToArray();
        var h2cSample = await ChildProcess.StartAsync("sample replicas (h2c)", "dotnet",
            [Path.Combine(here, "McpEdge.SampleServer.dll"), "--urls", string.Join(';', h2cReplicas), "--stateless", "true", "--Kestrel:EndpointDefaults:Protocols=Http2"],
            new Uri(h2cReplicas[^1] + "/mcp"));
        _processes.Add(h2cSample);
        Targets.Add(await StartEdgeAsync("edge-h2c", h2cReplicas, h2cSample.Id, "2", edgeEnvironment));

        var yarp = $"http://127.0.0.1:{ChildProcess.FreePort()}";
        var plainYarp = await ChildProcess.StartAsync("plain yarp", "dotnet",
            [Path.Combine(here, "McpEdge.LoadTests.dll"), "plain-yarp", "--urls", yarp, "--upstreams", string.Join(',', replicas)], new Uri(yarp + "/mcp/sample"));
        _processes.Add(plainYarp);
        Targets.Add(new ComparisonTarget("yarp", new Uri(yarp + "/mcp/sample"), new Uri(yarp + "/mcp/single"), plainYarp.Id, sample.Id));

        if (withNginx && File.Exists("/usr/sbin/nginx"))
        {
            var nginx = $"127.0.0.1:{ChildProcess.FreePort()}";
            var prefix = Directory.CreateTempSubdirectory("mcpedge-nginx-").FullName;
            _files.Add(prefix);
            var conf = Path.Combine(prefix, "nginx.conf");
            await File.WriteAllTextAsync(conf, SampleNginxConfig(nginx, ports, prefix));
            var nginxProcess = await ChildProcess.StartAsync("nginx", "/usr/sbin/nginx", ["-p", prefix, "-c", conf, "-e", Path.Combine(prefix, "error.log")],
                new Uri($"http://{nginx}/mcp/sample"));
            _processes.Add(nginxProcess);
            // Its master's PID: ProcessCpu counts the worker under it.
            Targets.Add(new ComparisonTarget("nginx", new Uri($"http://{nginx}/mcp/sample"), new Uri($"http://{nginx}/mcp/single"), nginxProcess.Id, sample.Id));
        }
    }

    /// <summary>McpEdge in front of <paramref name="replicas"/> (<c>sample</c>: all three; <c>single</c>: the first), speaking <paramref name="httpVersion"/> to them.</summary>
    private async Task<ComparisonTarget> StartEdgeAsync(string name, string[] replicas, int replicasPid, string httpVersion, IReadOnlyDictionary<string, string>? edgeEnvironment)
    {
        // In a directory of its own: the edge watches its configuration file's directory, subdirectories included.
        var scratch = Directory.CreateTempSubdirectory("mcpedge-compare-").FullName;
        _files.Add(scratch);
        var config = Path.Combine(scratch, "mcpedge.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
        {
            Logging = new { LogLevel = new Dictionary<string, string> { ["Default"] = "Warning", ["McpEdge.Access"] = "Warning" } },
            McpEdge = new
            {
                Servers = new
                {
                    sample = new { Upstreams = replicas.Select(r => r + "/mcp").ToArray(), UpstreamHttpVersion = httpVersion },
                    single = new { Upstreams = new[] { replicas[0] + "/mcp" }, UpstreamHttpVersion = httpVersion },
                },
                Sessions = new { Keys = new[] { Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) } },
            },
        }));
        var edge = $"http://127.0.0.1:{ChildProcess.FreePort()}";
        var process = await ChildProcess.StartAsync(name, "dotnet", [Path.Combine(AppContext.BaseDirectory, "McpEdge.dll"), "--config", config, "--urls", edge], new Uri(edge + "/healthz"), edgeEnvironment);
        _processes.Add(process);
        return new ComparisonTarget(name, new Uri(edge + "/mcp/sample"), new Uri(edge + "/mcp/single"), process.Id, replicasPid);
    }

    /// <summary>nginx in front of the sample replicas: consistent hash on <c>Mcp-Session-Id</c> for <c>/mcp/sample</c>, the first replica for <c>/mcp/single</c>.</summary>
    private static string SampleNginxConfig(string listen, int[] ports, string prefix) => NginxConfig.Build(prefix, listen,
        upstreams: $$"""
              upstream mcp_sample {
                hash $http_mcp_session_id consistent;
            {{string.Join("\n", ports.Select(p => $"    server 127.0.0.1:{p};"))}}
                keepalive 64;
              }
              upstream mcp_single {
                server 127.0.0.1:{{ports[0]}};
                keepalive 64;
              }
            """,
        server: """
                proxy_request_buffering off;
                location = /mcp/sample { proxy_pass http://mcp_sample/mcp; }
                location = /mcp/single { proxy_pass http://mcp_single/mcp; }
            """);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes))
        {
            process.Dispose();
        }
        foreach (var file in _files)
        {
            if (Directory.Exists(file))
            {
                Directory.Delete(file, recursive: true);
            }
            else
            {
                File.Delete(file);
            }
        }
    }
}
