using System.Globalization;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace McpEdge.Configuration;

/// <summary>
/// Turns validated <see cref="McpEdgeOptions"/> into YARP routes and clusters
/// (<c>Yarp.ReverseProxy.Configuration.RouteConfig</c> / <c>ClusterConfig</c>).
/// </summary>
/// <remarks>
/// Per server <c>{name}</c>:
/// <list type="bullet">
/// <item>route <c>{name}</c> matching the public path exactly (every method), to cluster <c>{name}</c>;</item>
/// <item>for the <c>sse</c> transport, route <c>{name}/message</c> matching <c>{path}/message</c> (POST),
/// where the rewritten <c>endpoint</c> event sends clients;</item>
/// <item>cluster <c>{name}</c> with one destination per upstream replica (with
/// <see cref="McpServerOptions.Discovery"/> <c>Dns</c>, per address the names resolve to, with the
/// name as the destination's <c>Host</c>), id <see cref="DestinationId(Uri)"/> (stable across
/// reloads and edge replicas, so that sealed sessions keep routing), the configured load-balancing policy, and
/// <see cref="TimeoutOptions.Response"/> as the activity timeout.</item>
/// </list>
/// Route and cluster metadata carry what the MCP transforms need (<see cref="MetadataKeys"/>).
/// </remarks>
public static class McpProxyConfigBuilder
{
    /// <summary>Metadata keys set on generated routes and clusters.</summary>
    public static class MetadataKeys
    {
        /// <summary>The MCP server name (route and cluster).</summary>
        public const string Server = "McpEdge.Server";
        /// <summary>The public path of the server (route).</summary>
        public const string PublicPath = "McpEdge.PublicPath";
        /// <summary>The transport name (route).</summary>
        public const string Transport = "McpEdge.Transport";
        /// <summary><c>endpoint</c> or <c>legacy-message</c> (route).</summary>
        public const string RouteKind = "McpEdge.RouteKind";
        /// <summary>The connect timeout in milliseconds (cluster), read by <c>McpForwarderHttpClientFactory</c>.</summary>
        public const string ConnectTimeoutMs = "McpEdge.ConnectTimeoutMs";

        /// <summary>The fingerprint of the server's upstream TLS files (cluster), when it sets <see cref="McpServerOptions.UpstreamTls"/>: a new one rebuilds the HTTP client (<c>McpForwarderHttpClientFactory</c>).</summary>
        public const string UpstreamTls = "McpEdge.UpstreamTls";
        /// <summary><see cref="LoadBalancingOptions.LatencyHalfLife"/> in milliseconds (cluster).</summary>
        public const string LatencyHalfLifeMs = "McpEdge.LatencyHalfLifeMs";
        /// <summary><see cref="LoadBalancingOptions.FailurePenalty"/> in milliseconds (cluster).</summary>
        public const string FailurePenaltyMs = "McpEdge.FailurePenaltyMs";
        /// <summary><see cref="LoadBalancingOptions.HashKey"/> (cluster).</summary>
        public const string HashKey = "McpEdge.HashKey";
        /// <summary><see cref="LoadBalancingOptions.LoadFactor"/>, invariant culture (cluster).</summary>
        public const string LoadFactor = "McpEdge.LoadFactor";
        /// <summary><see cref="LoadBalancingOptions.VirtualNodes"/> (cluster).</summary>
        public const string VirtualNodes = "McpEdge.VirtualNodes";
        /// <summary><see cref="PassiveHealthOptions.ConsecutiveFailures"/> (cluster).</summary>
        public const string ConsecutiveFailures = "McpEdge.ConsecutiveFailures";
        /// <summary><c>true</c> when failover is on (cluster).</summary>
        public const string Failover = "McpEdge.Failover";
    }

    /// <summary>Route kinds (<see cref="MetadataKeys.RouteKind"/>).</summary>
    public static class RouteKinds
    {
        /// <summary>The server's public MCP endpoint.</summary>
        public const string Endpoint = "endpoint";
        /// <summary>The edge URL that a rewritten HTTP+SSE <c>endpoint</c> event names.</summary>
        public const string LegacyMessage = "legacy-message";
    }

    /// <summary>The suffix of the legacy POST path under the public path.</summary>
    public const string LegacyMessageSuffix = "/message";

    /// <summary>The public path of a server: <see cref="McpServerOptions.Path"/> or <c>/mcp/{name}</c>.</summary>
    public static string PublicPath(string name, McpServerOptions server) =>
        string.IsNullOrWhiteSpace(server.Path) ? "/mcp/" + name : server.Path.Trim();

    /// <summary>
    /// The destination id of an upstream URL: its authority and path without a trailing '/'
    /// (<c>http://10.0.0.5:3001/mcp/</c> → <c>10.0.0.5:3001/mcp</c>). Readable in logs and
    /// stable for as long as the URL is, which is what sealed session tokens rely on.
    /// </summary>
    public static string DestinationId(Uri upstream) =>
        (upstream.Authority + upstream.AbsolutePath).TrimEnd('/').ToLowerInvariant();

    /// <summary>
    /// YARP route transforms for <see cref="McpServerOptions.UpstreamHeaders"/>: one
    /// <c>{"RequestHeader": name, "Set": value}</c> per header, or <c>{"RequestHeaderRemove": name}</c>
    /// for an empty value (YARP's <c>Set</c> would send the header empty), in name order (so an
    /// unchanged map gives an equal route, and a changed one a new route on reload); null when there are none.
    /// </summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, string>>? UpstreamHeaderTransforms(McpServerOptions server) =>
        server.UpstreamHeaders.Count == 0 ? null
        : server.UpstreamHeaders.OrderBy(h => h.Key, StringComparer.OrdinalIgnoreCase)
            .Select(h => (IReadOnlyDictionary<string, string>)(h.Value.Length == 0
                ? new Dictionary<string, string> { ["RequestHeaderRemove"] = h.Key }
                : new Dictionary<string, string> { ["RequestHeader"] = h.Key, ["Set"] = h.Value }))
            .ToArray();

    /// <summary>Builds the routes and clusters. The options must have passed <see cref="McpEdgeOptionsValidator"/>.</summary>
    /// <param name="options">The options in force.</param>
    /// <param name="upstreamTlsFingerprint">A server's upstream TLS fingerprint (<see cref="Forwarder.UpstreamTlsContext.Fingerprint"/>), null without; it goes into the cluster's metadata.</param>
    /// <param name="resolved">A <c>Dns</c> server's replicas now (<see cref="Discovery.DnsUpstreamDiscovery.Get"/>); null for a <c>Static</c> one, whose <see cref="McpServerOptions.Upstreams"/> are its replicas.</param>
    public static (IReadOnlyList<RouteConfig> Routes, IReadOnlyList<ClusterConfig> Clusters) Build(McpEdgeOptions options, Func<string, string?>? upstreamTlsFingerprint = null,
        Func<string, McpServerOptions, IReadOnlyList<Discovery.ResolvedUpstream>?>? resolved = null)
    {
        var routes = new List<RouteConfig>();
        var clusters = new List<ClusterConfig>();
        foreach (var (name, server) in options.Servers.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            var path = PublicPath(name, server);
            var routeMetadata = new Dictionary<string, string>
            {
                [MetadataKeys.Server] = name,
                [MetadataKeys.PublicPath] = path,
                [MetadataKeys.Transport] = server.Transport,
                [MetadataKeys.RouteKind] = RouteKinds.Endpoint,
            };
            var transforms = UpstreamHeaderTransforms(server);
            routes.Add(new RouteConfig
            {
                RouteId = name,
                ClusterId = name,
                Match = new RouteMatch { Path = path },
                Metadata = routeMetadata,
                Transforms = transforms,
            });
            if (server.Transport == McpTransports.Sse)
            {
                routes.Add(new RouteConfig
                {
                    RouteId = name + LegacyMessageSuffix,
                    ClusterId = name,
                    Match = new RouteMatch { Path = path + LegacyMessageSuffix, Methods = ["POST"] },
                    Metadata = new Dictionary<string, string>(routeMetadata) { [MetadataKeys.RouteKind] = RouteKinds.LegacyMessage },
                    Transforms = transforms,
                });
            }

            var httpVersion = UpstreamHttpVersions.Resolve(server.UpstreamHttpVersion);
            var clusterMetadata = new Dictionary<string, string>
            {
                [MetadataKeys.Server] = name,
                [MetadataKeys.ConnectTimeoutMs] = Invariant((long)server.Timeouts.Connect.TotalMilliseconds),
                [MetadataKeys.LatencyHalfLifeMs] = Invariant((long)server.LoadBalancing.LatencyHalfLife.TotalMilliseconds),
                [MetadataKeys.FailurePenaltyMs] = Invariant((long)server.LoadBalancing.FailurePenalty.TotalMilliseconds),
                [MetadataKeys.HashKey] = server.LoadBalancing.HashKey,
                [MetadataKeys.LoadFactor] = server.LoadBalancing.LoadFactor.ToString("R", CultureInfo.InvariantCulture),
                [MetadataKeys.VirtualNodes] = Invariant(server.LoadBalancing.VirtualNodes),
                [MetadataKeys.ConsecutiveFailures] = Invariant(server.HealthCheck.Passive.ConsecutiveFailures),
                [MetadataKeys.Failover] = server.Failover ? "true" : "false",
            };
            if (upstreamTlsFingerprint?.Invoke(name) is { } fingerprint)
            {
                clusterMetadata[MetadataKeys.UpstreamTls] = fingerprint;
            }
            clusters.Add(new ClusterConfig
            {
                ClusterId = name,
                LoadBalancingPolicy = server.LoadBalancingPolicy,
                Destinations = resolved?.Invoke(name, server) is { } replicas
                    ? replicas.ToDictionary(r => DestinationId(new Uri(r.Address)), r => new DestinationConfig { Address = r.Address, Host = r.Host }, StringComparer.OrdinalIgnoreCase)
                    : server.Upstreams.ToDictionary(u => DestinationId(new Uri(u)), u => new DestinationConfig { Address = u }, StringComparer.OrdinalIgnoreCase),
                HttpRequest = new ForwarderRequestConfig
                {
                    ActivityTimeout = server.Timeouts.Response,
                    Version = httpVersion?.Version,
                    VersionPolicy = httpVersion?.Policy,
                },
                HealthCheck = new HealthCheckConfig
                {
                    // Active health is set by McpHealthProbeService (YARP's own prober stays off);
                    // McpAvailableDestinationsPolicy reads it without needing YARP's Active.Enabled.
                    AvailableDestinationsPolicy = Health.McpAvailableDestinationsPolicy.PolicyName,
                    Passive = new PassiveHealthCheckConfig
                    {
                        Enabled = server.HealthCheck.Passive.Enabled,
                        Policy = Health.McpPassiveHealthPolicy.PolicyName,
                        ReactivationPeriod = server.HealthCheck.Passive.ReactivationPeriod,
                    },
                },
                Metadata = clusterMetadata,
            });
        }
        return (routes, clusters);
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
