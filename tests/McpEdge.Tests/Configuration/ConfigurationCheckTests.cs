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
    private static object WithUpstreamHeaders(object server)
    {
        ((Dictionary<string, object>)server)["UpstreamHeaders"] = new Dictionary<string, string> { ["X-Api-Key"] = "s3cr3t-key", ["Authorization"] = "Bearer s3cr3t-token" };
        return server;
    }

    [Fact]
    public async Task ValidConfiguration_Exit0_DescribesEachServer_AndListensOnNothing()
    {
        var port = PeerProcess.FreePort();
        var urls = $"http://127.0.0.1:{port}";
        await using var edge = await EdgeProcess.LaunchAsync(new
        {
            Servers = new
            {
                github = WithUpstreamHeaders(Mcp.Server("LeastResponseTime", upstreams: ["http://127.0.0.1:9/mcp", "http://127.0.0.1:10/mcp"])),
                files = Mcp.Server(upstreams: "http://127.0.0.1:11/mcp", authentication: new { Issuer = "https://auth.example.com", Resource = "https://mcp.example.com/mcp/files" }),
                pods = new { Upstreams = new[] { "http://localhost:12/mcp" }, Discovery = "Dns", HealthCheck = new { Active = new { Enabled = false } } },
            },
            Sessions = new { Keys = new[] { "a session key of at least thirty-two characters" } },
        }, urls, "--check");

        var exitCode = await edge.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, exitCode);
        Assert.Contains(edge.Output, l => l.StartsWith("McpEdge configuration OK: ", StringComparison.Ordinal));
        Assert.Contains($"listeners: {urls}", edge.Output);
        var keyId = McpEdge.Sessions.SessionKeyRing.FromOptions(new McpEdge.Configuration.McpSessionOptions { Keys = ["a session key of at least thirty-two characters"] }).Keys[0].Hex;
        Assert.Contains($"sessions: sealed with key {keyId}; 1 key(s) open ({keyId})", edge.Output);
        Assert.Contains("tls: none (McpEdge:Tls gives no certificate)", edge.Output);
        Assert.Contains(edge.Output, l => l.StartsWith("admin listener: none", StringComparison.Ordinal));
        Assert.Contains("server files: /mcp/files → 1 replica (streamable-http, RoundRobin, probes off, bearer tokens of https://auth.example.com)", edge.Output);
        // The upstream headers by name; their values are credentials and never printed.
        Assert.Contains("server github: /mcp/github → 2 replicas (streamable-http, LeastResponseTime, probes off, no token needed, upstream headers Authorization, X-Api-Key)", edge.Output);
        Assert.DoesNotContain(edge.Output, l => l.Contains("s3cr3t", StringComparison.Ordinal));
        // localhost: /etc/hosts gives 127.0.0.1, and ::1 where the machine has IPv6.
        Assert.Contains(edge.Output, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^server pods: /mcp/pods → the addresses of localhost \(DNS every 00:00:05; [12] now\) \(streamable-http, LeastResponseTime, probes off, no token needed\)$"));
        using var client = new TcpClient();
        await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, port)); // never listened
    }

    /// <summary>The certificate and the client certificate checks are loaded as start-up would load them, CRLs included, and described.</summary>
    [Fact]
    public async Task TlsWithClientCrls_IsLoadedAndDescribed_AndACrlOfAnotherCaFailsTheCheck()
    {
        using var certificates = new TestCertificates();
        var edgeCertificate = certificates.IssueAndWrite("edge");
        var revoked = certificates.IssueClient("gone").Certificate;
        var crlFile = certificates.WriteCrlFile(certificates.Crl(ofRoot: true, []) + certificates.Crl(ofRoot: false, [revoked], nextUpdate: DateTimeOffset.UtcNow.AddHours(1)));
        var config = new
        {
            Servers = new { s = Mcp.Server(upstreams: "http://127.0.0.1:9/mcp") },
            Tls = new
            {
                certificates.CertificateFile, certificates.KeyFile, ClientCertificateMode = "Require",
                ClientCaFile = certificates.WriteCaBundle(), ClientCrlFile = crlFile, ClientCrlCheck = "Leaf",
            },
        };
        await using (var edge = await EdgeProcess.LaunchAsync(config, $"https://127.0.0.1:{PeerProcess.FreePort()}", "--check"))
        {
            Assert.Equal(0, await edge.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains(edge.Output, l => l.StartsWith($"tls: certificate CN=edge, valid until {edgeCertificate.NotAfter.ToUniversalTime():u}, 1 intermediate(s); client certificates Require, chaining to 1 root(s) with 1 other CA certificate(s), revocation checked (Leaf): 2 CRL(s), 1 revoked, earliest nextUpdate ", StringComparison.Ordinal));
        }

        using var otherCa = new TestCertificates();
        certificates.WriteCrlFile(otherCa.Crl(ofRoot: true, []));
        await using (var edge = await EdgeProcess.LaunchAsync(config, $"https://127.0.0.1:{PeerProcess.FreePort()}", "--check"))
        {
            Assert.Equal(2, await edge.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains(edge.Output, l => l.Contains("McpEdge:Tls:ClientCrlFile: '" + crlFile + "': CRL 1 of the file (issuer CN=McpEdge test root) is not signed by the key", StringComparison.Ordinal));
        }
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
