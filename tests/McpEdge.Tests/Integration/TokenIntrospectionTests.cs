using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace McpEdge.Tests.Integration;

/// <summary>
/// Opaque access tokens (Servers:{name}:Authentication:Introspection): the edge asks the
/// authorization server's introspection endpoint (RFC 7662), found in its metadata, as a
/// confidential client, and checks the answer as it checks a JWT (active, issuer, audience, expiry,
/// principal, scopes); an answer is remembered like a validated JWT; an endpoint that cannot be
/// asked is a 503, never a 401.
/// </summary>
public class TokenIntrospectionTests
{
    private const string Resource = "https://mcp.example.com/mcp/s";
    private const string Scope = "mcp:tools";

    private sealed record Setup(TestAuthorizationServer Issuer, TestUpstream Upstream, TestEdge Edge, TestTimeProvider Clock, LogCollector Logs) : IAsyncDisposable
    {
        public async Task<HttpResponseMessage> CallAsync(string token, int id = 1)
        {
            using var request = Mcp.Post("/mcp/s", Mcp.Call(id, "tools/list"));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return await Edge.Client.SendAsync(request);
        }

        public async ValueTask DisposeAsync()
        {
            await Edge.DisposeAsync();
            await Upstream.DisposeAsync();
            await Issuer.DisposeAsync();
        }
    }

    /// <param name="secret">The client secret the edge sends (default: the one the server takes).</param>
    /// <param name="maxConcurrent">Introspection:MaxConcurrent.</param>
    /// <param name="introspection">The whole Introspection section instead (the client id is the server's).</param>
    /// <param name="testClock">False: the edge keeps the system clock (its client assertions are checked against the real time).</param>
    private static async Task<Setup> StartAsync(string? secret = null, int maxConcurrent = 64, Func<TestAuthorizationServer, object>? introspection = null, bool testClock = true)
    {
        var issuer = await TestAuthorizationServer.StartAsync();
        var upstream = await TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } }));
        var clock = new TestTimeProvider();
        var logs = new LogCollector(LogLevel.Warning);
        var edge = await TestEdge.StartAsync(
            new
            {
                Servers = new
                {
                    s = Mcp.Server(upstreams: upstream.Url + "/mcp", authentication: new
                    {
                        Issuer = issuer.Issuer, Resource, Scopes = new[] { Scope }, RequireHttpsMetadata = false,
                        Introspection = introspection?.Invoke(issuer)
                            ?? new { ClientId = issuer.IntrospectionClient.Id, ClientSecret = secret ?? issuer.IntrospectionClient.Secret, MaxConcurrent = maxConcurrent },
                    }),
                },
            },
            builder =>
            {
                if (testClock)
                {
                    builder.Services.AddSingleton<TimeProvider>(clock);
                }
                builder.Services.AddSingleton<ILoggerProvider>(logs);
            });
        return new Setup(issuer, upstream, edge, clock, logs);
    }

    private static async Task AssertInvalidTokenAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.StartsWith("Bearer error=\"invalid_token\"", response.Headers.WwwAuthenticate.ToString());
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(-32000, body.RootElement.GetProperty("error").GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task ActiveOpaqueToken_PassesAsItsSubject_AndIsIntrospectedOnce_ThenAgainAfterAMinute_ARevokedOneEveryTenSeconds()
    {
        await using var s = await StartAsync();
        var token = s.Issuer.IssueOpaque(Resource, subject: "carol", scope: Scope);

        for (var i = 0; i < 3; i++)
        {
            using var response = await s.CallAsync(token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(1, s.Issuer.Introspections);
        Assert.Equal(3, s.Upstream.Requests.Count);
        Assert.All(s.Upstream.Requests, r => Assert.Equal("Bearer " + token, r.Headers["Authorization"]));

        s.Clock.Advance(TimeSpan.FromSeconds(61)); // a revocation takes effect within a minute
        s.Issuer.Revoke(token);
        using var revoked = await s.CallAsync(token);
        await AssertInvalidTokenAsync(revoked);
        Assert.Equal(2, s.Issuer.Introspections);
        Assert.Contains("not active", revoked.Headers.WwwAuthenticate.ToString());

        // A client retrying the revoked token is refused from memory for 10 s, then asked about again.
        using (var retried = await s.CallAsync(token))
        {
            await AssertInvalidTokenAsync(retried);
        }
        Assert.Equal(2, s.Issuer.Introspections);
        s.Clock.Advance(TimeSpan.FromSeconds(11));
        using (var later = await s.CallAsync(token))
        {
            await AssertInvalidTokenAsync(later);
        }
        Assert.Equal(3, s.Issuer.Introspections);
    }

    [Fact]
    public async Task ConcurrentRequests_WithANewToken_ShareOneIntrospection()
    {
        await using var s = await StartAsync();
        var token = s.Issuer.IssueOpaque(Resource, scope: Scope);
        var gate = new TaskCompletionSource();
        s.Issuer.IntrospectionGate = gate.Task;
        var authenticator = s.Edge.Services.GetRequiredService<McpEdge.Security.BearerAuthentication>().For("s")!;
        var header = new Microsoft.Extensions.Primitives.StringValues("Bearer " + token);

        var first = authenticator.AuthenticateAsync(header, CancellationToken.None).AsTask();
        Assert.True(await s.Issuer.IntrospectionArrivals.WaitAsync(TimeSpan.FromSeconds(10)));
        // The first call is held at the authorization server: these arrive while it is in flight.
        var others = Enumerable.Range(0, 7).Select(_ => authenticator.AuthenticateAsync(header, CancellationToken.None).AsTask()).ToArray();
        gate.SetResult();
        var results = await Task.WhenAll([first, .. others]);

        Assert.All(results, r => Assert.Equal(McpEdge.Security.BearerOutcome.Authenticated, r.Outcome));
        Assert.Equal(1, s.Issuer.Introspections);
    }

    /// <summary>
    /// Introspection:MaxConcurrent: with two calls held at the authorization server, a third new token
    /// is a 503 with Retry-After 1 s at once, without a call; a request bringing one of the two tokens
    /// in flight shares its call; once they end, the third token is introspected.
    /// </summary>
    [Fact]
    public async Task NewTokensBeyondMaxConcurrent_Are503AtOnce_WithoutACall_UntilACallEnds()
    {
        await using var s = await StartAsync(maxConcurrent: 2);
        var tokens = Enumerable.Range(0, 3).Select(_ => s.Issuer.IssueOpaque(Resource, scope: Scope)).ToArray();
        var gate = new TaskCompletionSource();
        s.Issuer.IntrospectionGate = gate.Task;

        var held = new List<Task<HttpResponseMessage>>();
        foreach (var token in tokens[..2])
        {
            held.Add(s.CallAsync(token));
            Assert.True(await s.Issuer.IntrospectionArrivals.WaitAsync(TimeSpan.FromSeconds(10)));
        }
        // A request bringing a token whose call is in flight waits for that call (it would be answered at once if refused).
        var authenticator = s.Edge.Services.GetRequiredService<McpEdge.Security.BearerAuthentication>().For("s")!;
        var shared = authenticator.AuthenticateAsync(new Microsoft.Extensions.Primitives.StringValues("Bearer " + tokens[0]), CancellationToken.None).AsTask();
        Assert.False(shared.IsCompleted);
        using (var busy = await s.CallAsync(tokens[2]))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), busy.Headers.RetryAfter!.Delta);
            Assert.False(busy.Headers.Contains("WWW-Authenticate"));
            Assert.Equal(2, s.Issuer.Introspections);
            Assert.Contains(s.Logs.Entries, e => e.Message.Contains("2 introspections are in flight (Introspection:MaxConcurrent)", StringComparison.Ordinal));
        }
        gate.SetResult();
        foreach (var response in await Task.WhenAll(held))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
        Assert.Equal(McpEdge.Security.BearerOutcome.Authenticated, (await shared).Outcome);

        using var later = await s.CallAsync(tokens[2]); // a busy answer is not remembered as a refusal
        Assert.Equal(HttpStatusCode.OK, later.StatusCode);
        Assert.Equal(3, s.Issuer.Introspections);
    }

    public static TheoryData<string, string> BadOpaqueTokens => new()
    {
        { "unknown to the authorization server", "not active" },
        { "issued for another resource", "not issued for this MCP server" },
        { "with no audience", "not issued for this MCP server" },
        { "expired", "expired" },
        { "with no subject", "names no principal" },
    };

    [Theory]
    [MemberData(nameof(BadOpaqueTokens))]
    public async Task BadOpaqueToken_401InvalidToken_NeverReachesTheReplica(string kind, string description)
    {
        await using var s = await StartAsync();
        var token = kind switch
        {
            "unknown to the authorization server" => "opaque-never-issued",
            "issued for another resource" => s.Issuer.IssueOpaque("https://mcp.example.com/mcp/other", scope: Scope),
            "with no audience" => s.Issuer.IssueOpaque(audience: null, scope: Scope),
            "expired" => s.Issuer.IssueOpaque(Resource, scope: Scope, lifetime: TimeSpan.FromMinutes(-5)),
            "with no subject" => s.Issuer.IssueOpaque(Resource, subject: null, scope: Scope),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        using var response = await s.CallAsync(token);

        await AssertInvalidTokenAsync(response);
        Assert.Contains(description, response.Headers.WwwAuthenticate.ToString());
        Assert.Empty(s.Upstream.Requests);
    }

    [Fact]
    public async Task OpaqueTokenWithoutTheScope_403InsufficientScope()
    {
        await using var s = await StartAsync();

        using var response = await s.CallAsync(s.Issuer.IssueOpaque(Resource, scope: "other:scope"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.StartsWith("Bearer error=\"insufficient_scope\"", response.Headers.WwwAuthenticate.ToString());
        Assert.Empty(s.Upstream.Requests);
    }

    [Fact]
    public async Task Jwt_IsStillValidatedLocally_WithoutAnIntrospection()
    {
        await using var s = await StartAsync();

        using var response = await s.CallAsync(s.Issuer.Issue(Resource, scope: Scope));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, s.Issuer.Introspections);
    }

    [Fact]
    public async Task IntrospectionRefusesTheEdgesCredentials_503WithRetryAfter_NeverA401_AndTheLogSaysWhy()
    {
        await using var s = await StartAsync(secret: "a wrong secret");

        using var response = await s.CallAsync(s.Issuer.IssueOpaque(Resource, scope: Scope));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter!.Delta);
        Assert.False(response.Headers.Contains("WWW-Authenticate"));
        Assert.Empty(s.Upstream.Requests);
        var warning = Assert.Single(s.Logs.Entries, e => e.Category.EndsWith("BearerAuthenticationMiddleware", StringComparison.Ordinal));
        Assert.Contains($"the introspection endpoint {s.Issuer.Issuer}/introspect answered HTTP 401", warning.Message);
    }

    /// <summary>
    /// client_secret_post (RFC 6749 §2.3.1): the client id and secret go in the form, with no
    /// Authorization header, to a server that takes nothing else; an edge that sends Basic to it is refused.
    /// </summary>
    [Fact]
    public async Task ClientSecretPost_SendsTheCredentialsInTheForm()
    {
        await using (var s = await StartAsync(introspection: issuer => new
        {
            ClientId = issuer.IntrospectionClient.Id, ClientAuthentication = "client_secret_post", ClientSecret = issuer.IntrospectionClient.Secret,
        }))
        {
            s.Issuer.IntrospectionClientInForm = true;
            using var response = await s.CallAsync(s.Issuer.IssueOpaque(Resource, scope: Scope));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(1, s.Issuer.Introspections);
        }

        await using (var basic = await StartAsync())
        {
            basic.Issuer.IntrospectionClientInForm = true;
            using var response = await basic.CallAsync(basic.Issuer.IssueOpaque(Resource, scope: Scope));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal(0, basic.Issuer.Introspections);
        }
    }

    /// <summary>
    /// private_key_jwt (RFC 7523 §2.2): every introspection call carries a new assertion signed with
    /// the key file's key (the server refuses a replayed jti and anything but iss = sub = the client
    /// id, aud = the issuer); a renewed key file is used from the next call on, and one that does not
    /// load leaves the key in use, with a warning.
    /// </summary>
    [Fact]
    public async Task PrivateKeyJwt_SignsAFreshAssertionPerCall_AndARenewedKeyFileNeedsNoRestart()
    {
        var directory = Directory.CreateTempSubdirectory("mcpedge-client-key-").FullName;
        var keyFile = Path.Combine(directory, "client.key");
        async Task WriteKeyAsync(string pem)
        {
            await File.WriteAllTextAsync(keyFile + ".next", pem);
            File.Move(keyFile + ".next", keyFile, overwrite: true);
        }
        try
        {
            using var rsa = System.Security.Cryptography.RSA.Create(2048);
            await WriteKeyAsync(rsa.ExportPkcs8PrivateKeyPem());
            await using var s = await StartAsync(introspection: issuer => new
            {
                ClientId = issuer.IntrospectionClient.Id, ClientAuthentication = "private_key_jwt", PrivateKeyFile = keyFile, KeyId = "edge-1",
            }, testClock: false);
            s.Issuer.IntrospectionClientKey = new Microsoft.IdentityModel.Tokens.RsaSecurityKey(rsa.ExportParameters(false));

            using (var first = await s.CallAsync(s.Issuer.IssueOpaque(Resource, scope: Scope)))
            {
                Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            }
            var assertion = s.Issuer.LastClientAssertion!;
            using (var second = await s.CallAsync(s.Issuer.IssueOpaque(Resource, scope: Scope)))
            {
                Assert.Equal(HttpStatusCode.OK, second.StatusCode); // a new jti: the server refuses one it has seen
            }
            Assert.Equal(2, s.Issuer.Introspections);
            Assert.Equal(("RS256", "edge-1"), (assertion.Alg, assertion.Kid));
            Assert.Equal([s.Issuer.Issuer], assertion.Audiences);
            Assert.NotEqual(assertion.Id, s.Issuer.LastClientAssertion!.Id);

            // The client's key is renewed (an EC key now): the next call signs with it.
            using var ec = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            await WriteKeyAsync(ec.ExportECPrivateKeyPem());
            s.Issuer.IntrospectionClientKey = new Microsoft.IdentityModel.Tokens.ECDsaSecurityKey(System.Security.Cryptography.ECDsa.Create(ec.ExportParameters(false)));
            using (var renewed = await s.CallAsync(s.Issuer.IssueOpaque(Resource, scope: Scope)))
            {
                Assert.Equal(HttpStatusCode.OK, renewed.StatusCode);
            }
            Assert.Equal("ES256", s.Issuer.LastClientAssertion!.Alg);

            // A file that does not load: the key in use stays, and the log says why.
            await WriteKeyAsync(rsa.ExportSubjectPublicKeyInfoPem());
            using (var afterBadFile = await s.CallAsync(s.Issuer.IssueOpaque(Resource, scope: Scope)))
            {
                Assert.Equal(HttpStatusCode.OK, afterBadFile.StatusCode);
            }
            Assert.Equal("ES256", s.Issuer.LastClientAssertion!.Alg);
            Assert.Contains(s.Logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains($"Introspection client key {keyFile}: the private_key_jwt key file", StringComparison.Ordinal)
                && e.Message.Contains("holds no unencrypted RSA or EC private key", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task ClientAuthenticationSettings_ThatDoNotFit_StopTheStart_NamingEach()
    {
        var directory = Directory.CreateTempSubdirectory("mcpedge-client-key-").FullName;
        try
        {
            var publicOnly = Path.Combine(directory, "public.pem");
            using var rsa = System.Security.Cryptography.RSA.Create(2048);
            await File.WriteAllTextAsync(publicOnly, rsa.ExportSubjectPublicKeyInfoPem());
            async Task<IReadOnlyList<string>> ErrorsFor(object introspection)
            {
                var error = await Assert.ThrowsAsync<McpEdge.Configuration.McpEdgeConfigurationException>(() => TestEdge.StartAsync(new
                {
                    Servers = new
                    {
                        s = Mcp.Server(upstreams: "http://127.0.0.1:9/mcp", authentication: new
                        {
                            Issuer = "https://auth.example.com", Resource, Introspection = introspection,
                        }),
                    },
                }));
                return error.Errors;
            }

            Assert.Contains("McpEdge:Servers:s:Authentication:Introspection:PrivateKeyFile: required with private_key_jwt",
                Assert.Single(await ErrorsFor(new { ClientId = "edge", ClientAuthentication = "private_key_jwt" })));
            var both = await ErrorsFor(new { ClientId = "edge", ClientAuthentication = "private_key_jwt", ClientSecret = "s", PrivateKeyFile = publicOnly });
            Assert.Contains(both, e => e.Contains("Introspection:ClientSecret: not used with private_key_jwt", StringComparison.Ordinal));
            Assert.Contains(both, e => e.Contains("Introspection:PrivateKeyFile: '" + publicOnly + "': it holds no unencrypted RSA or EC private key", StringComparison.Ordinal));
            Assert.Contains("Introspection:ClientAuthentication: 'tls_client_auth' is not a method the edge speaks; use client_secret_basic or client_secret_post or private_key_jwt.",
                Assert.Single(await ErrorsFor(new { ClientId = "edge", ClientAuthentication = "tls_client_auth", ClientSecret = "s" })));
            Assert.Contains("Introspection:ClientSecret: required with client_secret_post",
                Assert.Single(await ErrorsFor(new { ClientId = "edge", ClientAuthentication = "client_secret_post" })));
            Assert.Contains("Introspection:PrivateKeyFile: used only with ClientAuthentication private_key_jwt",
                Assert.Single(await ErrorsFor(new { ClientId = "edge", ClientSecret = "s", PrivateKeyFile = publicOnly })));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
