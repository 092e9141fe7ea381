using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace McpEdge.Security;

/// <summary>
/// Signs the client assertions with which the edge authenticates to an introspection endpoint as
/// <c>private_key_jwt</c> (RFC 7523 §2.2 and §3; OpenID Connect Core 1.0 §9): a JWT with <c>iss</c>
/// and <c>sub</c> the client id, <c>aud</c> the authorization server, a fresh <c>jti</c>,
/// <c>iat</c>/<c>nbf</c> now and <c>exp</c> a minute later, signed with the key of
/// <see cref="Configuration.TokenIntrospectionOptions.PrivateKeyFile"/>: RS256 for an RSA key (2048 bits
/// or more), ES256/ES384/ES512 for an EC key on P-256/P-384/P-521. Thread-safe.
/// </summary>
/// <remarks>
/// The key file is read again before each assertion (introspection calls are few: a token's answer
/// is remembered): a renewed key is used from the next call on (event 124); one that does not load,
/// or a file that cannot be read, is a warning (event 125) and the key in use stays.
/// </remarks>
internal sealed partial class ClientAssertionSigner
{
    /// <summary>The <c>client_assertion_type</c> of a JWT assertion (RFC 7523 §2.2).</summary>
    public const string AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    /// <summary>How long an assertion is valid.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(1);

    private static readonly JsonWebTokenHandler Handler = new() { SetDefaultTimesOnTokenCreation = false };
    private readonly string _keyFile;
    private readonly string _clientId;
    private readonly string _audience;
    private readonly string? _keyId;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private string? _pem;
    private SigningCredentials? _credentials;

    /// <summary>Describes the assertions; the key is read with the first one.</summary>
    /// <param name="keyFile">The PEM file of the private key.</param>
    /// <param name="clientId">The edge's client id: <c>iss</c> and <c>sub</c>.</param>
    /// <param name="audience">The <c>aud</c>: the authorization server's issuer identifier unless configured.</param>
    /// <param name="keyId">The <c>kid</c> header, or null for none.</param>
    /// <param name="time">The clock of <c>iat</c>, <c>nbf</c> and <c>exp</c>.</param>
    /// <param name="logger">Logs renewed keys and keys that do not load.</param>
    public ClientAssertionSigner(string keyFile, string clientId, string audience, string? keyId, TimeProvider time, ILogger logger)
    {
        _keyFile = keyFile;
        _clientId = clientId;
        _audience = audience;
        _keyId = keyId;
        _time = time;
        _logger = logger;
    }

    /// <summary>The <c>aud</c> of the assertions.</summary>
    public string Audience => _audience;

    /// <summary>
    /// Signs a new assertion with the key file's current key (or, when the file cannot be read or its
    /// new content does not load, the key in use); null with <paramref name="problem"/> when no key
    /// has ever loaded.
    /// </summary>
    public string? Create(out string? problem)
    {
        problem = null;
        string? pem;
        try
        {
            pem = File.ReadAllText(_keyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            pem = null; // a renewal half-done, a volume remounted: sign with the key in use
            problem = $"the private_key_jwt key file '{_keyFile}' could not be read: {e.Message}";
            LogKeyRejected(_logger, _keyFile, problem);
        }
        SigningCredentials? credentials;
        lock (_lock)
        {
            if (pem is not null && pem != _pem)
            {
                var first = _pem is null;
                _pem = pem;
                if (Credentials(pem, _keyId, out var error) is { } renewed)
                {
                    _credentials = renewed;
                    if (!first)
                    {
                        LogKeyRenewed(_logger, _keyFile, renewed.Algorithm);
                    }
                }
                else
                {
                    problem = $"the private_key_jwt key file '{_keyFile}' does not load: {error}";
                    LogKeyRejected(_logger, _keyFile, problem);
                }
            }
            credentials = _credentials;
        }
        if (credentials is null)
        {
            // Still the content that did not load the last time (logged then): no key to sign with.
            problem ??= $"the private_key_jwt key file '{_keyFile}' holds no key that loads";
            return null;
        }
        problem = null;
        var now = _time.GetUtcNow().UtcDateTime;
        return Handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = _clientId,
            Audience = _audience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + Lifetime,
            Claims = new Dictionary<string, object>(StringComparer.Ordinal)
            {
                [JwtRegisteredClaimNames.Sub] = _clientId,
                [JwtRegisteredClaimNames.Jti] = Guid.NewGuid().ToString("N"),
            },
            SigningCredentials = credentials,
        });
    }

    [LoggerMessage(EventId = 124, Level = LogLevel.Information, Message = "Introspection client key {KeyFile} changed; assertions are signed with the new key ({Algorithm}) from now on.")]
    private static partial void LogKeyRenewed(ILogger logger, string keyFile, string algorithm);

    [LoggerMessage(EventId = 125, Level = LogLevel.Warning, Message = "Introspection client key {KeyFile}: {Problem}; the key in use, if any, stays.")]
    private static partial void LogKeyRejected(ILogger logger, string keyFile, string problem);

    /// <summary>
    /// The signing credentials of a PEM private key (PKCS#8 <c>PRIVATE KEY</c>, PKCS#1 <c>RSA PRIVATE
    /// KEY</c> or SEC1 <c>EC PRIVATE KEY</c>, unencrypted), or null with <paramref name="error"/>.
    /// </summary>
    internal static SigningCredentials? Credentials(string pem, string? keyId, out string? error)
    {
        error = null;
        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(pem);
            rsa.ExportParameters(includePrivateParameters: true); // a public key alone cannot sign
            if (rsa.KeySize < 2048)
            {
                error = $"the RSA key has {rsa.KeySize} bits; private_key_jwt needs 2048 or more.";
                rsa.Dispose();
                return null;
            }
            return new SigningCredentials(new RsaSecurityKey(rsa) { KeyId = keyId }, SecurityAlgorithms.RsaSha256);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            rsa.Dispose();
        }
        var ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportFromPem(pem);
            ecdsa.ExportParameters(includePrivateParameters: true);
            var algorithm = ecdsa.KeySize switch
            {
                256 => SecurityAlgorithms.EcdsaSha256,
                384 => SecurityAlgorithms.EcdsaSha384,
                521 => SecurityAlgorithms.EcdsaSha512,
                _ => null,
            };
            if (algorithm is null)
            {
                error = $"the EC key is on a {ecdsa.KeySize}-bit curve; use P-256, P-384 or P-521.";
                ecdsa.Dispose();
                return null;
            }
            return new SigningCredentials(new ECDsaSecurityKey(ecdsa) { KeyId = keyId }, algorithm);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            ecdsa.Dispose();
            error = "it holds no unencrypted RSA or EC private key (PEM: PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY).";
            return null;
        }
    }
}
