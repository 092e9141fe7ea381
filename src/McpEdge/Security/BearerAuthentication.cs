using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text.Json;
using McpEdge.Configuration;
using McpEdge.Protocol;
using Microsoft.Extensions.Primitives;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace McpEdge.Security;

/// <summary>What <see cref="ServerBearerAuthenticator.AuthenticateAsync"/> decided.</summary>
internal enum BearerOutcome
{
    /// <summary>A valid token with every required scope: the request goes on as its principal.</summary>
    Authenticated,

    /// <summary>No bearer token (no <c>Authorization</c>, or another scheme): 401 with a challenge and no error code (RFC 6750 §3.1).</summary>
    Missing,

    /// <summary>The credentials are malformed (two <c>Authorization</c> headers, an empty token): 400 <c>invalid_request</c>.</summary>
    InvalidRequest,

    /// <summary>The token does not validate (signature, issuer, audience, lifetime, no principal): 401 <c>invalid_token</c>.</summary>
    InvalidToken,

    /// <summary>A valid token without every required scope: 403 <c>insufficient_scope</c>.</summary>
    InsufficientScope,

    /// <summary>The authorization server's metadata or keys could not be fetched yet, or its introspection endpoint did not answer: 503, the token is neither accepted nor refused.</summary>
    Unavailable,
}

/// <summary>The outcome, the principal when authenticated, and the reason: a metric label and a phrase for the log and <c>error_description</c>.</summary>
/// <param name="Outcome">What was decided.</param>
/// <param name="Principal">The authenticated principal, named by the configured claim; null otherwise.</param>
/// <param name="Reason">A fixed label (<c>missing</c>, <c>expired</c>, <c>audience</c>, …), never client input.</param>
/// <param name="Description">A fixed English phrase (ASCII, no quotes) for <c>error_description</c> and the log.</param>
/// <param name="Detail">For the log only: why the authorization server's metadata, keys or introspection answer could not be had.</param>
internal readonly record struct BearerResult(BearerOutcome Outcome, ClaimsPrincipal? Principal, string Reason, string Description, string? Detail = null);

/// <summary>
/// The principal of a validated bearer token, with the scopes it holds: those of its <c>scope</c> or
/// <c>scp</c> claim (RFC 9068 §2.2.3) and every scope they imply
/// (<see cref="ServerAuthenticationOptions.ImpliedScopes"/>), computed once per token.
/// </summary>
internal sealed class BearerPrincipal(ClaimsIdentity identity, IReadOnlySet<string> scopes) : ClaimsPrincipal(identity)
{
    /// <summary>The granted scopes, implied ones included.</summary>
    public IReadOnlySet<string> Scopes { get; } = scopes;

    /// <summary>The value of <see cref="ServerAuthenticationOptions.PrincipalHeader"/>, computed once per token.</summary>
    public string PrincipalHeaderValue => field ??= HeaderValue(Identity!.Name!);

    /// <summary>The value of <see cref="ServerAuthenticationOptions.ScopesHeader"/>: the scopes in ordinal order, space-separated, computed once per token.</summary>
    public string ScopesHeaderValue => field ??= HeaderValue(string.Join(' ', Scopes.Order(StringComparer.Ordinal)));

    /// <summary>Printable ASCII as is; anything else makes the whole value percent-encoded UTF-8 (RFC 3986 §2.1), so no header can be split or garbled.</summary>
    internal static string HeaderValue(string value) =>
        value.AsSpan().ContainsAnyExceptInRange((char)0x20, (char)0x7E) ? Uri.EscapeDataString(value) : value;
}

/// <summary>
/// Validates the bearer token of one MCP server's requests (the edge as an OAuth 2.1 resource
/// server: MCP 2026-07-28 <c>basic/authorization/index.mdx</c>, "Token Handling"; RFC 6750; RFC 8707
/// §2 for the audience) with Microsoft.IdentityModel's <see cref="JsonWebTokenHandler"/> (opaque
/// tokens by introspection, RFC 7662, when <see cref="ServerAuthenticationOptions.Introspection"/> is on), and knows
/// its Protected Resource Metadata (RFC 9728) and challenges. Its settings are fixed: it is rebuilt
/// by <see cref="BearerAuthentication"/> when the configuration changes, which empties its
/// <see cref="ValidatedTokenCache"/>. Thread-safe.
/// </summary>
internal sealed class ServerBearerAuthenticator
{
    /// <summary>JWS algorithms accepted: asymmetric only (no <c>none</c>, no shared-secret HMAC).</summary>
    public static readonly IReadOnlyList<string> Algorithms =
        ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

    private static readonly JsonWebTokenHandler Handler = new();
    private readonly TokenValidationParameters _parameters;
    private readonly BaseConfigurationManager _keys;
    private readonly string _scopeParameter;
    private readonly Dictionary<string, string[]> _implied;
    private readonly OperationScopeRule[] _operationScopes;
    private readonly ValidatedTokenCache _validated;
    private readonly HttpClient? _http;
    private readonly ClientAssertionSigner? _assertions;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Task<BearerResult>> _introspecting = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (BearerResult Result, DateTimeOffset Until)> _refused = new(StringComparer.Ordinal);
    private long _validations;
    private int _introspectionsInFlight;

    /// <summary>Builds the authenticator of <paramref name="server"/> over a shared key source.</summary>
    /// <param name="server">The MCP server's name.</param>
    /// <param name="publicPath">The server's path on the edge.</param>
    /// <param name="options">Its validated, enabled settings.</param>
    /// <param name="keys">The issuer's metadata and keys (shared by servers of one issuer).</param>
    /// <param name="time">The clock of the validated-token cache and of remembered introspection refusals.</param>
    /// <param name="http">The client for token introspection (<see cref="ServerAuthenticationOptions.Introspection"/>); null when it is off.</param>
    /// <param name="logger">For the introspection client key (<c>private_key_jwt</c>): renewed, or not loaded.</param>
    public ServerBearerAuthenticator(string server, string publicPath, ServerAuthenticationOptions options, BaseConfigurationManager keys, TimeProvider time, HttpClient? http = null, ILogger? logger = null)
    {
        _validated = new ValidatedTokenCache(time);
        _http = options.Introspection.IsEnabled ? http : null;
        if (options.Introspection is { IsEnabled: true, ClientAuthentication: "private_key_jwt", PrivateKeyFile: { } keyFile } introspection)
        {
            _assertions = new ClientAssertionSigner(keyFile, introspection.ClientId!, introspection.AssertionAudience ?? options.Issuer!, introspection.KeyId, time,
                logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        }
        _time = time;
        Server = server;
        Options = options;
        _keys = keys;
        var resource = new Uri(options.Resource!);
        _parameters = new TokenValidationParameters
        {
            ValidIssuer = options.Issuer,
            ValidAudiences = options.Audiences.Count > 0 ? options.Audiences : [options.Resource!],
            ValidateLifetime = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ClockSkew = options.ClockSkew,
            ValidAlgorithms = Algorithms,
            NameClaimType = options.PrincipalClaim,
            AuthenticationType = "Bearer",
            ConfigurationManager = keys,
        };
        _scopeParameter = options.Scopes.Count > 0 ? $", scope=\"{string.Join(' ', options.Scopes)}\"" : "";
        _implied = options.ImpliedScopes.GroupBy(step => step.Scope, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.SelectMany(step => step.Implies).Distinct(StringComparer.Ordinal).ToArray(), StringComparer.Ordinal);
        _operationScopes = options.OperationScopes.Select(rule => new OperationScopeRule(rule)).ToArray();

        // RFC 9728 §3.1: the well-known segment goes between the host and the resource's path.
        var resourcePath = resource.AbsolutePath.TrimEnd('/');
        MetadataUrl = resource.GetLeftPart(UriPartial.Authority) + ProtectedResourceMetadata.WellKnownPrefix + resourcePath;
        MetadataPaths = new[] { ProtectedResourceMetadata.WellKnownPrefix + resourcePath, ProtectedResourceMetadata.WellKnownPrefix + publicPath }
            .Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        MetadataDocument = ProtectedResourceMetadata.Document(server, options);
    }

    /// <summary>The MCP server's name.</summary>
    public string Server { get; }

    /// <summary>The settings it was built from.</summary>
    public ServerAuthenticationOptions Options { get; }

    /// <summary>The absolute URL of the Protected Resource Metadata, for <c>resource_metadata</c> (RFC 9728 §5.1).</summary>
    public string MetadataUrl { get; }

    /// <summary>The paths on the edge that serve the metadata: the one under <see cref="ServerAuthenticationOptions.Resource"/>'s path and the one under the server's path.</summary>
    public IReadOnlyList<string> MetadataPaths { get; }

    /// <summary>True when some operations need scopes beyond <see cref="ServerAuthenticationOptions.Scopes"/> (<see cref="ServerAuthenticationOptions.OperationScopes"/>).</summary>
    public bool HasOperationScopes => _operationScopes.Length > 0;

    /// <summary>Whether tokens that passed are remembered (default true; false in the benchmark of a first validation).</summary>
    internal bool CacheValidated { get; init; } = true;

    /// <summary>How many tokens were validated cryptographically (cache misses), for tests.</summary>
    internal long Validations => Interlocked.Read(ref _validations);

    /// <summary>The Protected Resource Metadata document, UTF-8 JSON (RFC 9728 §2).</summary>
    public ReadOnlyMemory<byte> MetadataDocument { get; }

    /// <summary>
    /// Reads <c>Authorization: Bearer</c> (RFC 6750 §2.1; never the query string, MCP 2026-07-28
    /// "Token Requirements") and validates the token: signature by a key of the issuer's JWK Set
    /// (asymmetric <see cref="Algorithms"/>), <c>iss</c>, <c>aud</c>, <c>exp</c> (required) and
    /// <c>nbf</c> within the clock skew, the principal claim, then the required scopes. A token signed
    /// by a key not yet known fetches the keys again (at most every 30 s). A token that is not a JWT
    /// is introspected when <see cref="ServerAuthenticationOptions.Introspection"/> is on (else it is
    /// refused as malformed). A token that passed is
    /// remembered (<see cref="ValidatedTokenCache"/>) until its <c>exp</c>, at most
    /// <see cref="ValidatedTokenCache.MaxAge"/>: an RS256 check costs about 28 µs and 7.4 KB, ES256 74 µs
    /// (docs/benchmarks.md), and a client sends the same token with every request.
    /// </summary>
    /// <param name="authorization">The request's <c>Authorization</c> header values.</param>
    /// <param name="cancellationToken">The request's abort token.</param>
    public ValueTask<BearerResult> AuthenticateAsync(StringValues authorization, CancellationToken cancellationToken)
    {
        if (authorization.Count == 0)
        {
            return ValueTask.FromResult(new BearerResult(BearerOutcome.Missing, null, "missing", "No bearer token."));
        }
        if (authorization.Count > 1)
        {
            return ValueTask.FromResult(new BearerResult(BearerOutcome.InvalidRequest, null, "invalid_request", "More than one Authorization header."));
        }
        var value = authorization[0] ?? "";
        const string scheme = "Bearer ";
        if (!value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return ValueTask.FromResult(new BearerResult(BearerOutcome.Missing, null, "missing", "The Authorization header is not a Bearer credential."));
        }
        var token = value.AsSpan(scheme.Length).Trim();
        if (token.IsEmpty || token.Contains(' '))
        {
            return ValueTask.FromResult(new BearerResult(BearerOutcome.InvalidRequest, null, "invalid_request", "The Bearer credential is not one token."));
        }
        // A token seen before is looked up by its characters in the header: no string, no task, no validation.
        return CacheValidated && _validated.TryGet(token, out var known)
            ? ValueTask.FromResult(new BearerResult(BearerOutcome.Authenticated, known, "ok", ""))
            : ValidateAsync(token.ToString(), cancellationToken);
    }

    private async ValueTask<BearerResult> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        if (_http is not null && !Handler.CanReadToken(token))
        {
            return await IntrospectOnceAsync(token, cancellationToken);
        }
        try
        {
            // Fetched here first so that an unreachable authorization server is a 503, not a token refused for want of keys.
            await _keys.GetBaseConfigurationAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // IdentityModel's own message hides the address (PII logging is off); the cause underneath says what failed.
            return new(BearerOutcome.Unavailable, null, "unavailable", "The authorization server's metadata or keys could not be fetched.",
                e.InnerException?.Message ?? e.Message);
        }

        Interlocked.Increment(ref _validations);
        var result = await Handler.ValidateTokenAsync(token, _parameters);
        if (!result.IsValid)
        {
            var (reason, description) = Describe(result.Exception);
            return new(BearerOutcome.InvalidToken, null, reason, description);
        }
        return Accept(token, result.ClaimsIdentity, result.SecurityToken.ValidTo);
    }

    /// <summary>The checks after the token itself was found good: a principal, the server's scopes; then the token is remembered until <paramref name="expiresUtc"/>.</summary>
    private BearerResult Accept(string token, ClaimsIdentity identity, DateTime expiresUtc)
    {
        if (string.IsNullOrEmpty(identity.Name))
        {
            return new(BearerOutcome.InvalidToken, null, "no_principal", "The access token names no principal.");
        }
        var granted = GrantedScopes(identity);
        if (!Options.Scopes.TrueForAll(granted.Contains))
        {
            return new(BearerOutcome.InsufficientScope, null, "insufficient_scope", "The access token lacks a required scope.");
        }
        var principal = new BearerPrincipal(identity, granted);
        if (CacheValidated)
        {
            _validated.Add(token, principal, expiresUtc);
        }
        return new(BearerOutcome.Authenticated, principal, "ok", "");
    }

    /// <summary>The <see cref="BearerResult.Reason"/> of a request refused because <see cref="TokenIntrospectionOptions.MaxConcurrent"/> calls are in flight.</summary>
    public const string IntrospectionBusy = "introspection_busy";

    /// <summary>
    /// Introspects an opaque token, once for all the requests that bring it at the same time: the
    /// first starts the call (not cancelled by its own client leaving), the others wait for its result.
    /// A token that would start a call beyond <see cref="TokenIntrospectionOptions.MaxConcurrent"/> is
    /// <see cref="BearerOutcome.Unavailable"/> (<see cref="IntrospectionBusy"/>) without a call.
    /// </summary>
    private async ValueTask<BearerResult> IntrospectOnceAsync(string token, CancellationToken cancellationToken)
    {
        if (_refused.TryGetValue(token, out var refused) && _time.GetUtcNow() < refused.Until)
        {
            return refused.Result; // a client retrying a revoked token does not reach the authorization server each time
        }
        var mine = new TaskCompletionSource<BearerResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = _introspecting.GetOrAdd(token, mine.Task);
        if (running != mine.Task)
        {
            return await running.WaitAsync(cancellationToken);
        }
        var slot = Interlocked.Increment(ref _introspectionsInFlight) <= Options.Introspection.MaxConcurrent;
        try
        {
            var result = slot ? await IntrospectAsync(token)
                : new(BearerOutcome.Unavailable, null, IntrospectionBusy, "The authorization server is being asked about too many access tokens at once.",
                    $"{Options.Introspection.MaxConcurrent} introspections are in flight (Introspection:MaxConcurrent)");
            if (result.Outcome is BearerOutcome.InvalidToken or BearerOutcome.InsufficientScope)
            {
                RememberRefusal(token, result);
            }
            mine.SetResult(result);
            return result;
        }
        catch (Exception e)
        {
            mine.SetException(e);
            throw;
        }
        finally
        {
            Interlocked.Decrement(ref _introspectionsInFlight);
            _introspecting.TryRemove(new KeyValuePair<string, Task<BearerResult>>(token, mine.Task));
        }
    }

    /// <summary>How long an introspected token that was refused (not active, another audience, …) is refused again without asking: 10 s.</summary>
    public static readonly TimeSpan RefusalMemory = TimeSpan.FromSeconds(10);

    /// <summary>Remembers a refused opaque token for <see cref="RefusalMemory"/>; at most <see cref="ValidatedTokenCache.MaxEntries"/> (when full, all go).</summary>
    private void RememberRefusal(string token, BearerResult result)
    {
        if (_refused.Count >= ValidatedTokenCache.MaxEntries)
        {
            _refused.Clear();
        }
        _refused[token] = (result, _time.GetUtcNow() + RefusalMemory);
    }

    /// <summary>
    /// RFC 7662: POSTs the token to the introspection endpoint as the configured client and checks
    /// the answer as a JWT's claims are checked: <c>active</c> true, <c>iss</c> (when given) the
    /// issuer, <c>aud</c> one of the audiences (required: MCP 2026-07-28 "Token Handling" asks for
    /// audience validation), <c>exp</c>/<c>nbf</c> within the clock skew, the principal claim, the
    /// scopes. An endpoint that cannot be reached or does not answer 200 with JSON is
    /// <see cref="BearerOutcome.Unavailable"/>.
    /// </summary>
    private async Task<BearerResult> IntrospectAsync(string token)
    {
        var settings = Options.Introspection;
        string? endpoint = settings.Endpoint;
        byte[] answer;
        try
        {
            if (string.IsNullOrEmpty(endpoint))
            {
                var metadata = await _keys.GetBaseConfigurationAsync(CancellationToken.None) as OpenIdConnectConfiguration;
                endpoint = metadata?.IntrospectionEndpoint;
                if (string.IsNullOrEmpty(endpoint))
                {
                    return Unavailable("the authorization server's metadata names no introspection_endpoint; set Introspection:Endpoint");
                }
            }
            List<KeyValuePair<string, string>> form = [new("token", token), new("token_type_hint", "access_token")];
            if (_assertions is not null)
            {
                // RFC 7523 §2.2: the client authenticates with a JWT in the form; no Authorization header.
                if (_assertions.Create(out var keyProblem) is not { } assertion)
                {
                    return Unavailable(keyProblem!);
                }
                form.Add(new("client_id", settings.ClientId!));
                form.Add(new("client_assertion_type", ClientAssertionSigner.AssertionType));
                form.Add(new("client_assertion", assertion));
            }
            var inForm = settings.ClientAuthentication == "client_secret_post";
            if (inForm)
            {
                // RFC 6749 §2.3.1: the same credentials as form parameters, no Authorization header.
                form.Add(new("client_id", settings.ClientId!));
                form.Add(new("client_secret", settings.ClientSecret ?? ""));
            }
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new FormUrlEncodedContent(form) };
            if (_assertions is null && !inForm)
            {
                // RFC 6749 §2.3.1: client id and secret form-urlencoded, then Basic.
                var credentials = Uri.EscapeDataString(settings.ClientId!) + ":" + Uri.EscapeDataString(settings.ClientSecret ?? "");
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(credentials)));
            }
            request.Headers.Accept.Add(new System.Net.Http.Headers.MediaTypeWithQualityHeaderValue("application/json"));
            using var response = await _http!.SendAsync(request, CancellationToken.None);
            if (!response.IsSuccessStatusCode)
            {
                return Unavailable($"the introspection endpoint {endpoint} answered HTTP {(int)response.StatusCode}");
            }
            answer = await response.Content.ReadAsByteArrayAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or InvalidOperationException)
        {
            var cause = e.InnerException?.Message ?? e.Message;
            return Unavailable(endpoint is null
                ? $"the metadata naming the introspection endpoint could not be fetched: {cause}"
                : $"the introspection endpoint {endpoint} could not be reached: {cause}");
        }

        Interlocked.Increment(ref _validations);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(answer);
        }
        catch (JsonException)
        {
            return Unavailable($"the introspection endpoint {endpoint} answered something that is not JSON");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Unavailable($"the introspection endpoint {endpoint} answered something that is not a JSON object");
            }
            if (!root.TryGetProperty("active", out var active) || active.ValueKind != JsonValueKind.True)
            {
                return new(BearerOutcome.InvalidToken, null, "inactive", "The access token is not active.");
            }
            if (root.TryGetProperty("iss", out var iss) && !(iss.ValueKind == JsonValueKind.String && iss.GetString() == Options.Issuer))
            {
                return new(BearerOutcome.InvalidToken, null, "issuer", "The access token was not issued by this MCP server's authorization server.");
            }
            var audiences = Strings(root, "aud");
            if (!audiences.Any(aud => _parameters.ValidAudiences.Any(valid => string.Equals(aud.TrimEnd('/'), valid.TrimEnd('/'), StringComparison.Ordinal))))
            {
                return new(BearerOutcome.InvalidToken, null, "audience", "The access token was not issued for this MCP server.");
            }
            var now = DateTimeOffset.UtcNow; // the clock JWT lifetimes are checked against (IdentityModel's)
            DateTimeOffset? expires = root.TryGetProperty("exp", out var exp) && exp.TryGetInt64(out var expSeconds) ? DateTimeOffset.FromUnixTimeSeconds(expSeconds) : null;
            if (expires is { } until && until + Options.ClockSkew <= now)
            {
                return new(BearerOutcome.InvalidToken, null, "expired", "The access token expired.");
            }
            if (root.TryGetProperty("nbf", out var nbf) && nbf.TryGetInt64(out var nbfSeconds) && DateTimeOffset.FromUnixTimeSeconds(nbfSeconds) - Options.ClockSkew > now)
            {
                return new(BearerOutcome.InvalidToken, null, "not_yet_valid", "The access token is not valid yet.");
            }
            var claims = new List<Claim>();
            if (root.TryGetProperty(Options.PrincipalClaim, out var name) && name.ValueKind == JsonValueKind.String)
            {
                claims.Add(new Claim(Options.PrincipalClaim, name.GetString()!));
            }
            if (root.TryGetProperty("scope", out var scope) && scope.ValueKind == JsonValueKind.String)
            {
                claims.Add(new Claim("scope", scope.GetString()!));
            }
            claims.AddRange(audiences.Select(aud => new Claim("aud", aud)));
            var identity = new ClaimsIdentity(claims, "Bearer", Options.PrincipalClaim, null);
            return Accept(token, identity, (expires ?? DateTimeOffset.MaxValue).UtcDateTime); // the cache keeps it at most a minute
        }

        static BearerResult Unavailable(string detail) =>
            new(BearerOutcome.Unavailable, null, "unavailable", "The authorization server could not be asked about the access token.", detail);

        static IEnumerable<string> Strings(JsonElement root, string property) =>
            !root.TryGetProperty(property, out var value) ? []
            : value.ValueKind == JsonValueKind.String ? [value.GetString()!]
            : value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToArray()
            : [];
    }

    /// <summary>
    /// The <c>WWW-Authenticate</c> value for a refusal (RFC 6750 §3; RFC 9728 §5.1;
    /// MCP 2026-07-28 "Scope Selection Strategy", "Runtime Insufficient Scope Errors"):
    /// <c>Bearer resource_metadata="…"</c>, with <c>error</c> and <c>error_description</c> unless the
    /// token was missing, and <c>scope</c> when scopes are required.
    /// </summary>
    public string Challenge(BearerResult result)
    {
        var error = result.Outcome switch
        {
            BearerOutcome.InvalidRequest => "invalid_request",
            BearerOutcome.InvalidToken => "invalid_token",
            BearerOutcome.InsufficientScope => "insufficient_scope",
            _ => null,
        };
        return error is null
            ? $"Bearer resource_metadata=\"{MetadataUrl}\"{_scopeParameter}"
            : $"Bearer error=\"{error}\", error_description=\"{result.Description}\", resource_metadata=\"{MetadataUrl}\"{_scopeParameter}";
    }

    /// <summary>
    /// Adds to <paramref name="required"/> the scopes that <see cref="ServerAuthenticationOptions.OperationScopes"/>
    /// ask of a message with <paramref name="method"/> and <paramref name="name"/> (its tool, prompt or
    /// resource URI, or null), each once, in the order of the rules.
    /// </summary>
    public void AddOperationScopes(string method, string? name, List<string> required)
    {
        foreach (var rule in _operationScopes)
        {
            if (rule.Matches(method, name))
            {
                foreach (var scope in rule.Scopes)
                {
                    if (!required.Contains(scope))
                    {
                        required.Add(scope);
                    }
                }
            }
        }
    }

    /// <summary>True when <paramref name="principal"/> holds every scope <see cref="ServerAuthenticationOptions.OperationScopes"/> ask for a <c>tools/call</c> of <paramref name="tool"/>.</summary>
    public bool MayCall(BearerPrincipal principal, string tool)
    {
        foreach (var rule in _operationScopes)
        {
            if (rule.Matches(McpMethods.ToolsCall, tool) && !rule.Scopes.TrueForAll(principal.Scopes.Contains))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// The <c>WWW-Authenticate</c> value of a 403 for an operation whose scopes the token lacks (RFC 6750
    /// §3.1; MCP 2026-07-28 "Scope Challenge Handling"): <c>error="insufficient_scope"</c> and, in one
    /// challenge, every scope the operation needs (<paramref name="scopes"/>: the server's own and the operation's).
    /// </summary>
    public string StepUpChallenge(IEnumerable<string> scopes) =>
        $"Bearer error=\"insufficient_scope\", error_description=\"This operation needs a scope the access token lacks.\", resource_metadata=\"{MetadataUrl}\", scope=\"{string.Join(' ', scopes)}\"";

    /// <summary>The scopes of the token's <c>scope</c>/<c>scp</c> claims and, transitively, every scope they imply.</summary>
    private HashSet<string> GrantedScopes(ClaimsIdentity identity)
    {
        var granted = new HashSet<string>(StringComparer.Ordinal);
        foreach (var claim in identity.Claims)
        {
            // "scope" is a space-separated string (RFC 9068 §2.2.3); "scp" is that or a JSON array (one claim per element).
            if (claim.Type is "scope" or "scp")
            {
                granted.UnionWith(claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            }
        }
        if (_implied.Count > 0)
        {
            var pending = new Stack<string>(granted);
            while (pending.TryPop(out var scope))
            {
                foreach (var implied in _implied.GetValueOrDefault(scope, []))
                {
                    if (granted.Add(implied))
                    {
                        pending.Push(implied);
                    }
                }
            }
        }
        return granted;
    }

    /// <summary>A compiled <see cref="OperationScopeOptions"/>.</summary>
    private sealed class OperationScopeRule(OperationScopeOptions options)
    {
        private readonly System.Text.RegularExpressions.Regex _method = Glob.Compile(options.Method);
        private readonly System.Text.RegularExpressions.Regex? _tool = options.Tool == "*" ? null : Glob.Compile(options.Tool);

        public List<string> Scopes { get; } = options.Scopes;

        public bool Matches(string method, string? name) => _method.IsMatch(method) && (_tool is null || (name is not null && _tool.IsMatch(name)));
    }

    private static (string Reason, string Description) Describe(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException => ("expired", "The access token expired."),
        SecurityTokenNotYetValidException => ("not_yet_valid", "The access token is not valid yet."),
        SecurityTokenNoExpirationException => ("no_expiry", "The access token has no expiry."),
        SecurityTokenInvalidAudienceException => ("audience", "The access token was not issued for this MCP server."),
        SecurityTokenInvalidIssuerException => ("issuer", "The access token was not issued by this MCP server's authorization server."),
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException or SecurityTokenInvalidAlgorithmException
            => ("signature", "The access token's signature does not verify."),
        SecurityTokenMalformedException or ArgumentException => ("malformed", "The access token is not a JWT."),
        _ => ("invalid", "The access token is not valid."),
    };
}

/// <summary>
/// Tokens of one MCP server that passed every check, by their exact text, each until its
/// <c>exp</c> or for <see cref="MaxAge"/>, whichever comes first; the principal is shared by the
/// requests that carry it. At most <see cref="MaxEntries"/>: when full, expired entries go, and if
/// none has, all do. Emptied by a reload (a new authenticator). A signing key withdrawn by the
/// authorization server stops a cached token after at most <see cref="MaxAge"/>. Thread-safe.
/// </summary>
internal sealed class ValidatedTokenCache
{
    /// <summary>The longest a validated token is taken without validating it again: 60 s.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(60);

    /// <summary>Most tokens remembered per server.</summary>
    public const int MaxEntries = 4096;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Entry>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private readonly TimeProvider _time;
    private int _count;

    /// <summary>An empty cache on <paramref name="time"/>.</summary>
    public ValidatedTokenCache(TimeProvider time)
    {
        _time = time;
        _bySpan = _entries.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>The principal of <paramref name="token"/> when it passed before and its time is not up.</summary>
    public bool TryGet(ReadOnlySpan<char> token, out ClaimsPrincipal principal)
    {
        if (_bySpan.TryGetValue(token, out var entry) && _time.GetUtcNow() < entry.Until)
        {
            principal = entry.Principal;
            return true;
        }
        principal = null!;
        return false;
    }

    /// <summary>Remembers a token that passed, until <paramref name="expiresUtc"/> (its <c>exp</c>) or <see cref="MaxAge"/> from now.</summary>
    public void Add(string token, ClaimsPrincipal principal, DateTime expiresUtc)
    {
        var now = _time.GetUtcNow();
        var until = new DateTimeOffset(DateTime.SpecifyKind(expiresUtc, DateTimeKind.Utc));
        if (until > now + MaxAge)
        {
            until = now + MaxAge;
        }
        if (Volatile.Read(ref _count) >= MaxEntries)
        {
            foreach (var (key, entry) in _entries)
            {
                if (entry.Until <= now && _entries.TryRemove(key, out _))
                {
                    Interlocked.Decrement(ref _count);
                }
            }
            if (Volatile.Read(ref _count) >= MaxEntries)
            {
                _entries.Clear();
                Volatile.Write(ref _count, 0);
            }
        }
        if (_entries.TryAdd(token, new Entry(principal, until)))
        {
            Interlocked.Increment(ref _count);
        }
    }

    private sealed record Entry(ClaimsPrincipal Principal, DateTimeOffset Until);
}

/// <summary>
/// The Protected Resource Metadata (RFC 9728) the edge serves for each MCP server with
/// authentication, at <see cref="WellKnownPrefix"/> followed by the resource's path (§3.1).
/// </summary>
public static class ProtectedResourceMetadata
{
    /// <summary><c>/.well-known/oauth-protected-resource</c> (RFC 9728 §3).</summary>
    public const string WellKnownPrefix = "/.well-known/oauth-protected-resource";

    /// <summary>
    /// The metadata document (RFC 9728 §2): <c>resource</c>, <c>authorization_servers</c> (the issuer;
    /// MCP 2026-07-28 <c>authorization-server-discovery.mdx</c>: at least one), <c>scopes_supported</c>
    /// when scopes are required, <c>bearer_methods_supported: ["header"]</c> and <c>resource_name</c>.
    /// </summary>
    /// <param name="server">The MCP server's name (<c>resource_name</c>).</param>
    /// <param name="options">Its enabled authentication settings.</param>
    public static byte[] Document(string server, ServerAuthenticationOptions options)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("resource", options.Resource);
            writer.WriteStartArray("authorization_servers");
            writer.WriteStringValue(options.Issuer);
            writer.WriteEndArray();
            if (options.Scopes.Count > 0)
            {
                writer.WriteStartArray("scopes_supported");
                options.Scopes.ForEach(writer.WriteStringValue);
                writer.WriteEndArray();
            }
            writer.WriteStartArray("bearer_methods_supported");
            writer.WriteStringValue("header");
            writer.WriteEndArray();
            writer.WriteString("resource_name", server);
            writer.WriteEndObject();
        }
        return buffer.ToArray();
    }
}

/// <summary>
/// Reads an authorization server's metadata and JWK Set for <see cref="ConfigurationManager{T}"/>:
/// the configured <c>MetadataAddress</c>, or the MCP discovery order from the issuer (MCP 2026-07-28
/// <c>basic/authorization/authorization-server-discovery.mdx</c>: RFC 8414 <c>oauth-authorization-server</c>
/// with path insertion, OpenID Connect <c>openid-configuration</c> with path insertion, then appended),
/// or only the keys from <c>JwksUri</c>. A metadata document whose <c>issuer</c> differs from the
/// configured one is refused (RFC 8414 §3.3).
/// </summary>
internal sealed class AuthorizationServerMetadataRetriever(ServerAuthenticationOptions options) : IConfigurationRetriever<OpenIdConnectConfiguration>
{
    /// <summary>The metadata URLs tried in order (empty when only <c>JwksUri</c> is used).</summary>
    public IReadOnlyList<string> Candidates { get; } = MetadataCandidates(options);

    /// <summary>A label for the key source (the first address it reads).</summary>
    public string Address => string.IsNullOrEmpty(options.JwksUri) ? Candidates[0] : options.JwksUri;

    /// <inheritdoc />
    public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(string address, IDocumentRetriever retriever, CancellationToken cancel)
    {
        if (!string.IsNullOrEmpty(options.JwksUri))
        {
            var keysOnly = new OpenIdConnectConfiguration { Issuer = options.Issuer, JwksUri = options.JwksUri };
            await AddKeysAsync(keysOnly, retriever, cancel);
            return keysOnly;
        }
        Exception? last = null;
        foreach (var candidate in Candidates)
        {
            string document;
            try
            {
                document = await retriever.GetDocumentAsync(candidate, cancel);
            }
            catch (IOException e)
            {
                last = e; // not found there (or not reachable): the next place in the discovery order
                continue;
            }
            var configuration = OpenIdConnectConfiguration.Create(document);
            if (!string.Equals(configuration.Issuer, options.Issuer, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"The metadata at {candidate} names the issuer '{configuration.Issuer}', not '{options.Issuer}' (RFC 8414 §3.3).");
            }
            if (string.IsNullOrEmpty(configuration.JwksUri))
            {
                throw new InvalidOperationException($"The metadata at {candidate} has no jwks_uri.");
            }
            await AddKeysAsync(configuration, retriever, cancel);
            return configuration;
        }
        throw new IOException($"No authorization server metadata found at {string.Join(", ", Candidates)}.", last);
    }

    private static async Task AddKeysAsync(OpenIdConnectConfiguration configuration, IDocumentRetriever retriever, CancellationToken cancel)
    {
        configuration.JsonWebKeySet = new JsonWebKeySet(await retriever.GetDocumentAsync(configuration.JwksUri, cancel));
        foreach (var key in configuration.JsonWebKeySet.GetSigningKeys())
        {
            configuration.SigningKeys.Add(key);
        }
    }

    /// <summary>The discovery order for <paramref name="options"/>: its <c>MetadataAddress</c> alone, else the three (issuer with a path) or two (without) well-known URLs.</summary>
    internal static IReadOnlyList<string> MetadataCandidates(ServerAuthenticationOptions options)
    {
        if (!string.IsNullOrEmpty(options.JwksUri))
        {
            return [];
        }
        if (!string.IsNullOrEmpty(options.MetadataAddress))
        {
            return [options.MetadataAddress];
        }
        var issuer = new Uri(options.Issuer!);
        var origin = issuer.GetLeftPart(UriPartial.Authority);
        var path = issuer.AbsolutePath.TrimEnd('/');
        return path.Length == 0
            ? [origin + "/.well-known/oauth-authorization-server", origin + "/.well-known/openid-configuration"]
            : [origin + "/.well-known/oauth-authorization-server" + path, origin + "/.well-known/openid-configuration" + path, origin + path + "/.well-known/openid-configuration"];
    }
}

/// <summary>
/// The bearer authenticators of every MCP server with <c>Authentication</c>, rebuilt when the
/// configuration in force changes (<see cref="McpEdgeConfigState.Current"/>). Servers of one issuer (and key source) share one cached copy of its
/// metadata and keys (<see cref="ConfigurationManager{T}"/>), kept across reloads.
/// </summary>
public sealed class BearerAuthentication : IDisposable
{
    /// <summary>The least time between two key fetches forced by a token signed by an unknown key.</summary>
    public static readonly TimeSpan ForcedRefreshInterval = TimeSpan.FromSeconds(30);

    /// <summary>
    /// IdentityModel 8's switch that makes a due refresh of metadata and keys wait for the fetch.
    /// Without it the refresh runs in the background and the request that asked for it (a token
    /// signed by a key just rotated in) is validated against the old keys: a 401 to a client whose
    /// token is good, which sends it back to its authorization server. Set unless the runtime
    /// configuration already says otherwise. The wait is one fetch (at most <see cref="FetchTimeout"/>),
    /// once per refresh.
    /// </summary>
    public const string BlockingRefreshSwitch = "Switch.Microsoft.IdentityModel.UpdateConfigAsBlocking";

    /// <summary>The longest one fetch of metadata or keys may take.</summary>
    public static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(5);

    private readonly McpEdgeConfigState _config;
    private readonly TimeProvider _time;
    private readonly ILogger? _logger;
    private readonly HttpClient _http;
    private readonly Lock _lock = new();
    private Dictionary<string, ConfigurationManager<OpenIdConnectConfiguration>> _keySources = new(StringComparer.Ordinal);
    private Snapshot _current;

    static BearerAuthentication()
    {
        if (!AppContext.TryGetSwitch(BlockingRefreshSwitch, out _))
        {
            AppContext.SetSwitch(BlockingRefreshSwitch, true);
        }
    }

    /// <summary>Builds the authenticators for the configuration in force; a reload is picked up on the next request after it.</summary>
    /// <param name="config">The configuration in force.</param>
    /// <param name="time">The clock of the validated-token caches and of introspection client assertions.</param>
    /// <param name="logger">For the introspection client keys (<see cref="ClientAssertionSigner"/>).</param>
    public BearerAuthentication(McpEdgeConfigState config, TimeProvider time, ILogger<BearerAuthentication>? logger = null)
    {
        _config = config;
        _time = time;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = FetchTimeout, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = FetchTimeout,
            MaxResponseContentBufferSize = 1024 * 1024,
        };
        _current = Build(config.Current);
    }

    /// <summary>The authenticator of <paramref name="server"/>, or null when it takes requests without a token.</summary>
    internal ServerBearerAuthenticator? For(string server) => Current.ByServer.GetValueOrDefault(server);

    /// <summary>The authenticator whose metadata is served at <paramref name="path"/>, or null.</summary>
    internal ServerBearerAuthenticator? ForMetadataPath(string path) => Current.ByMetadataPath.GetValueOrDefault(path.TrimEnd('/'));

    /// <summary>The authenticated principal's name (the configured claim of its token), or null for a request without one.</summary>
    public static string? PrincipalOf(HttpContext context) =>
        UserOf(context)?.Identity is { IsAuthenticated: true, Name: { Length: > 0 } name } ? name : null;

    /// <summary>
    /// The request's user as set by authentication, or null. Unlike <see cref="HttpContext.User"/>,
    /// whose getter creates an anonymous principal (and its feature) for every request that has none,
    /// this allocates nothing on the request path of a server without authentication.
    /// </summary>
    public static System.Security.Claims.ClaimsPrincipal? UserOf(HttpContext context) =>
        context.Features.Get<Microsoft.AspNetCore.Http.Features.Authentication.IHttpAuthenticationFeature>()?.User;

    /// <summary>The snapshot of the options in force, rebuilt (under a lock) the first time it is asked for after a reload.</summary>
    private Snapshot Current
    {
        get
        {
            var current = _current;
            if (ReferenceEquals(current.Source, _config.Current))
            {
                return current;
            }
            lock (_lock)
            {
                if (!ReferenceEquals(_current.Source, _config.Current))
                {
                    _current = Build(_config.Current);
                }
                return _current;
            }
        }
    }

    private Snapshot Build(McpEdgeOptions options)
    {
        var byServer = new Dictionary<string, ServerBearerAuthenticator>(StringComparer.OrdinalIgnoreCase);
        var byPath = new Dictionary<string, ServerBearerAuthenticator>(StringComparer.OrdinalIgnoreCase);
        var sources = new Dictionary<string, ConfigurationManager<OpenIdConnectConfiguration>>(StringComparer.Ordinal);
        foreach (var (name, server) in options.Servers)
        {
            var auth = server.Authentication;
            if (!auth.IsEnabled)
            {
                continue;
            }
            var retriever = new AuthorizationServerMetadataRetriever(auth);
            var sourceKey = string.Join('\n', auth.Issuer, retriever.Address, auth.RequireHttpsMetadata, auth.KeysRefreshInterval);
            if (!sources.TryGetValue(sourceKey, out var keys) && !_keySources.TryGetValue(sourceKey, out keys))
            {
                keys = new ConfigurationManager<OpenIdConnectConfiguration>(retriever.Address, retriever, new HttpDocumentRetriever(_http) { RequireHttps = auth.RequireHttpsMetadata })
                {
                    AutomaticRefreshInterval = auth.KeysRefreshInterval,
                    RefreshInterval = ForcedRefreshInterval,
                };
            }
            sources[sourceKey] = keys;
            var authenticator = new ServerBearerAuthenticator(name, McpProxyConfigBuilder.PublicPath(name, server), auth, keys, _time, _http, _logger);
            byServer[name] = authenticator;
            foreach (var path in authenticator.MetadataPaths)
            {
                byPath.TryAdd(path, authenticator);
            }
        }
        _keySources = sources; // sources no server uses any more are dropped
        return new Snapshot(options, byServer, byPath);
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private sealed record Snapshot(McpEdgeOptions Source, Dictionary<string, ServerBearerAuthenticator> ByServer, Dictionary<string, ServerBearerAuthenticator> ByMetadataPath);
}
