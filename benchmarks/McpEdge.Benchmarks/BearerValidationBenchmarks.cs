using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using McpEdge.Configuration;
using McpEdge.Security;
using Microsoft.Extensions.Primitives;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace McpEdge.Benchmarks;

/// <summary>
/// One bearer authentication of a request (<see cref="ServerBearerAuthenticator.AuthenticateAsync"/>):
/// an RS256 (RSA 2048) or ES256 access token with <c>sub</c>, <c>aud</c> and <c>scope</c>, validated
/// against keys already fetched (a static configuration: no network), the scope checked: the first
/// time a token is seen, and every later time (the validated-token cache).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(InProcessConfig))]
public class BearerValidationBenchmarks
{
    private const string Resource = "https://mcp.example.com/mcp/s";
    private ServerBearerAuthenticator _authenticator = null!;
    private ServerBearerAuthenticator _cached = null!;
    private StringValues _rsa;
    private StringValues _ecdsa;

    /// <summary>Mints the tokens and builds the authenticator.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rsa = new RsaSecurityKey(RSA.Create(2048)) { KeyId = "rsa" };
        var ec = new ECDsaSecurityKey(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = "ec" };
        var configuration = new OpenIdConnectConfiguration { Issuer = "https://auth.example.com" };
        configuration.SigningKeys.Add(rsa);
        configuration.SigningKeys.Add(ec);
        var options = new ServerAuthenticationOptions { Issuer = configuration.Issuer, Resource = Resource, Scopes = ["mcp:tools"] };
        var keys = new StaticConfigurationManager<OpenIdConnectConfiguration>(configuration);
        _authenticator = new ServerBearerAuthenticator("s", "/mcp/s", options, keys, TimeProvider.System) { CacheValidated = false };
        _cached = new ServerBearerAuthenticator("s", "/mcp/s", options, keys, TimeProvider.System);
        _rsa = "Bearer " + Mint(configuration.Issuer, rsa, SecurityAlgorithms.RsaSha256);
        _ecdsa = "Bearer " + Mint(configuration.Issuer, ec, SecurityAlgorithms.EcdsaSha256);
        if (!AuthenticateRs256().Result || !AuthenticateEs256().Result || !AuthenticateCachedRs256().Result)
        {
            throw new InvalidOperationException("setup: a token did not validate");
        }
    }

    private static string Mint(string issuer, SecurityKey key, string algorithm) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = issuer,
        Claims = new Dictionary<string, object> { ["aud"] = Resource, ["sub"] = "alice", ["scope"] = "mcp:tools other" },
        Expires = DateTime.UtcNow.AddDays(1),
        SigningCredentials = new SigningCredentials(key, algorithm),
    });

    /// <summary>An RS256 token (the most common; RSA verification).</summary>
    [Benchmark(Baseline = true)]
    public async Task<bool> AuthenticateRs256() => (await _authenticator.AuthenticateAsync(_rsa, default)).Principal is not null;

    /// <summary>An ES256 token (ECDSA P-256 verification).</summary>
    [Benchmark]
    public async Task<bool> AuthenticateEs256() => (await _authenticator.AuthenticateAsync(_ecdsa, default)).Principal is not null;

    /// <summary>An RS256 token seen before: a lookup in the validated-token cache.</summary>
    [Benchmark]
    public async Task<bool> AuthenticateCachedRs256() => (await _cached.AuthenticateAsync(_rsa, default)).Principal is not null;
}
