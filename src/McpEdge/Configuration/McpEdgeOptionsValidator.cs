using System.Text.RegularExpressions;

namespace McpEdge.Configuration;

/// <summary>
/// Validates a bound <see cref="McpEdgeOptions"/>. Every error names the setting by its
/// configuration path (<c>McpEdge:Servers:github:Upstreams:0</c>) so that the same text works for
/// JSON files and for environment variables (<c>__</c> for <c>:</c>).
/// </summary>
public static partial class McpEdgeOptionsValidator
{
    /// <summary>Policy names YARP 2.1 ships (<c>Yarp.ReverseProxy.LoadBalancing.LoadBalancingPolicies</c>).</summary>
    public static readonly IReadOnlyCollection<string> YarpPolicies =
        ["PowerOfTwoChoices", "FirstAlphabetical", "Random", "RoundRobin", "LeastRequests"];

    /// <summary>YARP's policy names and McpEdge's (<see cref="LoadBalancing.McpLoadBalancingPolicies"/>): what a running edge registers.</summary>
    public static readonly IReadOnlyCollection<string> KnownPolicies =
        [.. YarpPolicies, LoadBalancing.McpLoadBalancingPolicies.LeastResponseTime, LoadBalancing.McpLoadBalancingPolicies.ConsistentHash];

    /// <summary>Public paths the edge keeps for itself.</summary>
    public static readonly IReadOnlyCollection<string> ReservedPaths = ["/healthz", "/readyz", "/metrics", "/edge", Security.ProtectedResourceMetadata.WellKnownPrefix];

    /// <summary>The shortest accepted session secret, in characters.</summary>
    public const int MinimumKeyLength = 32;

    /// <summary>Returns every problem found, empty when the options are valid.</summary>
    /// <param name="options">The bound options.</param>
    /// <param name="policyNames">The load-balancing policy names registered with YARP (case-insensitive).</param>
    public static IReadOnlyList<string> Validate(McpEdgeOptions options, IReadOnlyCollection<string> policyNames)
    {
        var errors = new List<string>();
        var prefix = McpEdgeOptions.SectionName;

        if (options.Servers.Count == 0)
        {
            errors.Add($"{prefix}:Servers: no MCP server is configured; add at least one under {prefix}:Servers:{{name}} with Upstreams (and pass the file with --config FILE or MCPEDGE_CONFIG).");
        }

        var paths = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, server) in options.Servers)
        {
            var at = $"{prefix}:Servers:{name}";
            if (!ServerName().IsMatch(name))
            {
                errors.Add($"{at}: the server name '{name}' may hold only letters, digits, '.', '_' and '-'.");
            }
            if (server is null)
            {
                errors.Add($"{at}: the server has no settings; it needs at least Upstreams.");
                continue;
            }

            var path = McpProxyConfigBuilder.PublicPath(name, server);
            if (!path.StartsWith('/') || path.Length < 2 || path.EndsWith('/') || path.IndexOfAny(['?', '#', '{', '}', '*', ' ']) >= 0)
            {
                errors.Add($"{at}:Path: '{path}' must be an absolute path such as /mcp/{name}, without a trailing '/', query, route parameter or space.");
            }
            else if (ReservedPaths.Any(r => path.Equals(r, StringComparison.OrdinalIgnoreCase) || path.StartsWith(r + "/", StringComparison.OrdinalIgnoreCase)))
            {
                errors.Add($"{at}:Path: '{path}' is reserved by the edge ({string.Join(", ", ReservedPaths)}).");
            }
            else if (!paths.TryAdd(path, name))
            {
                errors.Add($"{at}:Path: '{path}' is already the path of server '{paths[path]}'.");
            }

            if (!McpTransports.IsKnown(server.Transport))
            {
                errors.Add($"{at}:Transport: '{server.Transport}' is not a transport; use '{McpTransports.StreamableHttp}' or '{McpTransports.Sse}'.");
            }

            if (!UpstreamHttpVersions.IsKnown(server.UpstreamHttpVersion))
            {
                errors.Add($"{at}:UpstreamHttpVersion: '{server.UpstreamHttpVersion}' is not an HTTP version McpEdge speaks to upstreams; use '{UpstreamHttpVersions.Auto}', '{UpstreamHttpVersions.Http11}' or '{UpstreamHttpVersions.Http2}' (HTTP/2; cleartext h2c to an http:// upstream).");
            }

            if (server.Upstreams.Count == 0)
            {
                errors.Add($"{at}:Upstreams: at least one upstream replica URL is needed.");
            }
            var ids = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < server.Upstreams.Count; i++)
            {
                var url = server.Upstreams[i];
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
                    || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
                {
                    errors.Add($"{at}:Upstreams:{i}: '{url}' is not an absolute http:// or https:// URL (without user info or fragment).");
                }
                else if (!ids.Add(McpProxyConfigBuilder.DestinationId(uri)))
                {
                    errors.Add($"{at}:Upstreams:{i}: '{url}' is listed twice.");
                }
                else if (UpstreamDiscoveryModes.UsesDns(server) && uri.HostNameType != UriHostNameType.Dns)
                {
                    errors.Add($"{at}:Upstreams:{i}: '{url}' names no host to resolve; with Discovery Dns each URL names a DNS name (a headless Service), or set Discovery to Static.");
                }
            }
            if (!UpstreamDiscoveryModes.All.Contains(server.Discovery, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"{at}:Discovery: '{server.Discovery}' is not a mode; use Static (each URL is a replica) or Dns (each URL's host name resolves to the replicas).");
            }
            if (server.DnsRefreshInterval < TimeSpan.FromSeconds(1))
            {
                errors.Add($"{at}:DnsRefreshInterval: '{server.DnsRefreshInterval}' must be at least 00:00:01 (default 00:00:05).");
            }

            ValidateUpstreamTls(errors, at, server);
            ValidateUpstreamHeaders(errors, at, server);
            ValidateAuthentication(errors, at, server.Authentication);
            foreach (var (setting, filter, what) in new[] { ("Tools", server.Tools, "a tool name"), ("Prompts", server.Prompts, "a prompt name"), ("Resources", server.Resources, "a resource URI") })
            {
                if (!filter.IsEnabled)
                {
                    continue;
                }
                foreach (var (list, globs) in new[] { ("Allow", filter.Allow), ("Deny", filter.Deny) })
                {
                    for (var i = 0; i < globs.Count; i++)
                    {
                        if (string.IsNullOrEmpty(globs[i]))
                        {
                            errors.Add($"{at}:{setting}:{list}:{i}: {what} or glob must not be empty.");
                        }
                    }
                }
                if (string.Equals(server.Transport, McpTransports.Sse, StringComparison.OrdinalIgnoreCase))
                {
                    errors.Add($"{at}:{setting}: {setting.ToLowerInvariant()} are filtered for the streamable-http transport only (an HTTP+SSE server answers lists on its event stream).");
                }
            }

            if (!policyNames.Contains(server.LoadBalancingPolicy, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"{at}:LoadBalancingPolicy: '{server.LoadBalancingPolicy}' is not a known policy; use one of {string.Join(", ", policyNames.Order())}.");
            }

            ValidateBalancing(errors, at, server);
            ValidateHealth(errors, at, server.HealthCheck);

            Positive(errors, $"{at}:Timeouts:Connect", server.Timeouts.Connect, "00:00:05");
            Positive(errors, $"{at}:Timeouts:Response", server.Timeouts.Response, "00:01:40");
            ValidateCacheAndBatches(errors, at, server);
        }

        for (var i = 0; i < options.Sessions.Keys.Count; i++)
        {
            if ((options.Sessions.Keys[i] ?? "").Length < MinimumKeyLength)
            {
                errors.Add($"{prefix}:Sessions:Keys:{i}: a session key must be a secret of at least {MinimumKeyLength} characters (e.g. `openssl rand -base64 32`).");
            }
        }
        if (options.Sessions.KeyFile is { Length: > 0 } keyFile && !File.Exists(keyFile))
        {
            errors.Add($"{prefix}:Sessions:KeyFile: the file '{keyFile}' does not exist.");
        }
        if (options.Sessions.CheckInterval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{prefix}:Sessions:CheckInterval: '{options.Sessions.CheckInterval}' must be at least 1 s, such as 00:00:30.");
        }

        ValidateTls(errors, prefix, options.Tls);
        if (options.Admin.Url is { } adminUrl && Hosting.AdminListener.Problem(adminUrl) is { } adminProblem)
        {
            errors.Add($"{prefix}:Admin:Url: {adminProblem}");
        }

        var streaming = options.Streaming;
        Positive(errors, $"{prefix}:Streaming:KeepAliveInterval", streaming.KeepAliveInterval, "00:00:15");
        Positive(errors, $"{prefix}:Streaming:SlowConsumerTimeout", streaming.SlowConsumerTimeout, "00:00:30");
        Positive(errors, $"{prefix}:Streaming:ShutdownGracePeriod", streaming.ShutdownGracePeriod, "00:00:25");
        Positive(errors, $"{prefix}:Streaming:DrainRetry", streaming.DrainRetry, "00:00:01");
        if (streaming.MaxStreams < 1)
        {
            errors.Add($"{prefix}:Streaming:MaxStreams: '{streaming.MaxStreams}' must be at least 1.");
        }
        if (streaming.MaxStreamsPerClient < 1)
        {
            errors.Add($"{prefix}:Streaming:MaxStreamsPerClient: '{streaming.MaxStreamsPerClient}' must be at least 1.");
        }
        if (streaming.RelayBufferBytes is < StreamingOptions.MinRelayBufferBytes or > StreamingOptions.MaxRelayBufferBytes)
        {
            errors.Add($"{prefix}:Streaming:RelayBufferBytes: '{streaming.RelayBufferBytes}' must be between {StreamingOptions.MinRelayBufferBytes} and {StreamingOptions.MaxRelayBufferBytes} bytes (default {StreamingOptions.DefaultRelayBufferBytes}).");
        }

        var ruleNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.RateLimits.Count; i++)
        {
            var rule = options.RateLimits[i];
            var at = $"{prefix}:RateLimits:{i}";
            if (string.IsNullOrWhiteSpace(rule.Name) || !ruleNames.Add(rule.Name))
            {
                errors.Add($"{at}:Name: every rule needs a unique name ('{rule.Name}').");
            }
            if (!RateLimiting.RateLimitRule.Limiters.Contains(rule.Limiter, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"{at}:Limiter: '{rule.Limiter}' is not one of {string.Join(", ", RateLimiting.RateLimitRule.Limiters)}.");
            }
            if (rule.PermitLimit < 1)
            {
                errors.Add($"{at}:PermitLimit: '{rule.PermitLimit}' must be at least 1.");
            }
            if (rule.TokensPerWindow is < 1)
            {
                errors.Add($"{at}:TokensPerWindow: '{rule.TokensPerWindow}' must be at least 1.");
            }
            if (rule.SegmentsPerWindow < 1)
            {
                errors.Add($"{at}:SegmentsPerWindow: '{rule.SegmentsPerWindow}' must be at least 1.");
            }
            Positive(errors, $"{at}:Window", rule.Window, "00:00:01");
        }

        if (options.Caching.MaxBytes < 1024)
        {
            errors.Add($"{prefix}:Caching:MaxBytes: '{options.Caching.MaxBytes}' must be at least 1024 (bytes; default 67108864).");
        }
        if (options.Caching.MaxEntryBytes < 1024 || options.Caching.MaxEntryBytes > options.Caching.MaxBytes)
        {
            errors.Add($"{prefix}:Caching:MaxEntryBytes: '{options.Caching.MaxEntryBytes}' must be between 1024 and Caching:MaxBytes (bytes; default 1048576).");
        }

        var otlp = options.Telemetry.Otlp;
        if (!string.IsNullOrEmpty(otlp.Endpoint) && (!Uri.TryCreate(otlp.Endpoint, UriKind.Absolute, out var collector) || collector.Scheme is not ("http" or "https")))
        {
            errors.Add($"{prefix}:Telemetry:Otlp:Endpoint: '{otlp.Endpoint}' is not an absolute http(s) URL (e.g. http://otel-collector:4317).");
        }
        if (otlp.Protocol is not ("grpc" or "http/protobuf"))
        {
            errors.Add($"{prefix}:Telemetry:Otlp:Protocol: '{otlp.Protocol}' is not grpc or http/protobuf.");
        }
        if (otlp.SamplingRatio is < 0 or > 1 || double.IsNaN(otlp.SamplingRatio))
        {
            errors.Add($"{prefix}:Telemetry:Otlp:SamplingRatio: '{otlp.SamplingRatio}' must be between 0 and 1.");
        }
        Positive(errors, $"{prefix}:Telemetry:Otlp:MetricsInterval", otlp.MetricsInterval, "00:00:15");
        if (string.IsNullOrWhiteSpace(otlp.ServiceName))
        {
            errors.Add($"{prefix}:Telemetry:Otlp:ServiceName: must not be empty (default mcpedge).");
        }

        var messages = options.Messages;
        if (messages.MaxBytes is < 1024 or > MessageOptions.MaxMaxBytes)
        {
            errors.Add($"{prefix}:Messages:MaxBytes: '{messages.MaxBytes}' must be between 1024 and {MessageOptions.MaxMaxBytes} (bytes; default 4194304).");
        }
        if (messages.MaxDepth is < 8 or > 1000)
        {
            errors.Add($"{prefix}:Messages:MaxDepth: '{messages.MaxDepth}' must be between 8 and 1000 (default 64).");
        }

        for (var i = 0; i < options.Security.AllowedOrigins.Count; i++)
        {
            var origin = options.Security.AllowedOrigins[i];
            if (origin != "*" && !(Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.AbsolutePath == "/" && !origin.EndsWith('/') && string.IsNullOrEmpty(uri.Query)))
            {
                errors.Add($"{prefix}:Security:AllowedOrigins:{i}: '{origin}' must be '*' or an origin such as https://app.example.com (scheme, host and optional port, nothing else).");
            }
        }
        for (var i = 0; i < options.Security.TrustedProxies.Count; i++)
        {
            if (!Security.TrustedProxiesMiddleware.IsAddressOrNetwork(options.Security.TrustedProxies[i]))
            {
                errors.Add($"{prefix}:Security:TrustedProxies:{i}: '{options.Security.TrustedProxies[i]}' is not an IP address or a CIDR network such as 10.0.0.0/8.");
            }
        }
        for (var i = 0; i < options.Security.AllowedHosts.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(options.Security.AllowedHosts[i]) || options.Security.AllowedHosts[i].Contains('/'))
            {
                errors.Add($"{prefix}:Security:AllowedHosts:{i}: '{options.Security.AllowedHosts[i]}' must be a host name, 'host:port', '*.domain' or '*'.");
            }
        }

        return errors;
    }

    private static void ValidateBalancing(List<string> errors, string at, McpServerOptions server)
    {
        var balancing = server.LoadBalancing;
        at += ":LoadBalancing";
        Positive(errors, $"{at}:LatencyHalfLife", balancing.LatencyHalfLife, "00:00:10");
        Positive(errors, $"{at}:FailurePenalty", balancing.FailurePenalty, "00:00:01");
        if (!LoadBalancing.HashKeySource.TryParse(balancing.HashKey, out _))
        {
            errors.Add($"{at}:HashKey: '{balancing.HashKey}' is not a key source; use {LoadBalancing.HashKeySource.Syntax}.");
        }
        if (!(balancing.LoadFactor >= 1) || double.IsInfinity(balancing.LoadFactor))
        {
            errors.Add($"{at}:LoadFactor: '{balancing.LoadFactor}' must be a number of at least 1 (1.25 lets a replica take 25% more than the average).");
        }
        if (balancing.VirtualNodes is < 1 or > 1000)
        {
            errors.Add($"{at}:VirtualNodes: '{balancing.VirtualNodes}' must be between 1 and 1000.");
        }
    }

    private static void ValidateHealth(List<string> errors, string at, McpHealthCheckOptions health)
    {
        var active = health.Active;
        var activeAt = $"{at}:HealthCheck:Active";
        if (!Health.ProbeKinds.IsKnown(active.Probe))
        {
            errors.Add($"{activeAt}:Probe: '{active.Probe}' is not a probe; use one of {string.Join(", ", Health.ProbeKinds.All)}.");
        }
        else if (active.Probe.Equals(Health.ProbeKinds.Http, StringComparison.OrdinalIgnoreCase)
            && (string.IsNullOrWhiteSpace(active.Path) || !active.Path.StartsWith('/')))
        {
            errors.Add($"{activeAt}:Path: the http probe needs an absolute path such as /healthz (got '{active.Path}').");
        }
        foreach (var (name, value) in active.Headers)
        {
            if (!HeaderName().IsMatch(name))
            {
                errors.Add($"{activeAt}:Headers: '{name}' is not a header name (RFC 9110 §5.1 token).");
            }
            else if (Health.McpHealthProber.ReservedHeaders.Contains(name))
            {
                errors.Add($"{activeAt}:Headers:{name}: the probe sets this header itself.");
            }
            if (value is null || value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                errors.Add($"{activeAt}:Headers:{name}: the value must be one line (no CR, LF or NUL).");
            }
        }
        Positive(errors, $"{activeAt}:Interval", active.Interval, "00:00:10");
        Positive(errors, $"{activeAt}:Timeout", active.Timeout, "00:00:03");
        if (active.UnhealthyThreshold < 1)
        {
            errors.Add($"{activeAt}:UnhealthyThreshold: '{active.UnhealthyThreshold}' must be at least 1.");
        }
        if (active.HealthyThreshold < 1)
        {
            errors.Add($"{activeAt}:HealthyThreshold: '{active.HealthyThreshold}' must be at least 1.");
        }
        var passiveAt = $"{at}:HealthCheck:Passive";
        if (health.Passive.ConsecutiveFailures < 1)
        {
            errors.Add($"{passiveAt}:ConsecutiveFailures: '{health.Passive.ConsecutiveFailures}' must be at least 1.");
        }
        Positive(errors, $"{passiveAt}:ReactivationPeriod", health.Passive.ReactivationPeriod, "00:00:30");
    }

    /// <summary>Scope names of <see cref="ListCacheOptions.Scope"/>.</summary>
    public static readonly IReadOnlyCollection<string> CacheScopes = ["session", "principal", "shared"];

    /// <summary>Mode names of <see cref="BatchOptions.Mode"/>.</summary>
    public static readonly IReadOnlyCollection<string> BatchModes = ["split", "passthrough", "reject"];

    private static void ValidateCacheAndBatches(List<string> errors, string at, McpServerOptions server)
    {
        var cache = server.Cache;
        if (!CacheScopes.Contains(cache.Scope, StringComparer.OrdinalIgnoreCase))
        {
            errors.Add($"{at}:Cache:Scope: '{cache.Scope}' is not a scope; use one of {string.Join(", ", CacheScopes)}.");
        }
        Positive(errors, $"{at}:Cache:Ttl", cache.Ttl, "00:00:30");
        Positive(errors, $"{at}:Cache:MaxTtl", cache.MaxTtl, "00:05:00");

        var batches = server.Batches;
        if (!BatchModes.Contains(batches.Mode, StringComparer.OrdinalIgnoreCase))
        {
            errors.Add($"{at}:Batches:Mode: '{batches.Mode}' is not a mode; use one of {string.Join(", ", BatchModes)}.");
        }
        if (batches.MaxSize is < 1 or > 10_000)
        {
            errors.Add($"{at}:Batches:MaxSize: '{batches.MaxSize}' must be between 1 and 10000 (default 100).");
        }
        if (batches.MaxConcurrency is < 1 or > 256)
        {
            errors.Add($"{at}:Batches:MaxConcurrency: '{batches.MaxConcurrency}' must be between 1 and 256 (default 4).");
        }
    }

    /// <summary>The upstream TLS files exist and pair up, and the server has an https:// replica for them (their contents are loaded by <see cref="Forwarder.UpstreamTlsStore"/>).</summary>
    private static void ValidateUpstreamTls(List<string> errors, string at, McpServerOptions server)
    {
        var tls = server.UpstreamTls;
        if (tls is not { IsSet: true })
        {
            return;
        }
        if (string.IsNullOrEmpty(tls.CertificateFile) != string.IsNullOrEmpty(tls.KeyFile))
        {
            errors.Add($"{at}:UpstreamTls: CertificateFile and KeyFile go together; set both (the client certificate and its key, PEM) or neither.");
        }
        if (!string.IsNullOrEmpty(tls.KeyPasswordFile) && string.IsNullOrEmpty(tls.KeyFile))
        {
            errors.Add($"{at}:UpstreamTls:KeyPasswordFile: the password of an encrypted KeyFile; set KeyFile (and CertificateFile) too, or remove it.");
        }
        foreach (var (name, file) in new[] { ("CaFile", tls.CaFile), ("CertificateFile", tls.CertificateFile), ("KeyFile", tls.KeyFile), ("KeyPasswordFile", tls.KeyPasswordFile) })
        {
            if (!string.IsNullOrEmpty(file) && !File.Exists(file))
            {
                errors.Add($"{at}:UpstreamTls:{name}: the file '{file}' does not exist.");
            }
        }
        if (!server.Upstreams.Any(u => u.StartsWith("https://", StringComparison.OrdinalIgnoreCase)))
        {
            errors.Add($"{at}:UpstreamTls: applies to https:// replicas, and this server has none.");
        }
    }

    /// <summary>
    /// <see cref="McpServerOptions.UpstreamHeaders"/>: RFC 9110 §5.1 names the edge does not own, one-line
    /// values, and no clash with what bearer authentication sends (the forwarded token, the identity headers).
    /// </summary>
    private static void ValidateUpstreamHeaders(List<string> errors, string at, McpServerOptions server)
    {
        var auth = server.Authentication;
        foreach (var (name, value) in server.UpstreamHeaders)
        {
            var setting = $"{at}:UpstreamHeaders:{name}";
            if (!HeaderName().IsMatch(name))
            {
                errors.Add($"{at}:UpstreamHeaders: '{name}' is not a header name (RFC 9110 §5.1 token).");
                continue;
            }
            if (UpstreamHeaderReserved(name))
            {
                errors.Add($"{setting}: the edge sets or relays this header itself; it cannot be given.");
            }
            else if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) && auth.IsEnabled && auth.ForwardAuthorization)
            {
                errors.Add($"{setting}: would replace the client's bearer token, which Authentication:ForwardAuthorization (true by default) forwards to the replicas; set ForwardAuthorization to false to send this credential instead.");
            }
            else if (auth.IsEnabled && (name.Equals(auth.PrincipalHeader, StringComparison.OrdinalIgnoreCase) || name.Equals(auth.ScopesHeader, StringComparison.OrdinalIgnoreCase)))
            {
                errors.Add($"{setting}: is the Authentication:{(name.Equals(auth.PrincipalHeader, StringComparison.OrdinalIgnoreCase) ? "PrincipalHeader" : "ScopesHeader")} too; give each its own header.");
            }
            if (value is null || value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                errors.Add($"{setting}: the value must be one line (no CR, LF or NUL).");
            }
        }
    }

    /// <summary>Headers <see cref="McpServerOptions.UpstreamHeaders"/> may not name: HTTP's framing and routing, forwarding, tracing, and MCP's own.</summary>
    private static bool UpstreamHeaderReserved(string header) =>
        Health.McpHealthProber.ReservedHeaders.Contains(header)
        || header.StartsWith("Mcp-", StringComparison.OrdinalIgnoreCase) || header.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)
        || header.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase) || header.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase)
        || new[] { "Trailer", "Keep-Alive", "Forwarded", "Last-Event-ID", "traceparent", "tracestate", "baggage" }.Contains(header, StringComparer.OrdinalIgnoreCase);

    /// <summary>Bearer authentication: the URLs are absolute (https unless <c>RequireHttpsMetadata</c> is false), the scopes are RFC 6749 §3.3 scope tokens.</summary>
    private static void ValidateAuthentication(List<string> errors, string at, ServerAuthenticationOptions auth)
    {
        at += ":Authentication";
        if (!auth.IsEnabled)
        {
            if (!string.IsNullOrEmpty(auth.Resource) || auth.Audiences.Count > 0 || auth.Scopes.Count > 0 || auth.OperationScopes.Count > 0 || auth.ImpliedScopes.Count > 0 || auth.Introspection.IsEnabled
                || auth.PrincipalHeader is not null || auth.ScopesHeader is not null || auth.ListOnlyPermittedTools || !string.IsNullOrEmpty(auth.MetadataAddress) || !string.IsNullOrEmpty(auth.JwksUri))
            {
                errors.Add($"{at}:Issuer: authentication is on only with an Issuer (the authorization server whose tokens are accepted); set it, or remove the other Authentication settings.");
            }
            return;
        }
        var httpsNote = auth.RequireHttpsMetadata ? " (https://, or set RequireHttpsMetadata to false for an http authorization server)" : "";
        if (!IsUrl(auth.Issuer, auth.RequireHttpsMetadata) || auth.Issuer!.Contains('?'))
        {
            errors.Add($"{at}:Issuer: '{auth.Issuer}' is not an absolute URL without query or fragment{httpsNote}.");
        }
        if (string.IsNullOrEmpty(auth.Resource))
        {
            errors.Add($"{at}:Resource: required with Issuer: this server's URL as clients see it, e.g. https://mcp.example.com/mcp/github (the tokens' audience, RFC 8707).");
        }
        else if (!IsUrl(auth.Resource, requireHttps: false) || auth.Resource.Contains('?'))
        {
            errors.Add($"{at}:Resource: '{auth.Resource}' is not an absolute http(s) URL without query or fragment.");
        }
        for (var i = 0; i < auth.Audiences.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(auth.Audiences[i]))
            {
                errors.Add($"{at}:Audiences:{i}: an audience must not be empty.");
            }
        }
        ValidateScopes(errors, $"{at}:Scopes", auth.Scopes);
        for (var i = 0; i < auth.OperationScopes.Count; i++)
        {
            var rule = auth.OperationScopes[i];
            var ruleAt = $"{at}:OperationScopes:{i}";
            if (string.IsNullOrEmpty(rule.Method))
            {
                errors.Add($"{ruleAt}:Method: must be a JSON-RPC method or a glob (default tools/call).");
            }
            if (string.IsNullOrEmpty(rule.Tool))
            {
                errors.Add($"{ruleAt}:Tool: must be a tool, prompt or resource URI, or a glob (default *).");
            }
            if (rule.Scopes.Count == 0)
            {
                errors.Add($"{ruleAt}:Scopes: name at least one scope the operation needs.");
            }
            ValidateScopes(errors, $"{ruleAt}:Scopes", rule.Scopes);
        }
        for (var i = 0; i < auth.ImpliedScopes.Count; i++)
        {
            var step = auth.ImpliedScopes[i];
            ValidateScopes(errors, $"{at}:ImpliedScopes:{i}:Scope", [step.Scope], single: true);
            if (step.Implies.Count == 0)
            {
                errors.Add($"{at}:ImpliedScopes:{i}:Implies: name at least one scope that '{step.Scope}' implies.");
            }
            ValidateScopes(errors, $"{at}:ImpliedScopes:{i}:Implies", step.Implies);
        }
        if (!string.IsNullOrEmpty(auth.MetadataAddress) && !string.IsNullOrEmpty(auth.JwksUri))
        {
            errors.Add($"{at}:JwksUri: give MetadataAddress or JwksUri, not both.");
        }
        foreach (var (name, url) in new[] { ("MetadataAddress", auth.MetadataAddress), ("JwksUri", auth.JwksUri) })
        {
            if (!string.IsNullOrEmpty(url) && !IsUrl(url, auth.RequireHttpsMetadata))
            {
                errors.Add($"{at}:{name}: '{url}' is not an absolute URL{httpsNote}.");
            }
        }
        foreach (var (setting, header) in new[] { ("PrincipalHeader", auth.PrincipalHeader), ("ScopesHeader", auth.ScopesHeader) })
        {
            if (header is null)
            {
                continue;
            }
            if (!HeaderName().IsMatch(header))
            {
                errors.Add($"{at}:{setting}: '{header}' is not a header name (RFC 9110 §5.1 token).");
            }
            else if (IdentityHeaderReserved(header))
            {
                errors.Add($"{at}:{setting}: '{header}' is a header the edge or HTTP itself uses; choose another, e.g. X-Auth-Principal.");
            }
        }
        if (auth.PrincipalHeader is not null && string.Equals(auth.PrincipalHeader, auth.ScopesHeader, StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{at}:ScopesHeader: '{auth.ScopesHeader}' is the PrincipalHeader too; give each its own.");
        }
        var introspection = auth.Introspection;
        if (introspection.IsEnabled)
        {
            ValidateIntrospectionClient(errors, $"{at}:Introspection", introspection);
            if (!string.IsNullOrEmpty(introspection.Endpoint) && !IsUrl(introspection.Endpoint, auth.RequireHttpsMetadata))
            {
                errors.Add($"{at}:Introspection:Endpoint: '{introspection.Endpoint}' is not an absolute URL{httpsNote}.");
            }
            else if (string.IsNullOrEmpty(introspection.Endpoint) && !string.IsNullOrEmpty(auth.JwksUri))
            {
                errors.Add($"{at}:Introspection:Endpoint: required with JwksUri (without metadata there is no introspection_endpoint to read).");
            }
            if (introspection.MaxConcurrent < 1)
            {
                errors.Add($"{at}:Introspection:MaxConcurrent: {introspection.MaxConcurrent} must be at least 1.");
            }
        }
        else if (!string.IsNullOrEmpty(introspection.ClientSecret) || !string.IsNullOrEmpty(introspection.Endpoint) || !string.IsNullOrEmpty(introspection.PrivateKeyFile))
        {
            errors.Add($"{at}:Introspection:ClientId: introspection is on only with a ClientId; set it, or remove the other Introspection settings.");
        }
        if (string.IsNullOrWhiteSpace(auth.PrincipalClaim))
        {
            errors.Add($"{at}:PrincipalClaim: must name a claim (default sub).");
        }
        if (auth.ClockSkew < TimeSpan.Zero || auth.ClockSkew > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{at}:ClockSkew: '{auth.ClockSkew}' must be between 00:00:00 and 00:10:00 (default 00:01:00).");
        }
        if (auth.KeysRefreshInterval < TimeSpan.FromMinutes(5))
        {
            errors.Add($"{at}:KeysRefreshInterval: '{auth.KeysRefreshInterval}' must be at least 00:05:00 (default 01:00:00); a token signed by an unknown key fetches the keys sooner anyway.");
        }

        static bool IsUrl(string? value, bool requireHttps) =>
            Uri.TryCreate(value, UriKind.Absolute, out var uri)
            && (uri.Scheme == Uri.UriSchemeHttps || (!requireHttps && uri.Scheme == Uri.UriSchemeHttp))
            && string.IsNullOrEmpty(uri.Fragment) && string.IsNullOrEmpty(uri.UserInfo);
    }

    /// <summary>Headers an identity header may not be: HTTP's framing and routing, authentication, forwarding, and MCP's own.</summary>
    private static bool IdentityHeaderReserved(string header) =>
        header.StartsWith("Mcp-", StringComparison.OrdinalIgnoreCase) || header.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)
        || header.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase) || header.StartsWith("Sec-", StringComparison.OrdinalIgnoreCase)
        || new[] { "Host", "Authorization", "Cookie", "Connection", "Transfer-Encoding", "Upgrade", "TE", "Trailer", "Accept", "Forwarded", "Last-Event-ID", "Origin", "traceparent", "tracestate" }
            .Contains(header, StringComparer.OrdinalIgnoreCase);

    /// <summary>Each value is an RFC 6749 §3.3 scope token (it goes into <c>WWW-Authenticate</c> between quotes).</summary>
    private static void ValidateScopes(List<string> errors, string at, List<string> scopes, bool single = false)
    {
        for (var i = 0; i < scopes.Count; i++)
        {
            if (string.IsNullOrEmpty(scopes[i]) || !ScopeToken().IsMatch(scopes[i]))
            {
                errors.Add($"{(single ? at : $"{at}:{i}")}: '{scopes[i]}' is not a scope (printable ASCII without space, '\"' or '\\', RFC 6749 §3.3).");
            }
        }
    }

    /// <summary>The client authentication of <see cref="TokenIntrospectionOptions"/>: a known method and exactly the settings it uses.</summary>
    private static void ValidateIntrospectionClient(List<string> errors, string at, TokenIntrospectionOptions introspection)
    {
        if (introspection.ClientAuthentication is "client_secret_basic" or "client_secret_post")
        {
            if (string.IsNullOrEmpty(introspection.ClientSecret))
            {
                errors.Add(introspection.ClientAuthentication == "client_secret_basic"
                    ? $"{at}:ClientSecret: required with ClientId (the edge authenticates to the introspection endpoint with HTTP Basic, RFC 7662 §2.1); or set ClientAuthentication to private_key_jwt with a PrivateKeyFile."
                    : $"{at}:ClientSecret: required with client_secret_post (the edge sends it in the form body, RFC 6749 §2.3.1).");
            }
            foreach (var (name, value) in new[] { ("PrivateKeyFile", introspection.PrivateKeyFile), ("KeyId", introspection.KeyId), ("AssertionAudience", introspection.AssertionAudience) })
            {
                if (!string.IsNullOrEmpty(value))
                {
                    errors.Add($"{at}:{name}: used only with ClientAuthentication private_key_jwt (it is {introspection.ClientAuthentication}).");
                }
            }
            return;
        }
        if (introspection.ClientAuthentication != "private_key_jwt")
        {
            errors.Add($"{at}:ClientAuthentication: '{introspection.ClientAuthentication}' is not a method the edge speaks; use {string.Join(" or ", TokenIntrospectionOptions.ClientAuthenticationMethods)}.");
            return;
        }
        if (!string.IsNullOrEmpty(introspection.ClientSecret))
        {
            errors.Add($"{at}:ClientSecret: not used with private_key_jwt; remove it (the edge signs an assertion with PrivateKeyFile instead).");
        }
        if (!string.IsNullOrEmpty(introspection.AssertionAudience) && !Uri.TryCreate(introspection.AssertionAudience, UriKind.Absolute, out _))
        {
            errors.Add($"{at}:AssertionAudience: '{introspection.AssertionAudience}' is not an absolute URL (the authorization server's issuer or endpoint).");
        }
        if (string.IsNullOrEmpty(introspection.PrivateKeyFile))
        {
            errors.Add($"{at}:PrivateKeyFile: required with private_key_jwt: the PEM file of the key whose public half the authorization server has for this client.");
            return;
        }
        string pem;
        try
        {
            pem = File.ReadAllText(introspection.PrivateKeyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add($"{at}:PrivateKeyFile: '{introspection.PrivateKeyFile}' could not be read: {e.Message}");
            return;
        }
        if (Security.ClientAssertionSigner.Credentials(pem, null, out var keyError) is not { } credentials)
        {
            errors.Add($"{at}:PrivateKeyFile: '{introspection.PrivateKeyFile}': {keyError}");
            return;
        }
        // Only checked here; the signer loads its own.
        (credentials.Key as Microsoft.IdentityModel.Tokens.RsaSecurityKey)?.Rsa?.Dispose();
        (credentials.Key as Microsoft.IdentityModel.Tokens.ECDsaSecurityKey)?.ECDsa?.Dispose();
    }

    private static void ValidateTls(List<string> errors, string prefix, TlsOptions tls)
    {
        var at = $"{prefix}:Tls";
        var hasCertificate = !string.IsNullOrEmpty(tls.CertificateFile);
        var hasKey = !string.IsNullOrEmpty(tls.KeyFile);
        if (hasCertificate != hasKey)
        {
            errors.Add($"{at}: CertificateFile and KeyFile go together; set both (PEM files, e.g. a Kubernetes TLS secret's tls.crt and tls.key) or neither.");
        }
        if (!string.IsNullOrEmpty(tls.KeyPasswordFile) && !hasKey)
        {
            errors.Add($"{at}:KeyPasswordFile: the password of an encrypted KeyFile; set KeyFile (and CertificateFile) too, or remove it.");
        }
        foreach (var (name, file) in new[] { ("CertificateFile", tls.CertificateFile), ("KeyFile", tls.KeyFile), ("KeyPasswordFile", tls.KeyPasswordFile) })
        {
            if (!string.IsNullOrEmpty(file) && !File.Exists(file))
            {
                errors.Add($"{at}:{name}: the file '{file}' does not exist.");
            }
        }
        if (tls.CheckInterval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{at}:CheckInterval: '{tls.CheckInterval}' must be at least 1 s, such as 00:00:30.");
        }
        if (!Security.TlsCertificateReloader.ClientCertificateModes.Contains(tls.ClientCertificateMode, StringComparer.OrdinalIgnoreCase))
        {
            errors.Add($"{at}:ClientCertificateMode: '{tls.ClientCertificateMode}' is not a mode; use one of {string.Join(", ", Security.TlsCertificateReloader.ClientCertificateModes)}.");
        }
        else if (!tls.ClientCertificateMode.Equals("None", StringComparison.OrdinalIgnoreCase))
        {
            if (!hasCertificate)
            {
                errors.Add($"{at}:ClientCertificateMode: client certificates need the listener's own certificate from McpEdge:Tls (CertificateFile and KeyFile).");
            }
            if (string.IsNullOrEmpty(tls.ClientCaFile))
            {
                errors.Add($"{at}:ClientCaFile: required with ClientCertificateMode {tls.ClientCertificateMode}: the PEM bundle of the CAs client certificates must chain to.");
            }
            else if (!File.Exists(tls.ClientCaFile))
            {
                errors.Add($"{at}:ClientCaFile: the file '{tls.ClientCaFile}' does not exist.");
            }
            if (!string.IsNullOrEmpty(tls.ClientCrlFile) && !File.Exists(tls.ClientCrlFile))
            {
                errors.Add($"{at}:ClientCrlFile: the file '{tls.ClientCrlFile}' does not exist.");
            }
        }
        else if (!string.IsNullOrEmpty(tls.ClientCrlFile))
        {
            errors.Add($"{at}:ClientCrlFile: revocation lists apply to client certificates; set ClientCertificateMode to Allow or Require with a ClientCaFile, or remove ClientCrlFile.");
        }
        if (!Security.TlsCertificateReloader.ClientCrlChecks.Contains(tls.ClientCrlCheck, StringComparer.OrdinalIgnoreCase))
        {
            errors.Add($"{at}:ClientCrlCheck: '{tls.ClientCrlCheck}' is not a choice; use Chain (every certificate of the client's chain needs its issuer's CRL) or Leaf (the client certificate only).");
        }
    }

    private static void Positive(List<string> errors, string at, TimeSpan value, string example)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{at}: '{value}' must be a positive time span such as {example}.");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex ServerName();

    /// <summary>RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E.</summary>
    [GeneratedRegex("^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$")]
    private static partial Regex ScopeToken();

    /// <summary>An HTTP field name: a token (RFC 9110 §5.1, §5.6.2).</summary>
    [GeneratedRegex(@"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")]
    private static partial Regex HeaderName();
}
