using System.Net;
using System.Net.Sockets;
using McpEdge.Tests.EndToEnd;
using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.Configuration;

/// <summary>
/// <c>--check</c> (the real process): the configuration is validated as start-up would validate it,
/// YARP's own checks included, and described; exit code 0 when valid, 2 with every error when not;
/// nothing is served either way.
/// </summary>
public class ConfigurationCheckTests
{
    [Fact]
    public async Task ValidConfiguration_Exit0_DescribesEachServer_AndListensOnNothing()
    {
        var port = PeerProcess.FreePort();
        var urls = $"http://127.0.0.1:{port}";
        await using var edge = await EdgeProcess.LaunchAsync(new
        {
            Servers = new
            {
                github = Mcp.Server("LeastResponseTime", upstreams: ["http://127.0.0.1:9/mcp", "http://127.0.0.1:10/mcp"]),
                files = Mcp.Server(upstreams: "http://127.0.0.1:11/mcp", authentication: new { Issuer = "https://auth.example.com", Resource = "https://mcp.example.com/mcp/files" }),
            },
            Sessions = new { Keys = new[] { "a session key of at least thirty-two characters" } },
        }, urls, "--check");

        var exitCode = await edge.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, exitCode);
        Assert.Contains(edge.Output, l => l.StartsWith("McpEdge configuration OK: ", StringComparison.Ordinal));
        Assert.Contains($"listeners: {urls}", edge.Output);
        Assert.Contains("sessions: sealed with the configured keys", edge.Output);
        Assert.Contains(edge.Output, l => l.StartsWith("admin listener: none", StringComparison.Ordinal));
        Assert.Contains("server files: /mcp/files → 1 replica (streamable-http, RoundRobin, probes off, bearer tokens of https://auth.example.com)", edge.Output);
        Assert.Contains("server github: /mcp/github → 2 replicas (streamable-http, LeastResponseTime, probes off, no token needed)", edge.Output);
        using var client = new TcpClient();
        await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, port)); // never listened
    }

    [Fact]
    public async Task InvalidConfiguration_Exit2_WithEveryError()
    {
        await using var edge = await EdgeProcess.LaunchAsync(new
        {
            Servers = new
            {
                a = new { Upstreams = new[] { "ftp://nope" } },
                b = new { Upstreams = new[] { "http://127.0.0.1:9/mcp" }, LoadBalancingPolicy = "Fastest" },
            },
        }, $"http://127.0.0.1:{PeerProcess.FreePort()}", "--check");

        var exitCode = await edge.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, exitCode);
        Assert.Contains("Invalid McpEdge configuration:", edge.Output);
        Assert.Contains(edge.Output, l => l.Contains("McpEdge:Servers:a:Upstreams:0: 'ftp://nope'", StringComparison.Ordinal));
        Assert.Contains(edge.Output, l => l.Contains("McpEdge:Servers:b:LoadBalancingPolicy: 'Fastest'", StringComparison.Ordinal));
        Assert.DoesNotContain(edge.Output, l => l.StartsWith("McpEdge configuration OK", StringComparison.Ordinal));
    }
}
