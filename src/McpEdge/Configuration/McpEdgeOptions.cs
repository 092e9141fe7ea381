namespace McpEdge.Configuration;

/// <summary>
/// The <c>McpEdge</c> configuration section: the MCP servers the edge fronts, how sessions are
/// sealed and which hosts and origins may call it. Bound from JSON with environment-variable
/// overrides in the usual ASP.NET Core way (<c>McpEdge__Servers__github__Upstreams__0=...</c>).
/// </summary>
public sealed record McpEdgeOptions
{
    /// <summary>The configuration section name, <c>McpEdge</c>.</summary>
    public const string SectionName = "McpEdge";

    /// <summary>The MCP servers, keyed by name. The name is part of the default public path and of every route and cluster id.</summary>
    public Dictionary<string, McpServerOptions> Servers { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How session ids are sealed. See <see cref="McpSessionOptions"/>.</summary>
    public McpSessionOptions Sessions { get; init; } = new();

    /// <summary>The DNS-rebinding guard. See <see cref="SecurityOptions"/>.</summary>
    public SecurityOptions Security { get; init; } = new();

    /// <summary>SSE relay, stream limits and graceful drain. See <see cref="StreamingOptions"/>.</summary>
    public StreamingOptions Streaming { get; init; } = new();

    /// <summary>Limits on JSON-RPC messages POSTed to MCP servers.</summary>
    public MessageOptions Messages { get; init; } = new();

    /// <summary>Rate-limit rules, tried in order; every matching rule must grant a permit. See <see cref="RateLimitRuleOptions"/>.</summary>
    public List<RateLimitRuleOptions> RateLimits { get; init; } = [];

    /// <summary>The list cache's memory. See <see cref="CachingOptions"/>; per-server settings are in <see cref="McpServerOptions.Cache"/>.</summary>
    public CachingOptions Caching { get; init; } = new();

    /// <summary>Traces and OTLP export. See <see cref="TelemetryOptions"/>.</summary>
    public TelemetryOptions Telemetry { get; init; } = new();

    /// <summary>The certificate of the edge's HTTPS listeners, reloaded in place. See <see cref="TlsOptions"/>.</summary>
    public TlsOptions Tls { get; init; } = new();

    /// <summary>A listener of its own for health, readiness and metrics. See <see cref="AdminOptions"/>.</summary>
    public AdminOptions Admin { get; init; } = new();
}

/// <summary>
/// The admin listener: a cleartext HTTP port that serves only the edge's own endpoints
/// (<c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>, <c>/edge/clusters</c>) and no MCP server, as
/// Envoy's admin port or Istio's 15020 do. Kubelet probes and Prometheus reach it without the client
/// certificate the traffic listener may require, and <c>/metrics</c> and <c>/edge/clusters</c> leave
/// the traffic listener. Bound at start-up with the listeners of <c>--urls</c>; a change needs a restart.
/// </summary>
public sealed record AdminOptions
{
    /// <summary>
    /// The listener's URL, <c>http://{host}:{port}</c> with a port of its own, not one of <c>--urls</c>:
    /// <c>http://+:9090</c> (every address), <c>http://127.0.0.1:9090</c> (this host only). Null (the
    /// default): no admin listener, and the traffic listeners serve the edge's endpoints as before.
    /// </summary>
    public string? Url { get; init; }
}

/// <summary>
/// The certificate and key of every HTTPS listener of the edge (<c>--urls https://+:8443</c> or a
/// <c>Kestrel:Endpoints</c> entry without a certificate of its own), as PEM files: the form
/// cert-manager and most secret stores write (<c>tls.crt</c>, <c>tls.key</c>). The files are
/// compared with what is in use every <see cref="CheckInterval"/>; a changed pair that loads is
/// used for new TLS handshakes at once, while open connections (and their SSE streams) keep theirs.
/// Kestrel's own <c>Certificate:Path</c> instead rebinds the listener when the file changes: measured,
/// new connections were refused for about 5 s and open ones were cut (README, "Listeners: TLS and
/// HTTP/2"). The paths are read at start-up; a change to them needs a restart.
/// </summary>
public sealed record TlsOptions
{
    /// <summary>PEM file with the server certificate first, then its intermediates (sent to clients as the chain). Null: no certificate from McpEdge.</summary>
    public string? CertificateFile { get; init; }

    /// <summary>PEM file with the certificate's private key: unencrypted (PKCS#8 <c>PRIVATE KEY</c>, PKCS#1 <c>RSA PRIVATE KEY</c> or SEC1 <c>EC PRIVATE KEY</c>), or encrypted PKCS#8 (<c>ENCRYPTED PRIVATE KEY</c>) with <see cref="KeyPasswordFile"/>.</summary>
    public string? KeyFile { get; init; }

    /// <summary>A file whose first line is the password of an encrypted <see cref="KeyFile"/> (as nginx's <c>ssl_password_file</c>); reloaded with the key. Null: the key is unencrypted.</summary>
    public string? KeyPasswordFile { get; init; }

    /// <summary>Time between two looks at the files, these and every server's <see cref="McpServerOptions.UpstreamTls"/> files. Default 30 s.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Client certificates on the HTTPS listeners (mutual TLS, RFC 8446 §4.3.2): <c>None</c> (the
    /// default), <c>Allow</c> (a client may present one, which must then chain to
    /// <see cref="ClientCaFile"/>), or <c>Require</c> (a handshake without a valid one fails).
    /// </summary>
    public string ClientCertificateMode { get; init; } = "None";

    /// <summary>
    /// PEM bundle of the CAs client certificates must chain to: its self-signed certificates are the
    /// trust anchors, the others help build chains (intermediates a client does not send). Looked at
    /// every <see cref="CheckInterval"/>: a changed bundle that loads applies to new handshakes, one
    /// that does not is logged and the bundle in use stays. Required unless
    /// <see cref="ClientCertificateMode"/> is <c>None</c>.
    /// </summary>
    public string? ClientCaFile { get; init; }

    /// <summary>
    /// PEM file of certificate revocation lists (<c>-----BEGIN X509 CRL-----</c> blocks, RFC 5280 §5),
    /// each signed by a CA of <see cref="ClientCaFile"/>: a client certificate listed in its issuer's
    /// CRL fails the handshake, and so does one whose issuer has no current CRL in the file (see
    /// <see cref="ClientCrlCheck"/>), as with nginx's <c>ssl_crl</c>. Looked at with the bundle every
    /// <see cref="CheckInterval"/>; a changed file that loads applies to new handshakes, one that does
    /// not is logged and the lists in use stay. Null (the default): revocation is not checked.
    /// Needs <see cref="ClientCertificateMode"/> <c>Allow</c> or <c>Require</c>.
    /// </summary>
    public string? ClientCrlFile { get; init; }

    /// <summary>
    /// Which certificates of a client's chain need a current CRL of their issuer in
    /// <see cref="ClientCrlFile"/>: <c>Chain</c> (the default: the client certificate and every
    /// intermediate, as OpenSSL's <c>X509_V_FLAG_CRL_CHECK_ALL</c>) or <c>Leaf</c> (the client
    /// certificate only, as Envoy's <c>only_verify_leaf_cert_crl</c>, for roots that publish no CRL).
    /// </summary>
    public string ClientCrlCheck { get; init; } = "Chain";
}

/// <summary>
/// Tracing and OpenTelemetry Protocol export. Read at start-up; a change needs a restart.
/// Spans follow the OpenTelemetry semantic conventions for MCP (one span per JSON-RPC message).
/// </summary>
public sealed record TelemetryOptions
{
    /// <summary>Spans per JSON-RPC message (activity source <c>McpEdge</c>), also without OTLP (for an in-process listener). Default true.</summary>
    public bool Traces { get; init; } = true;

    /// <summary>
    /// Also export ASP.NET Core's and HttpClient's per-request instruments
    /// (<see cref="Telemetry.MetricsEndpoint.FrameworkRequestInstruments"/>: <c>http.server.request.duration</c>,
    /// <c>http.client.request.duration</c>, …). Default false: they repeat
    /// <c>mcpedge.request.duration</c> and <c>mcpedge.upstream.duration</c> without the MCP labels, and
    /// recording them costs about a microsecond of CPU per request (docs/benchmarks.md). Connection,
    /// Kestrel and runtime metrics are exported either way.
    /// </summary>
    public bool FrameworkRequestMetrics { get; init; }

    /// <summary>OTLP export; off while <see cref="OtlpOptions.Endpoint"/> is empty.</summary>
    public OtlpOptions Otlp { get; init; } = new();
}

/// <summary>Export of traces and metrics with the OpenTelemetry Protocol (OpenTelemetry.Exporter.OpenTelemetryProtocol 1.20.1).</summary>
public sealed record OtlpOptions
{
    /// <summary>The collector, e.g. <c>http://otel-collector:4317</c> (gRPC) or <c>http://otel-collector:4318</c> (HTTP). Empty: no export.</summary>
    public string? Endpoint { get; init; }

    /// <summary><c>grpc</c> (default) or <c>http/protobuf</c> (the exporter appends <c>/v1/traces</c> and <c>/v1/metrics</c> to the endpoint).</summary>
    public string Protocol { get; init; } = "grpc";

    /// <summary>Export spans. Default true.</summary>
    public bool Traces { get; init; } = true;

    /// <summary>Export the metrics of <c>/metrics</c> as well. Default true.</summary>
    public bool Metrics { get; init; } = true;

    /// <summary>Share of new traces sampled (0–1); a sampled parent (<c>traceparent</c> flag) is always followed. Default 1.</summary>
    public double SamplingRatio { get; init; } = 1.0;

    /// <summary>How often metrics are pushed. Default 15 s.</summary>
    public TimeSpan MetricsInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The <c>service.name</c> resource attribute. Default <c>mcpedge</c>.</summary>
    public string ServiceName { get; init; } = "mcpedge";

    /// <summary>Extra headers for the collector (e.g. an API key): <c>name=value</c> pairs separated by commas, as <c>OTEL_EXPORTER_OTLP_HEADERS</c>.</summary>
    public string? Headers { get; init; }
}

/// <summary>Memory of the list cache (shared by all servers). Read at start-up; a change needs a restart.</summary>
public sealed record CachingOptions
{
    /// <summary>Total size of the cached results, bytes. Past it the least recently used quarter is evicted. Default 64 MiB.</summary>
    public long MaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>The largest upstream answer that is cached, bytes; a larger one passes through uncached. Default 1 MiB.</summary>
    public int MaxEntryBytes { get; init; } = 1024 * 1024;
}

/// <summary>
/// Caching of <c>tools/list</c>, <c>prompts/list</c>, <c>resources/list</c> and
/// <c>resources/templates/list</c> results for one MCP server, per cursor (MCP 2026-07-28
/// server/utilities/caching.mdx). A 2026-07-28 result says its own scope (<c>cacheScope</c>:
/// <c>public</c> → shared by every caller, <c>private</c> → per principal) and freshness
/// (<c>ttlMs</c>, capped by <see cref="MaxTtl"/>; 0 is not cached); older results use
/// <see cref="Scope"/> and <see cref="Ttl"/>.
/// </summary>
public sealed record ListCacheOptions
{
    /// <summary>Cache this server's list results at all. Default true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// Who shares a result that carries no <c>cacheScope</c>: <c>session</c> (default: a server may
    /// list different tools per session), <c>principal</c> (per authenticated user or
    /// <c>Authorization</c> value) or <c>shared</c> (every caller).
    /// </summary>
    public string Scope { get; init; } = "session";

    /// <summary>Freshness of a result that carries no <c>ttlMs</c>. Default 30 s.</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest any result is kept, whatever its <c>ttlMs</c>. Default 5 min.</summary>
    public TimeSpan MaxTtl { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// How a JSON-RPC batch (MCP 2025-03-26 only; later revisions removed batches) is handled for one MCP server.
/// </summary>
public sealed record BatchOptions
{
    /// <summary>
    /// <c>split</c> (default): each element goes upstream as its own message, on the batch's session
    /// and replica, and the edge assembles the answer; <c>passthrough</c>: the batch goes upstream as
    /// it is; <c>reject</c>: 400 with a JSON-RPC error.
    /// </summary>
    public string Mode { get; init; } = "split";

    /// <summary>The most elements a batch may have; a larger one gets 400. Default 100.</summary>
    public int MaxSize { get; init; } = 100;

    /// <summary>How many elements of one batch are upstream at once (split mode). Default 4.</summary>
    public int MaxConcurrency { get; init; } = 4;
}

/// <summary>
/// One rate-limit rule (System.Threading.RateLimiting): which messages it counts (server, method and
/// tool globs with <c>*</c> and <c>?</c>), how clients are told apart (never by session), and the
/// limiter. Responses to server requests, <c>notifications/cancelled</c> and <c>ping</c> are never counted.
/// </summary>
public sealed record RateLimitRuleOptions
{
    /// <summary>The rule's name, in logs, metrics and the error's <c>data.limit</c>. Required, unique.</summary>
    public string Name { get; init; } = "";

    /// <summary>Server name glob (default <c>*</c>).</summary>
    public string Server { get; init; } = "*";

    /// <summary>JSON-RPC method glob (default <c>*</c>), e.g. <c>tools/call</c>.</summary>
    public string Method { get; init; } = "*";

    /// <summary>Tool (or prompt, or resource URI) glob, matched against <c>params.name</c>/<c>params.uri</c> (default <c>*</c>: also messages that name none).</summary>
    public string Tool { get; init; } = "*";

    /// <summary>
    /// A request header that identifies the client when it is not authenticated (e.g. an API key
    /// id); the partition is the authenticated principal's name, else this header, else the client IP.
    /// </summary>
    public string? ClientHeader { get; init; }

    /// <summary><c>TokenBucket</c> (default), <c>SlidingWindow</c>, <c>FixedWindow</c> or <c>Concurrency</c>.</summary>
    public string Limiter { get; init; } = "TokenBucket";

    /// <summary>Bucket size, requests per window, or concurrent requests (default 100).</summary>
    public int PermitLimit { get; init; } = 100;

    /// <summary>Window of <c>FixedWindow</c>/<c>SlidingWindow</c>, refill period of <c>TokenBucket</c> (default 1 s).</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary><c>TokenBucket</c>: tokens added every <see cref="Window"/> (default: <see cref="PermitLimit"/>).</summary>
    public int? TokensPerWindow { get; init; }

    /// <summary><c>SlidingWindow</c>: segments per window (default 4).</summary>
    public int SegmentsPerWindow { get; init; } = 4;
}

/// <summary>Limits on the JSON-RPC messages clients POST (read once by <c>JsonRpcMessageMiddleware</c>).</summary>
public sealed record MessageOptions
{
    /// <summary>The largest value accepted for <see cref="MaxBytes"/> (256 MiB).</summary>
    public const int MaxMaxBytes = 256 * 1024 * 1024;

    /// <summary>The largest POST body, in bytes (default 4 MiB); a larger one gets 413 with a JSON-RPC error.</summary>
    public int MaxBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>The deepest JSON nesting accepted (default 64); deeper gets 400 with -32700.</summary>
    public int MaxDepth { get; init; } = 64;
}

/// <summary>How the edge relays SSE streams, how many it holds, and how it drains them on shutdown.</summary>
public sealed record StreamingOptions
{
    /// <summary>A <c>:</c> comment line is sent on a stream idle for this long, so load balancers and browsers keep it. Default 15 s.</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>A client that has accepted no bytes for this long, while the upstream has more, is cut (both connections closed). Default 30 s.</summary>
    public TimeSpan SlowConsumerTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Most concurrent streams (GET streams and 2026-07-28 <c>subscriptions/listen</c>) the edge holds; more get 503. Default 10000.</summary>
    public int MaxStreams { get; init; } = 10_000;

    /// <summary>Most concurrent streams per client (the authenticated principal, else the client IP address); more get 429. Default 100.</summary>
    public int MaxStreamsPerClient { get; init; } = 100;

    /// <summary>
    /// On SIGTERM: how long requests in flight may take to finish (the host's shutdown timeout).
    /// Streams are closed at once with <c>retry:</c> <see cref="DrainRetry"/> so clients reconnect
    /// (through any edge replica) and resume with <c>Last-Event-ID</c>. Default 25 s; give
    /// Kubernetes' <c>terminationGracePeriodSeconds</c> a few seconds more.
    /// </summary>
    public TimeSpan ShutdownGracePeriod { get; init; } = TimeSpan.FromSeconds(25);

    /// <summary>The reconnection delay sent in <c>retry:</c> to streams closed by a drain. Default 1 s.</summary>
    public TimeSpan DrainRetry { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary><see cref="RelayBufferBytes"/>'s default: 16 KiB.</summary>
    public const int DefaultRelayBufferBytes = 16 * 1024;

    /// <summary><see cref="RelayBufferBytes"/>'s smallest value: 4 KiB.</summary>
    public const int MinRelayBufferBytes = 4 * 1024;

    /// <summary><see cref="RelayBufferBytes"/>'s largest value: 1 MiB.</summary>
    public const int MaxRelayBufferBytes = 1024 * 1024;

    /// <summary>
    /// Bytes the SSE relay reads from the upstream at a time: one pooled buffer of this size per stream
    /// while a read is in flight, while a slow client holds a write back, and after a busy read until
    /// the next bytes (an idle stream holds none). Default 16 KiB, 4 KiB to 1 MiB. Larger relays a fast
    /// stream with less CPU per byte for more memory per busy or slow stream: 32 KiB gave about 10% more
    /// throughput and 10% less CPU per GiB on one fast stream (docs/benchmarks.md, "One fast stream").
    /// </summary>
    public int RelayBufferBytes { get; init; } = DefaultRelayBufferBytes;
}

/// <summary>
/// TLS towards a server's <c>https://</c> replicas, for the proxied requests and the health probes
/// alike (<see cref="Forwarder.UpstreamTlsContext"/>). The files are PEM, as in a Kubernetes TLS
/// secret; they are read again when they change, for new connections.
/// </summary>
public sealed record UpstreamTlsOptions
{
    /// <summary>
    /// The certificate authorities trusted for the replicas' certificates (PEM, one or more), instead
    /// of the system's trust store: for replicas whose certificates a private CA issued. The host
    /// name is checked as always. Default: none, the system's trust store.
    /// </summary>
    public string? CaFile { get; init; }

    /// <summary>The edge's client certificate for replicas that require one (mTLS), PEM, then its intermediates. With <see cref="KeyFile"/>.</summary>
    public string? CertificateFile { get; init; }

    /// <summary>The private key of <see cref="CertificateFile"/>, PEM: unencrypted PKCS#8 or PKCS#1/SEC1, or encrypted PKCS#8 with <see cref="KeyPasswordFile"/>.</summary>
    public string? KeyFile { get; init; }

    /// <summary>A file whose first line is the password of an encrypted <see cref="KeyFile"/>; reloaded with the key. Null: the key is unencrypted.</summary>
    public string? KeyPasswordFile { get; init; }

    /// <summary>True when any file is set.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsSet => !string.IsNullOrEmpty(CaFile) || !string.IsNullOrEmpty(CertificateFile) || !string.IsNullOrEmpty(KeyFile) || !string.IsNullOrEmpty(KeyPasswordFile);
}

/// <summary>
/// The edge as an OAuth 2.1 resource server for one MCP server (MCP 2026-07-28
/// <c>basic/authorization/index.mdx</c>, "Token Handling"; 2025-11-25 <c>basic/authorization.mdx</c>):
/// every request must carry <c>Authorization: Bearer</c> with a JWT access token signed by
/// <see cref="Issuer"/>'s keys, issued for this server (<see cref="Audiences"/>, RFC 8707), unexpired,
/// and holding every scope of <see cref="Scopes"/>. Otherwise 401 (403 for missing scopes) with a
/// <c>WWW-Authenticate: Bearer</c> challenge naming the Protected Resource Metadata (RFC 9728), which
/// the edge serves at <c>/.well-known/oauth-protected-resource</c> followed by the path of
/// <see cref="Resource"/>. The token's <see cref="PrincipalClaim"/> becomes the principal that rate
/// limits, stream limits, the list cache and <c>ConsistentHash</c> key on, and sessions are sealed to it.
/// Off while <see cref="Issuer"/> is empty. Reloads with the configuration.
/// </summary>
public sealed record ServerAuthenticationOptions
{
    /// <summary>
    /// The authorization server's issuer identifier (<c>https://auth.example.com</c>, or with a path
    /// for a tenant), compared exactly with each token's <c>iss</c> and with the <c>issuer</c> of its
    /// metadata (RFC 8414 §3.3). Empty: the server takes every request without a token, as before.
    /// </summary>
    public string? Issuer { get; init; }

    /// <summary>
    /// The canonical URI of this MCP server as clients see it (RFC 8707 §2, RFC 9728 <c>resource</c>),
    /// e.g. <c>https://mcp.example.com/mcp/github</c>: the default audience, the <c>resource</c> of the
    /// metadata document and the base of its URL. Required with <see cref="Issuer"/>.
    /// </summary>
    public string? Resource { get; init; }

    /// <summary>The <c>aud</c> values accepted (any one). Default: <see cref="Resource"/> alone. A trailing <c>/</c> is ignored.</summary>
    public List<string> Audiences { get; init; } = [];

    /// <summary>
    /// Scopes every request's token must hold (in its <c>scope</c> or <c>scp</c> claim); a token
    /// without them gets 403 <c>insufficient_scope</c>. Also the challenge's <c>scope</c> and the
    /// metadata's <c>scopes_supported</c>. Default: none required.
    /// </summary>
    public List<string> Scopes { get; init; } = [];

    /// <summary>
    /// Scopes that particular operations need on top of <see cref="Scopes"/>: a token without them
    /// may connect, list and call everything else, and gets 403 <c>insufficient_scope</c> naming every
    /// scope the operation needs when it calls one of these (the step-up authorization of MCP
    /// 2026-07-28 <c>basic/authorization/index.mdx</c>, "Scope Challenge Handling"). Every matching
    /// rule applies. Default: none.
    /// </summary>
    public List<OperationScopeOptions> OperationScopes { get; init; } = [];

    /// <summary>
    /// When true, <c>tools/list</c> shows each caller only the tools its token's scopes let it call
    /// (the <see cref="OperationScopes"/> rules for <c>tools/call</c>), instead of every tool with a
    /// 403 step-up challenge when it calls one it may not. Default false (the MCP step-up model:
    /// clients see what exists and learn what it needs).
    /// </summary>
    public bool ListOnlyPermittedTools { get; init; }

    /// <summary>
    /// Scope hierarchy: each entry's granted <see cref="ImpliedScopeOptions.Scope"/> implies its
    /// <see cref="ImpliedScopeOptions.Implies"/>, transitively, e.g.
    /// <c>[{"Scope": "files:admin", "Implies": ["files:write"]}, {"Scope": "files:write", "Implies": ["files:read"]}]</c>.
    /// Applied to the token's scopes before <see cref="Scopes"/> and <see cref="OperationScopes"/> are
    /// checked (MCP 2026-07-28 "Step-Up Authorization Flow": a broader scope implies narrower ones).
    /// A list rather than a map because scopes often hold <c>:</c>, the configuration's key separator.
    /// Default: none.
    /// </summary>
    public List<ImpliedScopeOptions> ImpliedScopes { get; init; } = [];

    /// <summary>
    /// The authorization server's metadata document. Default: the MCP discovery order from
    /// <see cref="Issuer"/> (RFC 8414 <c>oauth-authorization-server</c>, then OpenID Connect
    /// <c>openid-configuration</c>; MCP 2026-07-28 <c>authorization-server-discovery.mdx</c>).
    /// Its <c>jwks_uri</c> gives the signing keys.
    /// </summary>
    public string? MetadataAddress { get; init; }

    /// <summary>The signing keys (a JWK Set) read directly, without metadata. Not with <see cref="MetadataAddress"/>.</summary>
    public string? JwksUri { get; init; }

    /// <summary>Fetch metadata and keys over https only. Default true; false for an in-cluster or test authorization server on http.</summary>
    public bool RequireHttpsMetadata { get; init; } = true;

    /// <summary>The claim that names the principal. Default <c>sub</c>. A token without it gets 401.</summary>
    public string PrincipalClaim { get; init; } = "sub";

    /// <summary>Tolerance for <c>exp</c> and <c>nbf</c> against the edge's clock. Default 1 minute, at most 10.</summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Pass the validated <c>Authorization</c> header on to the replicas (which may check it again).
    /// Default true; false strips it, for replicas that trust the edge. Other tokens never reach them.
    /// </summary>
    public bool ForwardAuthorization { get; init; } = true;

    /// <summary>
    /// A request header in which the replicas get the authenticated principal (e.g. <c>X-Auth-Principal</c>),
    /// for replicas that trust the edge and do not read the token (with <see cref="ForwardAuthorization"/>
    /// off, the only way they learn who calls). The edge removes whatever a client sent under that
    /// name before setting it. Printable ASCII goes as is; a value with anything else is
    /// percent-encoded UTF-8 (RFC 3986 §2.1). Default: none.
    /// </summary>
    public string? PrincipalHeader { get; init; }

    /// <summary>
    /// A request header in which the replicas get the token's scopes, implied ones included
    /// (<see cref="ImpliedScopes"/>), space-separated in a fixed order. Removed from clients' requests
    /// like <see cref="PrincipalHeader"/>. Default: none.
    /// </summary>
    public string? ScopesHeader { get; init; }

    /// <summary>
    /// Token introspection (RFC 7662) for access tokens that are not JWTs (opaque tokens). Off while
    /// <see cref="TokenIntrospectionOptions.ClientId"/> is empty; JWTs are always validated locally.
    /// </summary>
    public TokenIntrospectionOptions Introspection { get; init; } = new();

    /// <summary>How often the metadata and keys are fetched again. Default 1 hour (at least 5 minutes); a token signed by an unknown key fetches them sooner, at most every 30 s.</summary>
    public TimeSpan KeysRefreshInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>True when authentication is on (<see cref="Issuer"/> set).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEnabled => !string.IsNullOrEmpty(Issuer);
}

/// <summary>
/// Scopes one kind of operation needs (<see cref="ServerAuthenticationOptions.OperationScopes"/>):
/// JSON-RPC messages whose method and name match the globs (<c>*</c> and <c>?</c>, as in rate-limit rules).
/// </summary>
public sealed record OperationScopeOptions
{
    /// <summary>JSON-RPC method glob (default <c>tools/call</c>), e.g. <c>resources/read</c> or <c>prompts/get</c>.</summary>
    public string Method { get; init; } = "tools/call";

    /// <summary>Tool (or prompt, or resource URI) glob, matched against <c>params.name</c>/<c>params.uri</c> (default <c>*</c>: also messages that name none).</summary>
    public string Tool { get; init; } = "*";

    /// <summary>The scopes the operation needs (RFC 6749 §3.3 scope tokens). At least one.</summary>
    public List<string> Scopes { get; init; } = [];
}

/// <summary>
/// How the edge asks the authorization server about an opaque access token (RFC 7662 §2): a POST
/// of <c>token</c> to its introspection endpoint, authenticated as a confidential client with HTTP
/// Basic (<c>client_secret_basic</c>, RFC 6749 §2.3.1), with the secret in the form
/// (<c>client_secret_post</c>, the same section) or with a signed JWT (<c>private_key_jwt</c>, RFC 7523 §2.2).
/// </summary>
public sealed record TokenIntrospectionOptions
{
    /// <summary>The client authentication method names this record knows (RFC 8414 §2, <c>token_endpoint_auth_methods_supported</c> values).</summary>
    public static readonly IReadOnlyList<string> ClientAuthenticationMethods = ["client_secret_basic", "client_secret_post", "private_key_jwt"];

    /// <summary>The edge's client id at the authorization server. Empty: introspection off (opaque tokens get 401).</summary>
    public string? ClientId { get; init; }

    /// <summary>
    /// How the edge authenticates: <c>client_secret_basic</c> (the default: <see cref="ClientSecret"/>
    /// in HTTP Basic), <c>client_secret_post</c> (<c>client_id</c> and <c>client_secret</c> in the
    /// form body, for servers that take no Basic; RFC 6749 §2.3.1 calls it NOT RECOMMENDED where
    /// Basic works) or <c>private_key_jwt</c> (a JWT signed with <see cref="PrivateKeyFile"/>, a
    /// minute long, sent as <c>client_assertion</c>; RFC 7523 §2.2 and §3, OpenID Connect Core 1.0 §9).
    /// </summary>
    public string ClientAuthentication { get; init; } = "client_secret_basic";

    /// <summary>Its client secret. Required with <c>client_secret_basic</c> and <c>client_secret_post</c>; best given in the environment (<c>McpEdge__Servers__{name}__Authentication__Introspection__ClientSecret</c>).</summary>
    public string? ClientSecret { get; init; }

    /// <summary>
    /// With <c>private_key_jwt</c>: the PEM file of the private key the authorization server knows the
    /// public half of (an unencrypted RSA key of 2048 bits or more, signing RS256, or an EC key on
    /// P-256/P-384/P-521, signing ES256/ES384/ES512). Read before each introspection call, so a renewed
    /// key needs no restart.
    /// </summary>
    public string? PrivateKeyFile { get; init; }

    /// <summary>With <c>private_key_jwt</c>: the assertion's <c>kid</c> header (the key's id in the JWK Set registered for the client). Default: none.</summary>
    public string? KeyId { get; init; }

    /// <summary>
    /// With <c>private_key_jwt</c>: the assertion's <c>aud</c>. Default: the authorization server's
    /// issuer identifier (<see cref="ServerAuthenticationOptions.Issuer"/>), which RFC 7523 §3 and
    /// current guidance name; some servers want the endpoint's URL instead (Okta: the introspection
    /// endpoint).
    /// </summary>
    public string? AssertionAudience { get; init; }

    /// <summary>The introspection endpoint. Default: <c>introspection_endpoint</c> of the authorization server's metadata (RFC 8414 §2). Required with <c>JwksUri</c>.</summary>
    public string? Endpoint { get; init; }

    /// <summary>
    /// The most introspection calls this server's edge process has in flight at once (each for a
    /// different token: requests bringing one token share its call). A request whose token would need
    /// one more is answered 503 with <c>Retry-After: 1</c> at once, so a flood of made-up opaque tokens
    /// cannot pile up calls at the authorization server; tokens already validated are not affected.
    /// Default 64, at least 1.
    /// </summary>
    public int MaxConcurrent { get; init; } = 64;

    /// <summary>True when introspection is on (<see cref="ClientId"/> set).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEnabled => !string.IsNullOrEmpty(ClientId);
}

/// <summary>
/// Which of a server's tools, prompts or resources the edge exposes (<see cref="McpServerOptions.Tools"/>,
/// <see cref="McpServerOptions.Prompts"/>, <see cref="McpServerOptions.Resources"/>): one is exposed
/// when its name (a resource: its URI) matches an <see cref="Allow"/> glob (or <see cref="Allow"/> is
/// empty) and no <see cref="Deny"/> glob (<c>*</c> any run of characters, <c>?</c> one, case-sensitive
/// like MCP names, matched against the whole name or URI as sent). Hidden ones are left out of list
/// results, and a request that names one is answered by the edge as the server answers for one it
/// does not have. Streamable HTTP only.
/// </summary>
public sealed record ExposureFilterOptions
{
    /// <summary>Globs of the names (URIs) to expose. Empty (the default): every one not denied.</summary>
    public List<string> Allow { get; init; } = [];

    /// <summary>Globs of the names (URIs) to hide, whatever <see cref="Allow"/> says. Default: none.</summary>
    public List<string> Deny { get; init; } = [];

    /// <summary>True when something may be hidden.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEnabled => Allow.Count > 0 || Deny.Count > 0;
}

/// <summary>One step of a scope hierarchy (<see cref="ServerAuthenticationOptions.ImpliedScopes"/>).</summary>
public sealed record ImpliedScopeOptions
{
    /// <summary>The broader scope.</summary>
    public string Scope { get; init; } = "";

    /// <summary>The narrower scopes a token with <see cref="Scope"/> holds as well.</summary>
    public List<string> Implies { get; init; } = [];
}

/// <summary>One MCP server: a stable public path on the edge and one or more upstream replicas behind it.</summary>
public sealed record McpServerOptions
{
    /// <summary>The public path on the edge, an absolute path such as <c>/mcp/github</c>. Default: <c>/mcp/{name}</c>.</summary>
    public string? Path { get; init; }

    /// <summary>
    /// The upstream transport: <c>streamable-http</c> (MCP 2025-03-26 and later, the default) or
    /// <c>sse</c> (the HTTP+SSE transport of MCP 2024-11-05). See <see cref="McpTransports"/>.
    /// </summary>
    public string Transport { get; init; } = McpTransports.StreamableHttp;

    /// <summary>
    /// The upstream replicas: absolute http(s) URLs of each replica's MCP endpoint
    /// (for <c>streamable-http</c>, e.g. <c>http://10.0.0.5:3001/mcp</c>) or SSE endpoint
    /// (for <c>sse</c>, e.g. <c>http://10.0.0.5:3001/sse</c>). At least one.
    /// </summary>
    public List<string> Upstreams { get; init; } = [];

    /// <summary>
    /// Where the replicas come from: <c>Static</c> (the default: each URL of <see cref="Upstreams"/>
    /// is one replica) or <c>Dns</c>: each URL names a host whose addresses (A and AAAA records) are
    /// the replicas, looked up again every <see cref="DnsRefreshInterval"/>, as Envoy's
    /// <c>STRICT_DNS</c> clusters do. Meant for a Kubernetes headless Service
    /// (<c>http://github-mcp-headless.mcp.svc.cluster.local:3001/mcp</c>), whose name resolves to
    /// the ready pods: each pod becomes a destination of its own, so sessions, health and the
    /// load-balancing policies see pods, not one Service address. Requests to a resolved replica
    /// carry the name as <c>Host</c> (and as TLS server name). See <see cref="Discovery.DnsUpstreamDiscovery"/>.
    /// </summary>
    public string Discovery { get; init; } = UpstreamDiscoveryModes.Static;

    /// <summary>With <see cref="Discovery"/> <c>Dns</c>: time between two lookups of each name. Default 5 s; at least 1 s.</summary>
    public TimeSpan DnsRefreshInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The HTTP version spoken to the replicas: <c>auto</c> (the default: HTTP/2 to an <c>https</c>
    /// replica that offers it, else HTTP/1.1), <c>1.1</c>, or <c>2</c> (to an <c>http</c> replica,
    /// cleartext HTTP/2 with prior knowledge, "h2c", RFC 9113 §3.3). See <see cref="UpstreamHttpVersions"/>.
    /// Health probes use the same version.
    /// </summary>
    public string UpstreamHttpVersion { get; init; } = UpstreamHttpVersions.Auto;

    /// <summary>TLS towards this server's <c>https://</c> replicas: a private CA, a client certificate (mTLS).</summary>
    public UpstreamTlsOptions UpstreamTls { get; init; } = new();

    /// <summary>
    /// Headers set on every request the edge sends to this server's replicas, proxied requests and
    /// health probes alike: a service credential the replicas check (<c>{"Authorization": "Bearer …"}</c>,
    /// <c>{"X-Api-Key": "…"}</c>), replacing any header of that name the client sent, so a client can
    /// neither see nor override it. An empty value removes the client's header instead. YARP's
    /// <c>RequestHeader</c>/<c>Set</c> route transform; for probes <see cref="ActiveProbeOptions.Headers"/>
    /// win over these. Values are never logged or printed; give them from the environment
    /// (<c>McpEdge__Servers__{name}__UpstreamHeaders__Authorization</c>, e.g. from a Kubernetes Secret)
    /// rather than the file. Not the headers the edge owns (framing, routing, forwarding, tracing,
    /// <c>Mcp-*</c>, <c>Last-Event-ID</c>). Default: none.
    /// </summary>
    public Dictionary<string, string> UpstreamHeaders { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Bearer-token authentication of this server's clients (OAuth 2.1 resource server, MCP 2025-06-18 and later). Off while <see cref="ServerAuthenticationOptions.Issuer"/> is empty.</summary>
    public ServerAuthenticationOptions Authentication { get; init; } = new();

    /// <summary>
    /// The load-balancing policy for requests that carry no session (a session always goes to its
    /// own replica): <c>LeastResponseTime</c> (the default) or <c>ConsistentHash</c> of McpEdge
    /// (<see cref="McpEdge.LoadBalancing.McpLoadBalancingPolicies"/>), or one of YARP's: <c>PowerOfTwoChoices</c>,
    /// <c>RoundRobin</c>, <c>Random</c>, <c>LeastRequests</c>, <c>FirstAlphabetical</c>.
    /// </summary>
    public string LoadBalancingPolicy { get; init; } = McpEdge.LoadBalancing.McpLoadBalancingPolicies.LeastResponseTime;

    /// <summary>Settings of the McpEdge policies. See <see cref="LoadBalancingOptions"/>.</summary>
    public LoadBalancingOptions LoadBalancing { get; init; } = new();

    /// <summary>Active (MCP probes) and passive health. See <see cref="McpHealthCheckOptions"/>.</summary>
    public McpHealthCheckOptions HealthCheck { get; init; } = new();

    /// <summary>
    /// Retry, once and on another healthy replica, a request that could not connect to its replica
    /// (refused, unreachable, connect timeout: nothing reached the upstream, so nothing ran there)
    /// when it belongs to no session: any JSON-RPC POST (<c>tools/call</c> included) or a GET that
    /// opens a stream. Never a session's request, never after the connection was made. Default
    /// true. See <see cref="Forwarder.FailoverMiddleware"/>.
    /// </summary>
    public bool Failover { get; init; } = true;

    /// <summary>Upstream timeouts.</summary>
    public TimeoutOptions Timeouts { get; init; } = new();

    /// <summary>List-result caching. See <see cref="ListCacheOptions"/>.</summary>
    public ListCacheOptions Cache { get; init; } = new();

    /// <summary>Which of the replicas' tools the edge exposes, by name. See <see cref="ExposureFilterOptions"/>. Default: all.</summary>
    public ExposureFilterOptions Tools { get; init; } = new();

    /// <summary>Which of the replicas' prompts the edge exposes, by name. See <see cref="ExposureFilterOptions"/>. Default: all.</summary>
    public ExposureFilterOptions Prompts { get; init; } = new();

    /// <summary>
    /// Which of the replicas' resources the edge exposes, by URI (resource templates by their
    /// <c>uriTemplate</c> text). A URI with a <c>.</c> or <c>..</c> path segment or a percent-encoded
    /// <c>.</c>, <c>/</c> or <c>\</c> is never exposed while this is on, since a replica may resolve it
    /// to a URI the globs would hide. See <see cref="ExposureFilterOptions"/>. Default: all.
    /// </summary>
    public ExposureFilterOptions Resources { get; init; } = new();

    /// <summary>JSON-RPC batches (MCP 2025-03-26). See <see cref="BatchOptions"/>.</summary>
    public BatchOptions Batches { get; init; } = new();
}

/// <summary>Settings of the <c>LeastResponseTime</c> and <c>ConsistentHash</c> policies of one MCP server.</summary>
public sealed record LoadBalancingOptions
{
    /// <summary>Half-life of the latency estimate: lower samples pull it down, and an unmeasured estimate decays towards zero, at this pace. Default 10 s (Finagle's and Linkerd's decay time).</summary>
    public TimeSpan LatencyHalfLife { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The latency sample a failed exchange (transport failure or 5xx) counts as. Default 1 s.</summary>
    public TimeSpan FailurePenalty { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// <c>ConsistentHash</c> only: where the key comes from: <c>header:NAME</c>, <c>query:NAME</c>,
    /// <c>mcp-name</c> (the tool, prompt or resource name of the request; the default) or
    /// <c>principal</c>. Requests without a key use <c>LeastResponseTime</c>.
    /// </summary>
    public string HashKey { get; init; } = "mcp-name";

    /// <summary><c>ConsistentHash</c> only: no replica takes more than this factor × the average in-flight exchanges; the key then moves on along the ring. At least 1; default 1.25.</summary>
    public double LoadFactor { get; init; } = 1.25;

    /// <summary><c>ConsistentHash</c> only: points per replica on the ring, 1 to 1000. Default 160 (ketama's).</summary>
    public int VirtualNodes { get; init; } = 160;
}

/// <summary>Health checking of one MCP server's replicas.</summary>
public sealed record McpHealthCheckOptions
{
    /// <summary><c>/readyz</c> answers 503 while this server has no healthy replica. Default true.</summary>
    public bool Required { get; init; } = true;

    /// <summary>Active probes. See <see cref="ActiveProbeOptions"/>.</summary>
    public ActiveProbeOptions Active { get; init; } = new();

    /// <summary>Passive health from proxied traffic. See <see cref="PassiveHealthOptions"/>.</summary>
    public PassiveHealthOptions Passive { get; init; } = new();
}

/// <summary>
/// Active probes of every replica, on a fixed interval. A replica becomes unhealthy after
/// <see cref="UnhealthyThreshold"/> failed probes in a row and healthy again after
/// <see cref="HealthyThreshold"/> good ones (a replica not yet probed becomes healthy on its first
/// good probe). An unhealthy replica gets no new sessions; its existing sessions still reach it.
/// </summary>
public sealed record ActiveProbeOptions
{
    /// <summary>Whether to probe. Default true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// What a probe does (<see cref="McpEdge.Health.ProbeKinds"/>): <c>auto</c> (default: <c>discover</c>, and
    /// <c>session</c> for replicas that do not speak MCP 2026-07-28), <c>discover</c> (POST
    /// <c>server/discover</c>, MCP 2026-07-28), <c>session</c> (initialize → notifications/initialized →
    /// ping → DELETE), <c>http</c> (GET <see cref="Path"/>, any 2xx is healthy). For the <c>sse</c>
    /// transport, <c>auto</c> opens the SSE stream and waits for the <c>endpoint</c> event.
    /// </summary>
    public string Probe { get; init; } = McpEdge.Health.ProbeKinds.Auto;

    /// <summary>For <c>http</c> probes: the path (and query) on the replica's origin, e.g. <c>/healthz</c>.</summary>
    public string? Path { get; init; }

    /// <summary>
    /// Headers every probe request carries, e.g. <c>{"Authorization": "Bearer …"}</c> for replicas
    /// that check tokens themselves (a probe without one gets 401 and marks every replica unhealthy).
    /// Not the headers the probe sets itself (<see cref="McpEdge.Health.McpHealthProber.ReservedHeaders"/>).
    /// Never logged. Default: none.
    /// </summary>
    public Dictionary<string, string> Headers { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Time between probes of a replica. Default 10 s.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time a probe may take in all, connect included. Default 3 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Failed probes in a row that make a replica unhealthy. Default 3.</summary>
    public int UnhealthyThreshold { get; init; } = 3;

    /// <summary>Good probes in a row that make an unhealthy replica healthy. Default 2.</summary>
    public int HealthyThreshold { get; init; } = 2;
}

/// <summary>
/// Passive health: upstream transport failures and 5xx answers count against a replica, a client
/// hanging up (an SSE stream, say) does not. After <see cref="ConsecutiveFailures"/> failed
/// exchanges in a row the replica is unhealthy for <see cref="ReactivationPeriod"/>, then tried again.
/// </summary>
public sealed record PassiveHealthOptions
{
    /// <summary>Whether to watch proxied traffic. Default true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Failed exchanges in a row that make a replica unhealthy. Default 5 (Envoy's consecutive_5xx).</summary>
    public int ConsecutiveFailures { get; init; } = 5;

    /// <summary>How long a passively unhealthy replica is left alone. Default 30 s.</summary>
    public TimeSpan ReactivationPeriod { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>Upstream timeouts of one MCP server.</summary>
public sealed record TimeoutOptions
{
    /// <summary>How long to wait for a TCP (and TLS) connection to a replica. Default 5 s. A session whose replica cannot be connected to in this time gets 404.</summary>
    public TimeSpan Connect { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long to wait for the upstream's response headers, and between body reads of a
    /// non-streaming (JSON) response: YARP's <c>ForwarderRequestConfig.ActivityTimeout</c>.
    /// Default 100 s. SSE streams are relayed by the edge and are not cut by it.
    /// </summary>
    public TimeSpan Response { get; init; } = TimeSpan.FromSeconds(100);
}

/// <summary>
/// Session sealing keys. The first key seals; every key opens. Each key is a secret of at least 32
/// characters; the AES-256-GCM key is derived from it once per load with HKDF-SHA256. With no key
/// at all, the edge uses a random per-process key and warns that replicas of the edge will not
/// share sessions.
/// </summary>
/// <remarks>
/// The keys reload without a restart (<see cref="Sessions.SessionKeyReloader"/>): <see cref="Keys"/>
/// with the configuration, the <see cref="KeyFile"/> when its contents change (looked at every
/// <see cref="CheckInterval"/>). Rotation in two changes, each one made on every edge replica before
/// the next: add the new secret second (every replica opens its tokens), then move it first (it
/// seals), and drop the old secret once its sessions have ended.
/// </remarks>
public sealed record McpSessionOptions
{
    /// <summary>Secrets, newest first.</summary>
    public List<string> Keys { get; init; } = [];

    /// <summary>A file (e.g. a mounted Kubernetes secret) with one secret per line, newest first; blank lines and lines starting with <c>#</c> are skipped. Its keys come after <see cref="Keys"/>.</summary>
    public string? KeyFile { get; init; }

    /// <summary>How often <see cref="KeyFile"/> is read and compared with the keys in use. Default 30 s, at least 1 s.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The DNS-rebinding guard (MCP 2025-11-25 basic/transports.mdx, "Security Warning"): a request
/// whose <c>Host</c> is not allowed gets 400 before anything is proxied; a request that carries an
/// <c>Origin</c> that is not allowed gets 403 with a JSON-RPC error body.
/// </summary>
public sealed record SecurityOptions
{
    /// <summary>Allowed <c>Host</c> values (ASP.NET Core host filtering syntax: <c>example.com</c>, <c>*.example.com</c>, <c>*</c> for any). Default: <c>localhost</c>, <c>127.0.0.1</c>, <c>[::1]</c>.</summary>
    public List<string> AllowedHosts { get; init; } = [];

    /// <summary>
    /// Allowed <c>Origin</c> values, exact (<c>https://app.example.com</c>) or <c>*</c>. When empty,
    /// an origin is allowed if its host is an allowed host. Requests without <c>Origin</c> (non-browser clients) are always allowed.
    /// </summary>
    public List<string> AllowedOrigins { get; init; } = [];

    /// <summary>
    /// Serve the operator view <c>/edge/clusters</c> (replica URLs, health, latency) to any client
    /// address. Default false: only loopback clients (e.g. <c>kubectl port-forward</c>, a sidecar)
    /// get it, others get 404. <c>/healthz</c> and <c>/readyz</c> answer everyone, whatever the Host.
    /// </summary>
    public bool StatusFromAnyAddress { get; init; }

    /// <summary>
    /// Load balancers and proxies in front of the edge whose <c>X-Forwarded-For</c> is believed: IP
    /// addresses (<c>10.0.3.7</c>) or CIDR networks (<c>10.0.0.0/8</c>, <c>fd00::/8</c>). The client
    /// address is then the rightmost one in the header that no trusted hop added
    /// (<see cref="Security.TrustedProxiesMiddleware"/>). Default: none, the header is ignored.
    /// </summary>
    public List<string> TrustedProxies { get; init; } = [];

    /// <summary>The host list used when <see cref="AllowedHosts"/> is empty.</summary>
    public static readonly IReadOnlyList<string> DefaultAllowedHosts = ["localhost", "127.0.0.1", "[::1]"];

    /// <summary>The effective host list.</summary>
    public IReadOnlyList<string> EffectiveAllowedHosts => AllowedHosts.Count > 0 ? AllowedHosts : DefaultAllowedHosts;
}

/// <summary>The values of <see cref="McpServerOptions.Discovery"/>.</summary>
public static class UpstreamDiscoveryModes
{
    /// <summary>Each upstream URL is one replica.</summary>
    public const string Static = "Static";

    /// <summary>Each upstream URL's host name resolves to the replicas.</summary>
    public const string Dns = "Dns";

    /// <summary>Both, for messages.</summary>
    public static readonly IReadOnlyList<string> All = [Static, Dns];

    /// <summary>Whether <paramref name="server"/> finds its replicas by DNS.</summary>
    public static bool UsesDns(McpServerOptions server) => server.Discovery.Equals(Dns, StringComparison.OrdinalIgnoreCase);
}
