using System.Net;
using System.Security.Cryptography.X509Certificates;
using McpEdge.Configuration;
using McpEdge.Security;
using Microsoft.Extensions.DependencyInjection;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.Integration;

/// <summary>
/// The edge's own listener, configured the ASP.NET Core way (the <c>Kestrel</c> section, README
/// "Listeners: TLS and HTTP/2"): TLS from PEM files with HTTP/2 by ALPN (RFC 9113 §3.2, RFC 7301),
/// and cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3), each carrying a session and its
/// progress stream (MCP 2025-11-25, basic/transports.mdx, "Streamable HTTP").
/// </summary>
public class ListenerTests
{
    [Fact]
    public async Task KestrelTlsListener_FromPemFiles_NegotiatesHttp2ByAlpn_AndStillServesHttp11_AndRelaysAProgressStream()
    {
        await using var sample = await TestSampleServer.StartAsync();
        using var certificates = new TestCertificates();
        certificates.IssueAndWrite("edge");
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: [sample.Url]) } },
            "--Kestrel:Endpoints:https:Url=https://127.0.0.1:0",
            $"--Kestrel:Endpoints:https:Certificate:Path={certificates.CertificateFile}",
            $"--Kestrel:Endpoints:https:Certificate:KeyPath={certificates.KeyFile}");
        Assert.Equal("https", edge.BaseAddress.Scheme);
        using var client = new HttpClient(certificates.TrustingOnlyTheRoot()) { BaseAddress = edge.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

        // HTTP/1.1 on the same listener, for clients without ALPN h2.
        using (var http11 = await client.SendAsync(Exactly(HttpVersion.Version11, Mcp.Post("/mcp/s", Mcp.Initialize))))
        {
            Assert.Equal(HttpStatusCode.OK, http11.StatusCode);
            Assert.Equal(HttpVersion.Version11, http11.Version);
        }

        var session = await InitializeAsync(client, HttpVersion.Version20);
        using var stream = await StartProgressAsync(client, HttpVersion.Version20, session, steps: 5);
        using var events = new SseReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal([1, 2, 3, 4, 5], await ReadProgressAsync(events, steps: 5));
    }

    [Fact]
    public async Task CleartextListener_RefusesPriorKnowledgeByDefault_AndAcceptsItWithProtocolsHttp2()
    {
        await using var sample = await TestSampleServer.StartAsync();
        var server = new { Servers = new { s = Mcp.Server(upstreams: [sample.Url]) } };

        // The default cleartext listener (Http1AndHttp2) has no ALPN to choose by, so it speaks HTTP/1.1:
        // a client's HTTP/2 connection preface fails there.
        await using (var byDefault = await TestEdge.StartAsync(server))
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => byDefault.Client.SendAsync(Exactly(HttpVersion.Version20, Mcp.Post("/mcp/s", Mcp.Call(1, "tools/list")))));
        }

        await using var h2c = await TestEdge.StartAsync(server, "--Kestrel:EndpointDefaults:Protocols=Http2");
        var session = await InitializeAsync(h2c.Client, HttpVersion.Version20);
        using var stream = await StartProgressAsync(h2c.Client, HttpVersion.Version20, session, steps: 5);
        using var events = new SseReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal([1, 2, 3, 4, 5], await ReadProgressAsync(events, steps: 5));
    }

    [Fact]
    public async Task McpEdgeTls_SwapsTheCertificateInPlace_NewConnectionsGetTheNewOneWithItsChain_AndAnOpenStreamCarriesOn()
    {
        await using var sample = await TestSampleServer.StartAsync();
        using var certificates = new TestCertificates();
        var first = certificates.IssueAndWrite("edge-1");
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new { s = Mcp.Server(upstreams: [sample.Url]) },
            // Long enough that only the test's own Check() looks at the files.
            Tls = new { certificates.CertificateFile, certificates.KeyFile, CheckInterval = "01:00:00" },
        }, "--urls", "https://127.0.0.1:0");
        var reloader = edge.Services.GetRequiredService<TlsCertificateReloader>();

        // A session and a stream on a connection made with the first certificate. The handler trusts
        // only the test root: without the intermediate the edge sends, the handshake would fail.
        var seenByOld = new List<string>();
        using var oldClient = new HttpClient(certificates.TrustingOnlyTheRoot(c => seenByOld.Add(c.Subject))) { BaseAddress = edge.BaseAddress };
        var session = await InitializeAsync(oldClient, HttpVersion.Version20);
        using var stream = await StartProgressAsync(oldClient, HttpVersion.Version20, session, steps: 20);
        using var events = new SseReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal([1, 2], await ReadProgressAsync(events, steps: 20, stopAfter: 2));

        Assert.False(reloader.Check()); // nothing changed
        var second = certificates.IssueAndWrite("edge-2");
        Assert.True(reloader.Check());
        Assert.Equal(second.Thumbprint, reloader.Certificate!.Thumbprint);

        // A new connection gets the new certificate; the open stream goes on to its result on the old connection.
        var seenByNew = new List<string>();
        using (var newClient = new HttpClient(certificates.TrustingOnlyTheRoot(c => seenByNew.Add(c.Subject))) { BaseAddress = edge.BaseAddress })
        {
            using var metrics = await newClient.GetAsync("/metrics");
            var text = await metrics.Content.ReadAsStringAsync();
            Assert.Contains("mcpedge_tls_certificate_reloads_total{file=\"certificate\",result=\"applied\"} 1", text);
            Assert.Contains("mcpedge_tls_certificate_expiry_seconds", text);
        }
        Assert.Equal([second.Subject], seenByNew);
        Assert.Equal(Enumerable.Range(3, 18), await ReadProgressAsync(events, steps: 20));
        Assert.Equal([first.Subject], seenByOld);
    }

    [Fact]
    public async Task McpEdgeTls_RequiredClientCertificates_OnlyThoseOfTheClientCaGetIn_AndEachNamesItsPrincipal()
    {
        await using var sample = await TestSampleServer.StartAsync();
        using var certificates = new TestCertificates();
        certificates.IssueAndWrite("edge");
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new { s = Mcp.Server(upstreams: [sample.Url]) },
            Tls = new { certificates.CertificateFile, certificates.KeyFile, ClientCertificateMode = "Require", ClientCaFile = certificates.WriteCaBundle() },
        }, "--urls", "https://127.0.0.1:0");

        async Task<HttpStatusCode> InitializeWithAsync(X509Certificate2? clientCertificate)
        {
            var handler = certificates.TrustingOnlyTheRoot();
            if (clientCertificate is not null)
            {
                handler.SslOptions.ClientCertificates = [clientCertificate];
            }
            using var client = new HttpClient(handler) { BaseAddress = edge.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
            using var response = await client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize));
            return response.StatusCode;
        }

        // Issued by the client CA's intermediate, which the client does not send: the bundle supplies it.
        Assert.Equal(HttpStatusCode.OK, await InitializeWithAsync(WithKey(certificates.IssueClient("agent-1"))));
        await Assert.ThrowsAsync<HttpRequestException>(() => InitializeWithAsync(null));
        using var otherCa = new TestCertificates();
        await Assert.ThrowsAsync<HttpRequestException>(() => InitializeWithAsync(WithKey(otherCa.IssueClient("mallory"))));
        // A server certificate of the right CA is not for client authentication either.
        await Assert.ThrowsAsync<HttpRequestException>(() => InitializeWithAsync(WithKey(certificates.Issue("not-a-client"))));

        // Without bearer authentication the certificate's subject is the principal, so a session opens only for its own certificate.
        HttpClient ClientWith(X509Certificate2 certificate)
        {
            var handler = certificates.TrustingOnlyTheRoot();
            handler.SslOptions.ClientCertificates = [certificate];
            return new HttpClient(handler) { BaseAddress = edge.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        }
        using var agent1 = ClientWith(WithKey(certificates.IssueClient("agent-1")));
        using var agent2 = ClientWith(WithKey(certificates.IssueClient("agent-2")));
        string session;
        using (var initialized = await agent1.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize)))
        {
            session = initialized.Headers.GetValues("Mcp-Session-Id").Single();
        }
        using (var own = await agent1.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "tools/list"), session)))
        using (var stolen = await agent2.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "tools/list"), session)))
        {
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, stolen.StatusCode);
        }
    }

    /// <summary>
    /// Tls:ClientCaFile is reloaded: after the bundle is replaced by another CA's, new handshakes take
    /// that CA's client certificates and refuse the old CA's; a bundle that does not load leaves the one in use.
    /// </summary>
    [Fact]
    public async Task McpEdgeTls_ClientCaFile_Reloads_ABrokenBundleLeavesTheOneInUse()
    {
        using var certificates = new TestCertificates();
        certificates.IssueAndWrite("edge");
        var caFile = certificates.WriteCaBundle();
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new { s = Mcp.Server(upstreams: ["http://127.0.0.1:9/mcp"]) },
            Tls = new { certificates.CertificateFile, certificates.KeyFile, ClientCertificateMode = "Require", ClientCaFile = caFile },
        }, "--urls", "https://127.0.0.1:0");
        var reloader = edge.Services.GetRequiredService<TlsCertificateReloader>();
        using var otherCa = new TestCertificates();
        var ours = WithKey(certificates.IssueClient("agent-ours"));
        var theirs = WithKey(otherCa.IssueClient("agent-theirs"));

        Task<bool> GetsInAsync(X509Certificate2 clientCertificate) => GetsInWithAsync(certificates, edge.BaseAddress, clientCertificate);
        void ReplaceCaFile(string pem)
        {
            File.WriteAllText(caFile + ".new", pem);
            File.Move(caFile + ".new", caFile, overwrite: true);
        }

        Assert.True(await GetsInAsync(ours));
        Assert.False(await GetsInAsync(theirs));
        Assert.False(reloader.Check()); // nothing changed

        ReplaceCaFile(File.ReadAllText(otherCa.WriteCaBundle()));
        Assert.True(reloader.Check()); // what the timer does every Tls:CheckInterval
        Assert.True(await GetsInAsync(theirs));
        Assert.False(await GetsInAsync(ours));

        ReplaceCaFile("not a certificate\n");
        Assert.False(reloader.Check());
        Assert.True(await GetsInAsync(theirs));
        Assert.False(await GetsInAsync(ours));
    }

    /// <summary>
    /// Tls:ClientCrlFile: a client certificate its issuer's CRL lists fails the handshake while the
    /// others get in; a new CRL file applies to new handshakes at the next check, one that does not
    /// load leaves the lists in use, and a CRL the client CA did not sign stops the start.
    /// </summary>
    [Fact]
    public async Task McpEdgeTls_ClientCrlFile_RefusesRevokedCertificates_AndReloads()
    {
        using var certificates = new TestCertificates();
        certificates.IssueAndWrite("edge");
        var agent1 = WithKey(certificates.IssueClient("agent-1"));
        var agent2 = WithKey(certificates.IssueClient("agent-2"));
        var crlFile = certificates.WriteCrlFile(certificates.Crl(ofRoot: true, []) + certificates.Crl(ofRoot: false, [agent1]));
        var tls = new
        {
            certificates.CertificateFile, certificates.KeyFile, ClientCertificateMode = "Require",
            ClientCaFile = certificates.WriteCaBundle(), ClientCrlFile = crlFile,
        };
        await using (var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: ["http://127.0.0.1:9/mcp"]) }, Tls = tls }, "--urls", "https://127.0.0.1:0"))
        {
            var reloader = edge.Services.GetRequiredService<TlsCertificateReloader>();
            Assert.False(await GetsInWithAsync(certificates, edge.BaseAddress, agent1));
            Assert.True(await GetsInWithAsync(certificates, edge.BaseAddress, agent2));

            certificates.WriteCrlFile(certificates.Crl(ofRoot: true, []) + certificates.Crl(ofRoot: false, [agent2]));
            Assert.True(reloader.Check()); // what the timer does every Tls:CheckInterval
            Assert.True(await GetsInWithAsync(certificates, edge.BaseAddress, agent1));
            Assert.False(await GetsInWithAsync(certificates, edge.BaseAddress, agent2));

            certificates.WriteCrlFile("not a CRL\n");
            Assert.False(reloader.Check());
            Assert.True(await GetsInWithAsync(certificates, edge.BaseAddress, agent1));
            Assert.False(await GetsInWithAsync(certificates, edge.BaseAddress, agent2));

            var handler = certificates.TrustingOnlyTheRoot();
            handler.SslOptions.ClientCertificates = [agent1];
            using var client = new HttpClient(handler) { BaseAddress = edge.BaseAddress };
            var metrics = await client.GetStringAsync("/metrics");
            Assert.Matches("""mcpedge_tls_client_certificate_refusals_total\{[^}]*reason="revoked"[^}]*\} [1-9]""", metrics); // HttpClient tries a refused handshake more than once
            Assert.Matches("""mcpedge_tls_certificate_reloads_total\{[^}]*file="client_crl"[^}]*result="rejected"[^}]*\} 1""", metrics);
            Assert.Matches(@"mcpedge_tls_client_crl_next_update_seconds 3[0-9]{3}(\.|\s)", metrics); // an hour ahead, less a few seconds
        }

        using var impostor = new TestCertificates();
        certificates.WriteCrlFile(certificates.Crl(ofRoot: true, []) + impostor.Crl(ofRoot: false, []));
        var refused = await Assert.ThrowsAsync<McpEdgeConfigurationException>(() => TestEdge.StartAsync(
            new { Servers = new { s = Mcp.Server(upstreams: ["http://127.0.0.1:9/mcp"]) }, Tls = tls }, "--urls", "https://127.0.0.1:0"));
        Assert.Equal($"McpEdge:Tls:ClientCrlFile: '{crlFile}': CRL 2 of the file (issuer CN=McpEdge test intermediate) is not signed by the key of the client CA of that name, or that CA's key usage does not allow signing CRLs.", Assert.Single(refused.Errors));
    }

    /// <summary>Whether a TLS handshake with <paramref name="clientCertificate"/> succeeds and <c>/healthz</c> answers.</summary>
    private static async Task<bool> GetsInWithAsync(TestCertificates certificates, Uri edge, X509Certificate2 clientCertificate)
    {
        var handler = certificates.TrustingOnlyTheRoot();
        handler.SslOptions.ClientCertificates = [clientCertificate];
        using var client = new HttpClient(handler) { BaseAddress = edge, Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            using var response = await client.GetAsync("/healthz");
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false; // the handshake failed
        }
    }

    private static X509Certificate2 WithKey((X509Certificate2 Certificate, System.Security.Cryptography.ECDsa Key) issued) =>
        X509CertificateLoader.LoadPkcs12(issued.Certificate.CopyWithPrivateKey(issued.Key).Export(X509ContentType.Pfx), null);

    [Fact]
    public async Task McpEdgeTls_OnItsTimer_KeepsTheCertificateWhileARenewalIsHalfWritten_ThenTakesTheWholePair()
    {
        using var certificates = new TestCertificates();
        var first = certificates.IssueAndWrite("edge-1");
        await using var edge = await TestEdge.StartAsync(new
        {
            Servers = new { s = Mcp.Server(upstreams: ["http://127.0.0.1:9/mcp"]) },
            Tls = new { certificates.CertificateFile, certificates.KeyFile, CheckInterval = "00:00:01" },
        }, "--urls", "https://127.0.0.1:0");
        var reloader = edge.Services.GetRequiredService<TlsCertificateReloader>();
        var rejected = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reloaded = new TaskCompletionSource<X509Certificate2>(TaskCreationOptions.RunContinuationsAsynchronously);
        reloader.Rejected += reason => rejected.TrySetResult(reason);
        reloader.Reloaded += certificate => reloaded.TrySetResult(certificate);

        // The renewal's certificate has arrived, its key not yet.
        var (second, secondKey) = certificates.Issue("edge-2");
        certificates.WriteCertificate(second);
        Assert.Contains("private key", await rejected.Task.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(first.Subject, await PresentedAsync(certificates, edge.BaseAddress));

        certificates.WriteKey(secondKey);
        Assert.Equal(second.Thumbprint, (await reloaded.Task.WaitAsync(TimeSpan.FromSeconds(20))).Thumbprint);
        Assert.Equal(second.Subject, await PresentedAsync(certificates, edge.BaseAddress));
    }

    [Fact]
    public async Task McpEdgeTls_StopsTheStart_WhenTheKeyIsNotTheCertificates_OrKestrelHasACertificateToo_OrAFileIsMissing()
    {
        using var certificates = new TestCertificates();
        certificates.IssueAndWrite("edge-1");
        var servers = new { s = Mcp.Server(upstreams: ["http://127.0.0.1:9/mcp"]) };

        var bothPlaces = await Assert.ThrowsAsync<McpEdgeConfigurationException>(() => TestEdge.StartAsync(
            new { Servers = servers, Tls = new { certificates.CertificateFile, certificates.KeyFile } },
            "--Kestrel:Endpoints:https:Url=https://127.0.0.1:0", $"--Kestrel:Endpoints:https:Certificate:Path={certificates.CertificateFile}"));
        Assert.Contains("Kestrel:Endpoints:https:Certificate: McpEdge:Tls gives every HTTPS listener its certificate", Assert.Single(bothPlaces.Errors));

        var withoutKey = await Assert.ThrowsAsync<McpEdgeConfigurationException>(() => TestEdge.StartAsync(
            new { Servers = servers, Tls = new { certificates.CertificateFile } }));
        Assert.Contains("McpEdge:Tls: CertificateFile and KeyFile go together", Assert.Single(withoutKey.Errors));

        var missing = await Assert.ThrowsAsync<McpEdgeConfigurationException>(() => TestEdge.StartAsync(
            new { Servers = servers, Tls = new { CertificateFile = Path.Combine(certificates.Directory, "absent.crt"), certificates.KeyFile } }));
        Assert.Contains("McpEdge:Tls:CertificateFile: the file", Assert.Single(missing.Errors));

        var (other, otherKey) = certificates.Issue("edge-2");
        certificates.WriteKey(otherKey);
        var mismatched = await Assert.ThrowsAsync<McpEdgeConfigurationException>(() => TestEdge.StartAsync(
            new { Servers = servers, Tls = new { certificates.CertificateFile, certificates.KeyFile } }, "--urls", "https://127.0.0.1:0"));
        Assert.Contains("McpEdge:Tls: the key file does not hold the unencrypted private key of the certificate CN=edge-1", Assert.Single(mismatched.Errors));
    }

    [Fact]
    public async Task McpEdgeTls_EncryptedKeyWithKeyPasswordFile_Serves_ReloadsKeyAndPasswordTogether_AndNamesWhatIsWrong()
    {
        using var certificates = new TestCertificates();
        var (first, firstKey) = certificates.Issue("edge-1");
        certificates.WriteCertificate(first);
        certificates.WriteEncryptedKey(firstKey, "password one");
        var servers = new { s = Mcp.Server(upstreams: ["http://127.0.0.1:9/mcp"]) };
        var tls = new { certificates.CertificateFile, certificates.KeyFile, certificates.PasswordFile, CheckInterval = "01:00:00" };
        await using (var edge = await TestEdge.StartAsync(new { Servers = servers, Tls = new { tls.CertificateFile, tls.KeyFile, KeyPasswordFile = tls.PasswordFile, tls.CheckInterval } },
            "--urls", "https://127.0.0.1:0"))
        {
            var reloader = edge.Services.GetRequiredService<TlsCertificateReloader>();
            Assert.Equal("CN=edge-1", await PresentedAsync(certificates, edge.BaseAddress));

            // A renewal whose key comes with a new password: applied once both files have changed.
            var (second, secondKey) = certificates.Issue("edge-2");
            certificates.WriteCertificate(second);
            certificates.WriteEncryptedKey(secondKey, "password two", filePassword: "password one");
            Assert.False(reloader.Check()); // the new key with the old password: rejected, edge-1 stays
            Assert.Equal("CN=edge-1", await PresentedAsync(certificates, edge.BaseAddress));
            certificates.WriteEncryptedKey(secondKey, "password two");
            Assert.True(reloader.Check());
            Assert.Equal("CN=edge-2", await PresentedAsync(certificates, edge.BaseAddress));
        }

        async Task<string> StartErrorAsync(object section) =>
            Assert.Single((await Assert.ThrowsAsync<McpEdgeConfigurationException>(() => TestEdge.StartAsync(new { Servers = servers, Tls = section }, "--urls", "https://127.0.0.1:0"))).Errors);
        Assert.Contains("the key file holds an encrypted private key (ENCRYPTED PRIVATE KEY); give its password in KeyPasswordFile",
            await StartErrorAsync(new { tls.CertificateFile, tls.KeyFile }));
        certificates.WriteEncryptedKey(certificates.Issue("edge-3").Key, "right", filePassword: "wrong");
        Assert.Contains("encrypted with the password of the password file",
            await StartErrorAsync(new { tls.CertificateFile, tls.KeyFile, KeyPasswordFile = tls.PasswordFile }));
        File.WriteAllText(certificates.KeyFile, "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END EC PRIVATE KEY-----\n");
        Assert.Contains("OpenSSL's traditional encrypted format (Proc-Type: 4,ENCRYPTED), which .NET cannot read; convert it",
            await StartErrorAsync(new { tls.CertificateFile, tls.KeyFile, KeyPasswordFile = tls.PasswordFile }));
        certificates.WriteKey(certificates.Issue("edge-4").Key);
        Assert.Contains("KeyPasswordFile is set, but the key file holds no encrypted private key",
            await StartErrorAsync(new { tls.CertificateFile, tls.KeyFile, KeyPasswordFile = tls.PasswordFile }));
        Assert.Contains("McpEdge:Tls:KeyPasswordFile: the password of an encrypted KeyFile; set KeyFile",
            await StartErrorAsync(new { KeyPasswordFile = tls.PasswordFile }));
    }

    /// <summary>The subject of the certificate a new TLS connection to <paramref name="edge"/> is given.</summary>
    private static async Task<string> PresentedAsync(TestCertificates certificates, Uri edge)
    {
        var seen = new List<string>();
        using var client = new HttpClient(certificates.TrustingOnlyTheRoot(c => seen.Add(c.Subject))) { BaseAddress = edge };
        using var response = await client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return Assert.Single(seen);
    }

    /// <summary>initialize, then notifications/initialized, over <paramref name="version"/>; returns the session id.</summary>
    private static async Task<string> InitializeAsync(HttpClient client, Version version)
    {
        using var initialized = await client.SendAsync(Exactly(version, Mcp.Post("/mcp/s", Mcp.Initialize)));
        Assert.Equal(HttpStatusCode.OK, initialized.StatusCode);
        Assert.Equal(version, initialized.Version);
        var session = initialized.Headers.GetValues("Mcp-Session-Id").Single();
        using var ack = await client.SendAsync(Exactly(version, Mcp.Post("/mcp/s", """{"jsonrpc":"2.0","method":"notifications/initialized"}""", session)));
        Assert.Equal(HttpStatusCode.Accepted, ack.StatusCode);
        return session;
    }

    /// <summary>A tools/call of the sample server's <c>progress</c> tool (one notification every 50 ms), answered as an SSE stream over <paramref name="version"/>.</summary>
    private static async Task<HttpResponseMessage> StartProgressAsync(HttpClient client, Version version, string session, int steps)
    {
        var call = await client.SendAsync(
            Exactly(version, Mcp.Post("/mcp/s", $$$$"""{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"progress","arguments":{"steps":{{{{steps}}}},"delayMs":50},"_meta":{"progressToken":"p"}}}""", session)),
            HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(version, call.Version);
        Assert.Equal("text/event-stream", call.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no", call.Headers.GetValues("X-Accel-Buffering").Single());
        return call;
    }

    /// <summary>Reads progress values until the result (which must say all steps were done), or until <paramref name="stopAfter"/> values.</summary>
    private static async Task<List<int>> ReadProgressAsync(SseReader events, int steps, int? stopAfter = null)
    {
        var progress = new List<int>();
        while (progress.Count != stopAfter && await events.NextDataAsync(TimeSpan.FromSeconds(30)) is { } data)
        {
            using var message = JsonDocument.Parse(data.Length == 0 ? "{}" : data);
            if (message.RootElement.TryGetProperty("method", out var method) && method.GetString() == "notifications/progress")
            {
                progress.Add(message.RootElement.GetProperty("params").GetProperty("progress").GetInt32());
            }
            else if (message.RootElement.TryGetProperty("result", out var result))
            {
                Assert.Contains($"{steps} steps done", result.GetRawText());
                break;
            }
        }
        return progress;
    }

    private static HttpRequestMessage Exactly(Version version, HttpRequestMessage request)
    {
        request.Version = version;
        request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        return request;
    }
}
