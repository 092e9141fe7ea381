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
    private volatile RsaSecurityKey _key = NewKey();
    private int _metadataFetches;

    private TestAuthorizationServer(TestUpstream http) => _http = http;

    /// <summary>The issuer identifier, <c>http://127.0.0.1:{port}</c>.</summary>
    public string Issuer => _http.Url;

    /// <summary>While false, every request gets 503 (an authorization server that is down).</summary>
    public bool Available { get; set; } = true;

    /// <summary>How many times the metadata document was fetched.</summary>
    public int MetadataFetches => Volatile.Read(ref _metadataFetches);

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
                    ["response_types_supported"] = new[] { "code" },
                    ["grant_types_supported"] = new[] { "authorization_code" },
                    ["code_challenge_methods_supported"] = new[] { "S256" },
                    ["token_endpoint_auth_methods_supported"] = new[] { "none" },
                });
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

    private static RsaSecurityKey NewKey() => new(RSA.Create(2048)) { KeyId = Guid.NewGuid().ToString("N") };

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _http.DisposeAsync();
}
