using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using McpEdge.Configuration;
using McpEdge.LoadBalancing;
using McpEdge.Protocol;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Telemetry;

/// <summary>
/// The edge's request, upstream, replica, session and configuration metrics (meter <c>McpEdge</c>;
/// the streaming, cache, rate-limit and batch metrics have their own meters). Exported at
/// <c>/metrics</c> by <see cref="MetricsEndpoint"/>.
/// </summary>
/// <remarks>
/// Labels: <c>mcp.server</c> and <c>mcpedge.replica</c> come from the configuration;
/// <c>mcp.method.name</c> is an MCP method of the specification, or <c>other</c>, or for non-POST
/// requests and other message kinds one of <c>GET</c>, <c>DELETE</c>, <c>batch</c>, <c>response</c>,
/// <c>invalid</c>: never raw client input.
/// </remarks>
internal sealed class EdgeMetrics
{
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    // Requests in progress per server: plain interlocked counts, read when /metrics is scraped (an
    // observable instrument), instead of two OpenTelemetry measurements (tag lookup) per request.
    private readonly ConcurrentDictionary<string, StrongBox<long>> _active = new(StringComparer.Ordinal);
    private readonly Histogram<double> _upstreamDuration;
    private readonly Counter<long> _sessionRejections;
    private readonly Counter<long> _authRejections;
    private readonly Counter<long> _failoverRetries;
    private readonly Counter<long> _reloads;

    /// <summary>Creates the instruments, and the replica gauges over YARP's state and <paramref name="loads"/>.</summary>
    public EdgeMetrics(IMeterFactory meters, IProxyStateLookup proxyState, DestinationLoadTracker loads, McpEdgeConfigState config)
    {
        var meter = meters.Create("McpEdge");
        _requests = meter.CreateCounter<long>("mcpedge.requests", "{request}", "Requests to MCP servers, by server, MCP method, HTTP status and outcome.");
        _duration = meter.CreateHistogram<double>("mcpedge.request.duration", "s", "Time from a request's arrival at the edge to the end of its response (streams: until they close).");
        meter.CreateObservableUpDownCounter("mcpedge.requests.active", () => _active.Select(server =>
            new Measurement<long>(Volatile.Read(ref server.Value.Value), new KeyValuePair<string, object?>("mcp.server", server.Key))),
            "{request}", "Requests to MCP servers in progress (streams included).");
        _upstreamDuration = meter.CreateHistogram<double>("mcpedge.upstream.duration", "s", "Upstream exchanges (not GET streams), from sending the request to the end of the answer, by replica.");
        _sessionRejections = meter.CreateCounter<long>("mcpedge.session.rejections", "{request}", "Requests refused because of their session token, by reason.");
        _authRejections = meter.CreateCounter<long>("mcpedge.auth.rejections", "{request}",
            "Requests refused by bearer authentication (Servers:{name}:Authentication), by server and reason (missing, invalid_request, expired, not_yet_valid, no_expiry, audience, issuer, signature, malformed, invalid, no_principal, insufficient_scope, unavailable).");
        _failoverRetries = meter.CreateCounter<long>("mcpedge.failover.retries", "{request}",
            "Requests retried on another replica because theirs refused the connection (Failover), by server, the replica that failed and the retry's result.");
        _reloads = meter.CreateCounter<long>("mcpedge.config.reloads", "{reload}", "Configuration changes, applied or rejected.");
        config.Changed += _ => _reloads.Add(1, new KeyValuePair<string, object?>("result", "applied"));
        config.Rejected += _ => _reloads.Add(1, new KeyValuePair<string, object?>("result", "rejected"));

        meter.CreateObservableGauge("mcpedge.replica.healthy", () => Replicas(proxyState, (_, d) =>
            d.Health.Active != DestinationHealth.Unhealthy && d.Health.Passive != DestinationHealth.Unhealthy ? 1 : 0),
            "{replica}", "1 when the replica is taken by load balancing (neither active nor passive health says unhealthy), else 0.");
        meter.CreateObservableGauge("mcpedge.replica.latency", () => Replicas(proxyState, (cluster, d) =>
            {
                var load = loads.Get(d);
                return load.HasEstimate ? load.LatencyMs(loads.Now, loads.Ticks(ClusterBalancingSettings.For(cluster).LatencyHalfLife)) / 1000.0 : double.NaN;
            }).Where(m => !double.IsNaN(m.Value)),
            "s", "The replica's peak-EWMA latency estimate (LeastResponseTime); absent until it has one.");
        meter.CreateObservableGauge("mcpedge.replica.in_flight", () => Replicas(proxyState, (_, d) => loads.Get(d).InFlight),
            "{request}", "Exchanges in flight on the replica (streams excluded).");
    }

    private static IEnumerable<Measurement<double>> Replicas(IProxyStateLookup proxyState, Func<ClusterState, DestinationState, double> value)
    {
        foreach (var cluster in proxyState.GetClusters())
        {
            foreach (var destination in cluster.Destinations.Values)
            {
                yield return new Measurement<double>(value(cluster, destination),
                    new KeyValuePair<string, object?>("mcp.server", cluster.ClusterId), new KeyValuePair<string, object?>("mcpedge.replica", destination.DestinationId));
            }
        }
    }

    /// <summary>The <c>mcp.method.name</c> label of a request (see remarks).</summary>
    public static string MethodLabel(HttpRequest request, JsonRpcMessageFeature? message)
    {
        if (!HttpMethods.IsPost(request.Method))
        {
            return HttpMethods.IsGet(request.Method) ? "GET" : HttpMethods.IsDelete(request.Method) ? "DELETE" : "other";
        }
        return message?.Kind switch
        {
            JsonRpcKind.Request or JsonRpcKind.Notification => McpMethods.IsKnown(message.Method) ? message.Method! : "other",
            JsonRpcKind.Batch => "batch",
            JsonRpcKind.Response => "response",
            _ => "invalid",
        };
    }

    /// <summary>The outcome label: <c>ok</c> (2xx/3xx), <c>client_error</c> (4xx), <c>upstream_error</c> (5xx or a forwarding failure), <c>cancelled</c> (the client left).</summary>
    public static string Outcome(HttpContext context) =>
        context.RequestAborted.IsCancellationRequested ? "cancelled"
        : context.GetForwarderErrorFeature() is not null || context.Response.StatusCode >= 500 ? "upstream_error"
        : context.Response.StatusCode >= 400 ? "client_error"
        : "ok";

    internal void Started(string server) => Interlocked.Increment(ref Active(server).Value);

    private StrongBox<long> Active(string server) => _active.GetOrAdd(server, static _ => new StrongBox<long>());

    /// <summary>Status codes boxed once, so a measurement does not box one per request.</summary>
    private static readonly object[] StatusCodes = Enumerable.Range(0, 600).Select(code => (object)code).ToArray();

    internal void Ended(string server, string method, int status, string outcome, double seconds)
    {
        Interlocked.Decrement(ref Active(server).Value);
        var serverTag = new KeyValuePair<string, object?>("mcp.server", server);
        var tags = new TagList
        {
            serverTag,
            { "mcp.method.name", method },
            { "http.response.status_code", status is >= 0 and < 600 ? StatusCodes[status] : status },
            { "outcome", outcome },
        };
        // The counter last: whoever sees a request counted sees its duration and its end of activity too.
        _duration.Record(seconds, serverTag, new("mcp.method.name", method), new("outcome", outcome));
        _requests.Add(1, in tags);
    }

    internal void Upstream(string server, string replica, double seconds, string outcome) =>
        _upstreamDuration.Record(seconds, new("mcp.server", server), new("mcpedge.replica", replica), new("outcome", outcome));

    /// <summary>
    /// Counts a request that <see cref="Forwarder.FailoverMiddleware"/> sent again after
    /// <paramref name="failedReplica"/> refused the connection; <c>result</c> is <c>ok</c> when the
    /// retry got an answer from the other replica, else <c>failed</c>.
    /// </summary>
    public void FailoverRetried(string server, string failedReplica, bool succeeded) =>
        _failoverRetries.Add(1, new KeyValuePair<string, object?>("mcp.server", server), new("mcpedge.replica", failedReplica), new("result", succeeded ? "ok" : "failed"));

    /// <summary>Counts a refused session token: <c>unknown</c> (did not open), <c>replica_gone</c>, <c>replica_unreachable</c>, <c>missing</c>, <c>duplicate</c>.</summary>
    public void SessionRejected(string server, string reason) =>
        _sessionRejections.Add(1, new KeyValuePair<string, object?>("mcp.server", server), new("reason", reason));

    /// <summary>Counts a request refused by bearer authentication; <paramref name="reason"/> is one of the fixed labels of <see cref="Security.BearerResult.Reason"/>, or <see cref="Security.OperationScopeMiddleware.Reason"/>.</summary>
    public void AuthRejected(string server, string reason) =>
        _authRejections.Add(1, new KeyValuePair<string, object?>("mcp.server", server), new("reason", reason));
}
