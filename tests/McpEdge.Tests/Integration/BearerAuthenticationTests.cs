using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

namespace McpEdge.Tests.Integration;

/// <summary>
/// The edge as an OAuth 2.1 resource server (Servers:{name}:Authentication; MCP 2026-07-28
/// basic/authorization): only requests with a valid bearer token for this server reach a replica;
/// refusals carry the RFC 6750 / RFC 9728 challenge; the metadata is served where the challenge
/// says; the token's subject is the principal of rate limits and sessions.
/// </summary>
public class BearerAuthenticationTests
{
    private const string Scope = "mcp:tools";

    private static Task<TestUpstream> UpstreamAsync() => TestUpstream.StartAsync((context, _) =>
    {
        context.Response.Headers["Mcp-Session-Id"] = "upstream-session-1";
        return context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } });
    });

    private static object Auth(TestAuthorizationServer issuer, string resource, bool forward = true) => new Dictionary<string, object?>
    {
        ["Issuer"] = issuer.Issuer,
        ["Resource"] = resource,
        ["Scopes"] = new[] { Scope },
        ["RequireHttpsMetadata"] = false,
        ["ForwardAuthorization"] = forward,
    };

    private sealed record Setup(TestAuthorizationServer Issuer, TestUpstream Upstream, TestEdge Edge, string Resource) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Edge.DisposeAsync();
            await Upstream.DisposeAsync();
            await Issuer.DisposeAsync();
        }
    }

    /// <summary>An edge with server <c>s</c> behind authentication; the resource is the edge's own URL for it.</summary>
    private static async Task<Setup> StartAsync(bool forward = true, string? resourcePath = null, object? rateLimits = null)
    {
        var issuer = await TestAuthorizationServer.StartAsync();
        var upstream = await UpstreamAsync();
        // The resource is an identifier, compared as a string: it need not be where the test edge listens.
        var resource = "https://mcp.example.com" + (resourcePath ?? "/mcp/s");
        var section = new Dictionary<string, object>
        {
            ["Servers"] = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp", authentication: Auth(issuer, resource, forward)) },
        };
        if (rateLimits is not null)
        {
            section["RateLimits"] = rateLimits;
        }
        return new Setup(issuer, upstream, await TestEdge.StartAsync(section), resource);
    }

    private static HttpRequestMessage Call(string? token, string? sessionId = null)
    {
        var request = Mcp.Post("/mcp/s", Mcp.Call(1, "tools/list"), sessionId);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return request;
    }

    private static async Task AssertRefusedAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(JsonValueKind.Null, body.RootElement.GetProperty("id").ValueKind);
        Assert.Equal(-32000, body.RootElement.GetProperty("error").GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task NoToken_401_WithAChallengeNamingTheMetadataAndScope_AndNothingReachesTheReplica()
    {
        await using var s = await StartAsync();

        using var response = await s.Edge.Client.SendAsync(Call(token: null));

        await AssertRefusedAsync(response, HttpStatusCode.Unauthorized);
        // RFC 6750 §3.1: no error code when the request had no credentials; RFC 9728 §5.1 resource_metadata.
        Assert.Equal($"Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp/s\", scope=\"{Scope}\"",
            response.Headers.WwwAuthenticate.ToString());
        Assert.Empty(s.Upstream.Requests);
    }

    [Theory]
    [InlineData(null)]        // the resource's path is the server's path on the edge
    [InlineData("/tools/s")]  // an Ingress in front maps another public path: both are served
    public async Task Metadata_ServedAtTheChallengedPath_NamesResourceIssuerAndScopes(string? resourcePath)
    {
        await using var s = await StartAsync(resourcePath: resourcePath);

        foreach (var path in new[] { "/.well-known/oauth-protected-resource" + (resourcePath ?? "/mcp/s"), "/.well-known/oauth-protected-resource/mcp/s" })
        {
            using var response = await s.Edge.Client.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
            using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var root = document.RootElement;
            Assert.Equal(s.Resource, root.GetProperty("resource").GetString());
            Assert.Equal([s.Issuer.Issuer], root.GetProperty("authorization_servers").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal([Scope], root.GetProperty("scopes_supported").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(["header"], root.GetProperty("bearer_methods_supported").EnumerateArray().Select(e => e.GetString()));
        }
        using var unknown = await s.Edge.Client.GetAsync("/.well-known/oauth-protected-resource/mcp/other");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var post = await s.Edge.Client.PostAsync("/.well-known/oauth-protected-resource/mcp/s", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Empty(s.Upstream.Requests);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ValidToken_ReachesTheReplica_WithTheHeaderOnlyWhenForwarded(bool forward)
    {
        await using var s = await StartAsync(forward);
        var token = s.Issuer.Issue(s.Resource, scope: Scope + " other");

        using var response = await s.Edge.Client.SendAsync(Call(token));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(s.Upstream.Requests);
        Assert.Equal(forward, seen.Headers.TryGetValue("Authorization", out var header));
        if (forward)
        {
            Assert.Equal("Bearer " + token, header);
        }
    }

    public static TheoryData<string, string> BadTokens => new()
    {
        { "expired", "expired" },
        { "not yet valid", "not_yet_valid" },
        { "another audience", "audience" },
        { "another issuer", "issuer" },
        { "a key the issuer never published", "signature" },
        { "a shared-secret HS256 signature", "signature" },
        { "unsigned (alg none)", "signature" },
        { "not a JWT", "malformed" },
        { "no subject", "no_principal" },
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task BadToken_401InvalidToken_NeverReachesTheReplica(string kind, string reason)
    {
        await using var s = await StartAsync();
        var a = s.Issuer;
        var token = kind switch
        {
            "expired" => a.Issue(s.Resource, scope: Scope, lifetime: TimeSpan.FromMinutes(-10)), // past the 1-minute skew
            "not yet valid" => a.Issue(s.Resource, scope: Scope, notBefore: DateTime.UtcNow.AddMinutes(10)),
            "another audience" => a.Issue("https://mcp.example.com/mcp/other", scope: Scope),
            "another issuer" => a.Issue(s.Resource, scope: Scope, issuer: "https://evil.example"),
            "a key the issuer never published" => a.Issue(s.Resource, scope: Scope, key: TestAuthorizationServer.ForeignKey()),
            "a shared-secret HS256 signature" => a.Issue(s.Resource, scope: Scope, key: new SymmetricSecurityKey(new byte[32]) { KeyId = "k" }),
            "unsigned (alg none)" => a.IssueUnsigned(s.Resource),
            "not a JWT" => "abc.def",
            "no subject" => a.Issue(s.Resource, subject: null, scope: Scope),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        using var response = await s.Edge.Client.SendAsync(Call(token));

        await AssertRefusedAsync(response, HttpStatusCode.Unauthorized);
        var challenge = response.Headers.WwwAuthenticate.ToString();
        Assert.StartsWith("Bearer error=\"invalid_token\", error_description=\"", challenge);
        Assert.Contains("resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp/s\"", challenge);
        Assert.Empty(s.Upstream.Requests);
        var metrics = await s.Edge.Client.GetStringAsync("/metrics");
        var counted = metrics.Split('\n').Single(line => line.StartsWith("mcpedge_auth_rejections_total{", StringComparison.Ordinal));
        Assert.Contains($"reason=\"{reason}\"", counted);
        Assert.EndsWith(" 1", counted);
    }

    [Fact]
    public async Task SameToken_IsValidatedOnce_ThenAgainAfterAMinute()
    {
        await using var issuer = await TestAuthorizationServer.StartAsync();
        await using var upstream = await UpstreamAsync();
        var clock = new TestTimeProvider();
        await using var edge = await TestEdge.StartAsync(
            new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp", authentication: Auth(issuer, "https://mcp.example.com/mcp/s")) } },
            builder => builder.Services.AddSingleton<TimeProvider>(clock));
        var authenticator = edge.Services.GetRequiredService<McpEdge.Security.BearerAuthentication>().For("s")!;
        var token = issuer.Issue("https://mcp.example.com/mcp/s", scope: Scope);

        for (var i = 0; i < 3; i++)
        {
            using var response = await edge.Client.SendAsync(Call(token));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(1, authenticator.Validations);

        clock.Advance(TimeSpan.FromSeconds(61));
        using (var later = await edge.Client.SendAsync(Call(token)))
        {
            Assert.Equal(HttpStatusCode.OK, later.StatusCode);
        }
        Assert.Equal(2, authenticator.Validations);
        Assert.Equal(4, upstream.Requests.Count);
    }

    [Fact]
    public async Task TokenWithoutTheRequiredScope_403InsufficientScope_NamingTheScope()
    {
        await using var s = await StartAsync();

        using var response = await s.Edge.Client.SendAsync(Call(s.Issuer.Issue(s.Resource, scope: "other")));

        await AssertRefusedAsync(response, HttpStatusCode.Forbidden);
        var challenge = response.Headers.WwwAuthenticate.ToString();
        Assert.StartsWith("Bearer error=\"insufficient_scope\"", challenge);
        Assert.EndsWith($"scope=\"{Scope}\"", challenge);
        Assert.Empty(s.Upstream.Requests);
    }

    [Fact]
    public async Task IdentityHeaders_TellTheReplicaWhoCalls_AndWhatAClientSentUnderThoseNamesIsReplaced()
    {
        await using var issuer = await TestAuthorizationServer.StartAsync();
        await using var upstream = await UpstreamAsync();
        const string resource = "https://mcp.example.com/mcp/s";
        var authentication = new Dictionary<string, object?>
        {
            ["Issuer"] = issuer.Issuer, ["Resource"] = resource, ["Scopes"] = new[] { Scope }, ["RequireHttpsMetadata"] = false,
            ["ForwardAuthorization"] = false, ["PrincipalHeader"] = "X-Auth-Principal", ["ScopesHeader"] = "X-Auth-Scopes",
            ["ImpliedScopes"] = new[] { new { Scope = "files:admin", Implies = new[] { "files:read" } } },
        };
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp", authentication: authentication) } });

        var spoofed = Call(issuer.Issue(resource, subject: "alice", scope: "mcp:tools files:admin"));
        spoofed.Headers.Add("X-Auth-Principal", "admin");
        spoofed.Headers.Add("x-auth-scopes", "everything");
        using (var response = await edge.Client.SendAsync(spoofed))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using (var response = await edge.Client.SendAsync(Call(issuer.Issue(resource, subject: "jürgen müller", scope: Scope))))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var requests = upstream.Requests.ToArray();
        Assert.Equal("alice", requests[0].Headers["X-Auth-Principal"]);
        Assert.Equal("files:admin files:read mcp:tools", requests[0].Headers["X-Auth-Scopes"]); // implied scopes included, ordinal order
        Assert.False(requests[0].Headers.ContainsKey("Authorization"));
        Assert.Equal("j%C3%BCrgen%20m%C3%BCller", requests[1].Headers["X-Auth-Principal"]);
    }

    [Fact]
    public async Task ScopesAsAnScpArray_AreRead()
    {
        await using var s = await StartAsync();
        var token = s.Issuer.Issue(s.Resource, claims: new Dictionary<string, object> { ["scp"] = new[] { "x", Scope } });

        using var response = await s.Edge.Client.SendAsync(Call(token));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task OtherSchemes_AreNoToken_AndTwoAuthorizationHeadersAreABadRequest()
    {
        await using var s = await StartAsync();

        var basic = Call(token: null);
        basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.ASCII.GetBytes("u:p")));
        using var basicResponse = await s.Edge.Client.SendAsync(basic);
        await AssertRefusedAsync(basicResponse, HttpStatusCode.Unauthorized);
        Assert.DoesNotContain("error=", basicResponse.Headers.WwwAuthenticate.ToString());

        var token = s.Issuer.Issue(s.Resource, scope: Scope);
        var twice = Call(token);
        twice.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        using var twiceResponse = await s.Edge.Client.SendAsync(twice);
        await AssertRefusedAsync(twiceResponse, HttpStatusCode.BadRequest);
        Assert.StartsWith("Bearer error=\"invalid_request\"", twiceResponse.Headers.WwwAuthenticate.ToString());

        // MCP 2026-07-28 "Token Requirements": never from the query string.
        using var query = await s.Edge.Client.SendAsync(Mcp.Post("/mcp/s?access_token=" + token, Mcp.Call(1, "tools/list")));
        await AssertRefusedAsync(query, HttpStatusCode.Unauthorized);
        Assert.Empty(s.Upstream.Requests);
    }

    [Fact]
    public async Task RotatedSigningKey_NewTokensAccepted_WithOneMoreMetadataFetch()
    {
        await using var s = await StartAsync();
        using (var first = await s.Edge.Client.SendAsync(Call(s.Issuer.Issue(s.Resource, scope: Scope))))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }
        var fetches = s.Issuer.MetadataFetches;

        s.Issuer.RotateKey();
        using var response = await s.Edge.Client.SendAsync(Call(s.Issuer.Issue(s.Resource, scope: Scope)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(fetches + 1, s.Issuer.MetadataFetches);
    }

    [Fact]
    public async Task AuthorizationServerDown_503WithRetryAfter_NeverA401_AndTheLogSaysWhere()
    {
        await using var issuer = await TestAuthorizationServer.StartAsync();
        await using var upstream = await UpstreamAsync();
        var logs = new LogCollector(LogLevel.Warning);
        await using var edge = await TestEdge.StartAsync(
            new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp", authentication: Auth(issuer, "https://mcp.example.com/mcp/s")) } },
            builder => builder.Services.AddSingleton<ILoggerProvider>(logs));
        issuer.Available = false;

        using var response = await edge.Client.SendAsync(Call(issuer.Issue("https://mcp.example.com/mcp/s", scope: Scope)));

        await AssertRefusedAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter!.Delta);
        Assert.False(response.Headers.Contains("WWW-Authenticate"));
        Assert.Empty(upstream.Requests);
        var warning = Assert.Single(logs.Entries, e => e.Category.EndsWith("BearerAuthenticationMiddleware", StringComparison.Ordinal));
        Assert.Contains(issuer.Issuer + "/.well-known/oauth-authorization-server", warning.Message); // where it looked
    }

    [Fact]
    public async Task SessionToken_OpensOnlyForThePrincipalItWasSealedFor()
    {
        await using var s = await StartAsync();
        var alice = s.Issuer.Issue(s.Resource, subject: "alice", scope: Scope);
        var bob = s.Issuer.Issue(s.Resource, subject: "bob", scope: Scope);
        string session;
        using (var initialize = await s.Edge.Client.SendAsync(Call(alice)))
        {
            session = initialize.Headers.GetValues("Mcp-Session-Id").Single();
        }

        using var stolen = await s.Edge.Client.SendAsync(Call(bob, session));
        using var own = await s.Edge.Client.SendAsync(Call(alice, session));

        Assert.Equal(HttpStatusCode.NotFound, stolen.StatusCode);
        using var body = JsonDocument.Parse(await stolen.Content.ReadAsStringAsync());
        Assert.Equal(-32001, body.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        Assert.Equal(2, s.Upstream.Requests.Count); // alice's two requests; bob's never left the edge
    }

    [Fact]
    public async Task RateLimits_CountPerPrincipal()
    {
        await using var s = await StartAsync(rateLimits: new[]
        {
            new { Name = "lists", Method = "tools/list", Limiter = "FixedWindow", PermitLimit = 1, Window = "01:00:00" },
        });
        var alice = s.Issuer.Issue(s.Resource, subject: "alice", scope: Scope);
        var bob = s.Issuer.Issue(s.Resource, subject: "bob", scope: Scope);

        using var aliceFirst = await s.Edge.Client.SendAsync(Call(alice));
        using var aliceSecond = await s.Edge.Client.SendAsync(Call(alice));
        using var bobFirst = await s.Edge.Client.SendAsync(Call(bob));

        Assert.Equal(HttpStatusCode.OK, aliceFirst.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, aliceSecond.StatusCode);
        Assert.Equal(HttpStatusCode.OK, bobFirst.StatusCode); // same address, another principal
    }

    [Fact]
    public async Task HotReload_TurnsAuthenticationOn()
    {
        await using var issuer = await TestAuthorizationServer.StartAsync();
        await using var upstream = await UpstreamAsync();
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } });
        using (var open = await edge.Client.SendAsync(Call(token: null)))
        {
            Assert.Equal(HttpStatusCode.OK, open.StatusCode);
        }

        var applied = edge.NextConfigApplied();
        await edge.WriteConfigAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp", authentication: Auth(issuer, "https://mcp.example.com/mcp/s")) } });
        await applied;

        using var closed = await edge.Client.SendAsync(Call(token: null));
        Assert.Equal(HttpStatusCode.Unauthorized, closed.StatusCode);
        Assert.Single(upstream.Requests);
    }
}
