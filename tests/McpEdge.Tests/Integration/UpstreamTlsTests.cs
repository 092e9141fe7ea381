using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using McpEdge.Configuration;
using McpEdge.Forwarder;
using McpEdge.Hosting;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Tests.Integration;

/// <summary>
/// <c>Servers:{name}:UpstreamTls</c> on real TLS over 127.0.0.1: replicas whose certificates a
/// private CA issued (the test CA, which the machine does not trust), replicas that require a client
/// certificate, renewed files, and the health probes over the same TLS.
/// </summary>
public sealed class UpstreamTlsTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly TestCertificates _serverCa = new();
    private readonly TestCertificates _clientCa = new();

    public void Dispose()
    {
        _serverCa.Dispose();
        _clientCa.Dispose();
    }

    /// <summary>An https replica with a certificate of the test CA (sent with its intermediate) answering every POST with a JSON-RPC result for its id; <paramref name="clientSubjects"/> records the client certificate of each request (with <c>Connection: close</c>, one connection per request).</summary>
    private Task<TestUpstream> ReplicaAsync(ConcurrentQueue<string>? clientSubjects = null)
    {
        _serverCa.IssueAndWrite("upstream");
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(_serverCa.CertificateFile);
        var certificate = X509Certificate2.CreateFromPemFile(_serverCa.CertificateFile, _serverCa.KeyFile);
        return TestUpstream.StartAsync(async (context, body) =>
        {
            if (clientSubjects is not null)
            {
                clientSubjects.Enqueue(context.Connection.ClientCertificate?.Subject ?? "none");
                context.Response.Headers.Connection = "close";
            }
            // The request's own id, so the probes' server/discover counts as answered.
            var id = body.Length > 0 ? System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("id").GetRawText() : "null";
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"jsonrpc":"2.0","id":""" + id + ""","result":{}}""");
        }, https: https =>
        {
            https.ServerCertificate = certificate;
            https.ServerCertificateChain = new X509Certificate2Collection(all.Skip(1).ToArray());
            if (clientSubjects is not null)
            {
                https.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate;
                https.AllowAnyClientCertificate();
            }
        });
    }

    private static async Task<HttpStatusCode> PingAsync(TestEdge edge, string server)
    {
        using var response = await edge.Client.SendAsync(Mcp.Post($"/mcp/{server}", Mcp.Call(1, "ping")));
        return response.StatusCode;
    }

    [Fact]
    public async Task PrivateCa_TrustedThroughCaFile_NotWithoutIt()
    {
        await using var replica = await ReplicaAsync();
        var ca = _serverCa.WriteRoot();
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new Dictionary<string, object>
            {
                ["trusting"] = Mcp.Server(upstreamTls: new { CaFile = ca }, upstreams: replica.Url + "/mcp"),
                ["system"] = Mcp.Server(upstreams: replica.Url + "/mcp"),
            },
        });

        Assert.Equal(HttpStatusCode.OK, await PingAsync(edge, "trusting"));
        Assert.Equal(HttpStatusCode.BadGateway, await PingAsync(edge, "system")); // the machine does not trust the test CA
        Assert.Single(replica.Requests);
    }

    [Fact]
    public async Task ClientCertificate_Presented_AndARenewedOneReachesNewConnections()
    {
        var subjects = new ConcurrentQueue<string>();
        await using var replica = await ReplicaAsync(subjects);
        var ca = _serverCa.WriteRoot();
        var (first, firstKey) = _clientCa.IssueClient("edge-one");
        _clientCa.WriteCertificate(first);
        _clientCa.WriteKey(firstKey);
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new Dictionary<string, object>
            {
                ["mtls"] = Mcp.Server(upstreamTls: new { CaFile = ca, _clientCa.CertificateFile, _clientCa.KeyFile }, upstreams: replica.Url + "/mcp"),
                ["anonymous"] = Mcp.Server(upstreamTls: new { CaFile = ca }, upstreams: replica.Url + "/mcp"),
            },
        });

        Assert.Equal(HttpStatusCode.OK, await PingAsync(edge, "mtls"));
        Assert.Equal(HttpStatusCode.BadGateway, await PingAsync(edge, "anonymous")); // the replica requires a certificate

        var (second, secondKey) = _clientCa.IssueClient("edge-two");
        _clientCa.WriteCertificate(second);
        _clientCa.WriteKey(secondKey);
        var applied = edge.NextConfigApplied();
        Assert.True(edge.Services.GetRequiredService<UpstreamTlsStore>().Check()); // what the timer does every Tls:CheckInterval
        await applied.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, await PingAsync(edge, "mtls"));

        Assert.Equal(["CN=edge-one", "CN=edge-two"], subjects);
    }

    [Fact]
    public async Task ClientCertificate_WithAnEncryptedKeyAndKeyPasswordFile_Presented()
    {
        var subjects = new ConcurrentQueue<string>();
        await using var replica = await ReplicaAsync(subjects);
        var ca = _serverCa.WriteRoot();
        var (client, clientKey) = _clientCa.IssueClient("edge-encrypted");
        _clientCa.WriteCertificate(client);
        _clientCa.WriteEncryptedKey(clientKey, "s3cret");
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new Dictionary<string, object>
            {
                ["mtls"] = Mcp.Server(upstreamTls: new { CaFile = ca, _clientCa.CertificateFile, _clientCa.KeyFile, KeyPasswordFile = _clientCa.PasswordFile }, upstreams: replica.Url + "/mcp"),
            },
        });

        Assert.Equal(HttpStatusCode.OK, await PingAsync(edge, "mtls"));
        Assert.Equal(["CN=edge-encrypted"], subjects);
    }

    [Fact]
    public async Task Probes_UseTheServersTls()
    {
        await using var replica = await ReplicaAsync();
        var ca = _serverCa.WriteRoot();
        var probes = new { Active = new { Enabled = true, Interval = "00:00:01", Timeout = "00:00:02", UnhealthyThreshold = 1, HealthyThreshold = 1 } };
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new Dictionary<string, object>
            {
                ["trusting"] = Mcp.Server(healthCheck: probes, upstreamTls: new { CaFile = ca }, upstreams: replica.Url + "/mcp"),
                ["system"] = Mcp.Server(healthCheck: probes, upstreams: replica.Url + "/mcp"),
            },
        });

        await edge.WaitForActiveHealthAsync("trusting", replica.Url + "/mcp", DestinationHealth.Healthy);
        await edge.WaitForActiveHealthAsync("system", replica.Url + "/mcp", DestinationHealth.Unhealthy);
    }

    [Fact]
    public void FilesThatDoNotLoad_AreAConfigurationErrorAtStartUp()
    {
        var emptyCa = Path.Combine(_serverCa.Directory, "empty.crt");
        File.WriteAllText(emptyCa, "");
        var (server, serverKey) = _clientCa.Issue("not-a-client"); // server authentication only
        _clientCa.WriteCertificate(server);
        _clientCa.WriteKey(serverKey);
        using var other = new TestCertificates();
        var (encrypted, key) = other.IssueClient("encrypted");
        other.WriteCertificate(encrypted);
        other.WriteEncryptedKey(key, "s3cret");
        var (encryptedCertificate, encryptedKey) = (other.CertificateFile, other.KeyFile);
        var config = Path.Combine(Directory.CreateTempSubdirectory("mcpedge-upstream-tls-").FullName, "mcpedge.json");
        File.WriteAllText(config, System.Text.Json.JsonSerializer.Serialize(new
        {
            McpEdge = new
            {
                Servers = new
                {
                    a = new { Upstreams = new[] { "https://127.0.0.1:9/mcp" }, UpstreamTls = new { CaFile = emptyCa } },
                    b = new { Upstreams = new[] { "https://127.0.0.1:9/mcp" }, UpstreamTls = new { _clientCa.CertificateFile, _clientCa.KeyFile } },
                    c = new { Upstreams = new[] { "https://127.0.0.1:9/mcp" }, UpstreamTls = new { CertificateFile = encryptedCertificate, KeyFile = encryptedKey } },
                },
            },
        }));
        try
        {
            var ex = Assert.Throws<McpEdgeConfigurationException>(() => McpEdgeApplication.Build(["--config", config, "--urls", "http://127.0.0.1:0"]));

            Assert.Contains("McpEdge:Servers:a:UpstreamTls:CaFile: the CA file holds no PEM certificate", ex.Message);
            Assert.Contains("McpEdge:Servers:b:UpstreamTls:CertificateFile: the certificate CN=not-a-client is not for client authentication", ex.Message);
            Assert.Contains("McpEdge:Servers:c:UpstreamTls:CertificateFile: the key file holds an encrypted private key (ENCRYPTED PRIVATE KEY); give its password in KeyPasswordFile.", ex.Message);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(config)!, recursive: true);
        }
    }
}
