using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace McpEdge.Tests.Infrastructure;

/// <summary>
/// An OAuth authorization server for tests, on real Kestrel (127.0.0.1): RFC 8414 metadata at
/// <c>/.well-known/oauth-authorization-server</c> and its JWK Set at <c>/jwks</c>, signing keys the
/// test can rotate, and tokens it mints with whatever claims a case needs (JsonWebTokenHandler).
/// </summary>
public sealed class TestAuthorizationServer : IAsyncDisposable
{
    private readonly TestUpstream _http;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Dictionary<string, object>> _opaque = new();
    private volatile RsaSecurityKey _key = NewKey();
    private int _metadataFetches;
    private int _introspections;

    private TestAuthorizationServer(TestUpstream http) => _http = http;

    /// <summary>The issuer identifier, <c>http://127.0.0.1:{port}</c>.</summary>
    public string Issuer => _http.Url;

    /// <summary>While false, every request gets 503 (an authorization server that is down).</summary>
    public bool Available { get; set; } = true;

    /// <summary>How many times the metadata document was fetched.</summary>
    public int MetadataFetches => Volatile.Read(ref _metadataFetches);

    /// <summary>The client id and secret the introspection endpoint accepts (HTTP Basic, RFC 6749 §2.3.1).</summary>
    public (string Id, string Secret) IntrospectionClient { get; set; } = ("mcpedge", "introspection-secret");

    /// <summary>
    /// When set, the introspection endpoint takes <c>private_key_jwt</c> instead of HTTP Basic: a
    /// <c>client_assertion</c> (RFC 7523 §2.2, §3) signed by this key, with <c>iss</c> and <c>sub</c>
    /// the client id of <see cref="IntrospectionClient"/>, <c>aud</c> the issuer, a lifetime of at most
    /// 5 minutes and a <c>jti</c> not seen before; anything else is 401.
    /// </summary>
    public SecurityKey? IntrospectionClientKey { get; set; }

    /// <summary>
    /// When true (and no <see cref="IntrospectionClientKey"/>), the introspection endpoint takes
    /// <c>client_secret_post</c> instead of HTTP Basic: <c>client_id</c> and <c>client_secret</c> of
    /// <see cref="IntrospectionClient"/> in the form, and no <c>Authorization</c> header.
    /// </summary>
    public bool IntrospectionClientInForm { get; set; }

    /// <summary>The last client assertion the introspection endpoint accepted.</summary>
    public JsonWebToken? LastClientAssertion { get; private set; }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _assertionIds = new(StringComparer.Ordinal);

    /// <summary>When set, introspection answers wait for this task (to hold a call in flight).</summary>
    public Task? IntrospectionGate { get; set; }

    /// <summary>Released once per introspection request (with valid client credentials) as it arrives, before <see cref="IntrospectionGate"/>.</summary>
    public SemaphoreSlim IntrospectionArrivals { get; } = new(0);

    /// <summary>How many introspection requests were answered (with valid client credentials).</summary>
    public int Introspections => Volatile.Read(ref _introspections);

    /// <summary>Extra handlers by path (an authorization and a token endpoint for a full OAuth flow).</summary>
    public Dictionary<string, Func<HttpContext, string, Task>> Endpoints { get; } = [];

    /// <summary>Starts the server.</summary>
    public static async Task<TestAuthorizationServer> StartAsync()
    {
        TestAuthorizationServer? self = null;
        var http = await TestUpstream.StartAsync((context, body) => self!.HandleAsync(context, body));
        self = new TestAuthorizationServer(http);
        return self;
    }

    /// <summary>Replaces the signing key with a new one (new <c>kid</c>); the JWK Set then holds only the new key.</summary>
    public void RotateKey() => _key = NewKey();

    /// <summary>A key the server never publishes, for tokens whose signature must not verify.</summary>
    public static SecurityKey ForeignKey() => NewKey();

    /// <summary>
    /// Mints an RS256 access token. Lifetime defaults to one hour from now; <paramref name="claims"/>
    /// are added to (or override) <c>iss</c>, <c>aud</c>, <c>sub</c> and <c>scope</c>.
    /// </summary>
    public string Issue(string audience, string? subject = "alice", string? scope = null, TimeSpan? lifetime = null, string? issuer = null,
        SecurityKey? key = null, IDictionary<string, object>? claims = null, DateTime? notBefore = null)
    {
        var now = DateTime.UtcNow;
        var payload = new Dictionary<string, object> { ["aud"] = audience };
        if (subject is not null)
        {
            payload["sub"] = subject;
        }
        if (scope is not null)
        {
            payload["scope"] = scope;
        }
        foreach (var (name, value) in claims ?? new Dictionary<string, object>())
        {
            payload[name] = value;
        }
        var expires = now + (lifetime ?? TimeSpan.FromHours(1));
        var issued = expires < now ? expires.AddHours(-1) : now; // an expired token was issued before it expired
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Claims = payload,
            IssuedAt = issued,
            NotBefore = notBefore ?? issued,
            Expires = expires,
            SigningCredentials = new SigningCredentials(key ?? _key, key is SymmetricSecurityKey ? SecurityAlgorithms.HmacSha256 : SecurityAlgorithms.RsaSha256),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    /// <summary>
    /// Mints an opaque access token (not a JWT) that <c>/introspect</c> describes (RFC 7662 §2.2) with
    /// <c>active</c>, <c>iss</c>, <c>aud</c> (omitted when null), <c>sub</c>, <c>scope</c>, <c>exp</c>.
    /// </summary>
    public string IssueOpaque(string? audience, string? subject = "alice", string? scope = null, TimeSpan? lifetime = null)
    {
        var token = "opaque-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var answer = new Dictionary<string, object>
        {
            ["active"] = true,
            ["iss"] = Issuer,
            ["exp"] = DateTimeOffset.UtcNow.Add(lifetime ?? TimeSpan.FromHours(1)).ToUnixTimeSeconds(),
            ["client_id"] = "some-client",
            ["token_type"] = "Bearer",
        };
        if (audience is not null)
        {
            answer["aud"] = new[] { audience };
        }
        if (subject is not null)
        {
            answer["sub"] = subject;
        }
        if (scope is not null)
        {
            answer["scope"] = scope;
        }
        _opaque[token] = answer;
        return token;
    }

    /// <summary>Revokes an opaque token: introspection then answers <c>{"active": false}</c>.</summary>
    public void Revoke(string token) => _opaque.TryRemove(token, out _);

    /// <summary>An unsigned token (<c>alg: none</c>) with the given audience.</summary>
    public string IssueUnsigned(string audience) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Claims = new Dictionary<string, object> { ["aud"] = audience, ["sub"] = "mallory" },
            Expires = DateTime.UtcNow.AddHours(1),
        });

    private Task HandleAsync(HttpContext context, string body)
    {
        if (!Available)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        }
        var path = context.Request.Path.Value ?? "";
        if (Endpoints.TryGetValue(path, out var endpoint))
        {
            return endpoint(context, body);
        }
        switch (path)
        {
            case "/.well-known/oauth-authorization-server":
                Interlocked.Increment(ref _metadataFetches);
                return context.Response.WriteAsJsonAsync(new Dictionary<string, object>
                {
                    ["issuer"] = Issuer,
                    ["jwks_uri"] = Issuer + "/jwks",
                    ["authorization_endpoint"] = Issuer + "/authorize",
                    ["token_endpoint"] = Issuer + "/token",
                    ["introspection_endpoint"] = Issuer + "/introspect",
                    ["response_types_supported"] = new[] { "code" },
                    ["grant_types_supported"] = new[] { "authorization_code" },
                    ["code_challenge_methods_supported"] = new[] { "S256" },
                    ["token_endpoint_auth_methods_supported"] = new[] { "none" },
                });
            case "/introspect":
                return IntrospectionClientKey is { } clientKey ? IntrospectWithAssertionAsync(context, body, clientKey)
                    : IntrospectionClientInForm ? IntrospectWithFormSecretAsync(context, body)
                    : IntrospectWithBasicAsync(context, body);
            case "/jwks":
                var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(_key);
                context.Response.ContentType = "application/json";
                return context.Response.WriteAsync(JsonSerializer.Serialize(new
                {
                    keys = new[] { new { kty = jwk.Kty, kid = jwk.Kid, use = "sig", alg = "RS256", n = jwk.N, e = jwk.E } },
                }));
            default:
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
        }
    }

    private Task IntrospectWithBasicAsync(HttpContext context, string body)
    {
        var expected = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(IntrospectionClient.Id + ":" + IntrospectionClient.Secret));
        if (context.Request.Headers.Authorization != expected)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Task.CompletedTask;
        }
        return IntrospectAsync(context, body);
    }

    private Task IntrospectWithFormSecretAsync(HttpContext context, string body)
    {
        var form = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(body);
        if (context.Request.Headers.Authorization.Count > 0 || form["client_id"] != IntrospectionClient.Id || form["client_secret"] != IntrospectionClient.Secret)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Task.CompletedTask;
        }
        return IntrospectAsync(context, body);
    }

    private async Task IntrospectWithAssertionAsync(HttpContext context, string body, SecurityKey clientKey)
    {
        var form = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(body);
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(form["client_assertion"].ToString(), new TokenValidationParameters
        {
            ValidIssuer = IntrospectionClient.Id,
            ValidAudience = Issuer,
            IssuerSigningKey = clientKey,
            RequireExpirationTime = true,
            ClockSkew = TimeSpan.Zero,
        });
        var assertion = result.SecurityToken as JsonWebToken;
        if (!result.IsValid || assertion is null || context.Request.Headers.Authorization.Count > 0
            || form["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            || form["client_id"] != IntrospectionClient.Id || assertion.Subject != IntrospectionClient.Id
            || assertion.ValidTo - assertion.IssuedAt > TimeSpan.FromMinutes(5)
            || !_assertionIds.TryAdd(assertion.Id, true)) // RFC 7523 §3, item 7: a jti is used once
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }
        LastClientAssertion = assertion;
        await IntrospectAsync(context, body);
    }

    private async Task IntrospectAsync(HttpContext context, string body)
    {
        Interlocked.Increment(ref _introspections);
        IntrospectionArrivals.Release();
        if (IntrospectionGate is { } gate)
        {
            await gate;
        }
        var form = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(body);
        await context.Response.WriteAsJsonAsync(_opaque.TryGetValue(form["token"].ToString(), out var answer)
            ? answer
            : new Dictionary<string, object> { ["active"] = false });
    }

    private static RsaSecurityKey NewKey() => new(RSA.Create(2048)) { KeyId = Guid.NewGuid().ToString("N") };

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _http.DisposeAsync();
}
