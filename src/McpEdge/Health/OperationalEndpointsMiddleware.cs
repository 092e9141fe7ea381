using System.Net;
using System.Text.Json;
using McpEdge.Configuration;
using McpEdge.LoadBalancing;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Health;

/// <summary>
/// The edge's own endpoints, answered before the Host/Origin guard (kubelet probes use the pod IP
/// as Host) and before any proxying:
/// <list type="bullet">
/// <item><c>GET /healthz</c>: liveness, 200 <c>{"status":"alive"}</c> while the process serves requests;</item>
/// <item><c>GET /readyz</c>: readiness, 200 when the configuration is loaded and applied and every server
/// with <c>HealthCheck:Required</c> has a healthy replica (probed healthy when probes are on; not
/// unhealthy otherwise), else 503; the body lists each server's healthy/total replicas;</item>
/// <item><c>GET /metrics</c>: Prometheus text format (<see cref="Telemetry.MetricsEndpoint"/>);</item>
/// <item><c>GET /edge/clusters</c>: the operator view: per server its policy and per replica the
/// address, active and passive health, last probe and last error, EWMA latency (ms), in-flight
/// exchanges and YARP's concurrent request count (streams included). Loopback clients only unless
/// <see cref="SecurityOptions.StatusFromAnyAddress"/>.</item>
/// </list>
/// With an admin listener (<see cref="AdminOptions.Url"/>), that listener answers all four, the
/// operator view to any client address (the port is the boundary), and 404 to everything else, MCP
/// servers included; the traffic listeners then keep <c>/healthz</c> and <c>/readyz</c> (load
/// balancers probe the port they send traffic to) and answer 404 to <c>/metrics</c> and
/// <c>/edge/clusters</c>.
/// </summary>
internal sealed class OperationalEndpointsMiddleware(RequestDelegate next, McpEdgeConfigState config, IProxyStateLookup proxyState,
    McpHealthProbeService probes, DestinationLoadTracker loads, Telemetry.MetricsEndpoint metrics, Hosting.AdminListener adminListener)
{
    /// <summary>Liveness path.</summary>
    public const string HealthzPath = "/healthz";
    /// <summary>Readiness path.</summary>
    public const string ReadyzPath = "/readyz";
    /// <summary>Operator view path.</summary>
    public const string ClustersPath = "/edge/clusters";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Answers the edge's own paths; passes everything else on.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        if (path.Equals(HealthzPath, StringComparison.OrdinalIgnoreCase))
        {
            return WriteAsync(context, StatusCodes.Status200OK, new { status = "alive" });
        }
        if (path.Equals(ReadyzPath, StringComparison.OrdinalIgnoreCase))
        {
            var servers = Readiness();
            var ready = servers.All(s => !s.Required || s.Healthy > 0);
            return WriteAsync(context, ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable,
                new { status = ready ? "ready" : "not ready", servers });
        }
        var admin = adminListener.Serves(context);
        if (!admin && adminListener.IsEnabled)
        {
            // The admin listener has them; the traffic listeners do not give them away.
            return path.Equals(Telemetry.MetricsEndpoint.Path, StringComparison.OrdinalIgnoreCase) || path.Equals(ClustersPath, StringComparison.OrdinalIgnoreCase)
                ? NotFound(context)
                : next(context);
        }
        if (path.Equals(Telemetry.MetricsEndpoint.Path, StringComparison.OrdinalIgnoreCase) && (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)))
        {
            return metrics.WriteAsync(context);
        }
        if (path.Equals(ClustersPath, StringComparison.OrdinalIgnoreCase))
        {
            var remote = context.Connection.RemoteIpAddress;
            if (!admin && !config.Current.Security.StatusFromAnyAddress && (remote is null || !IPAddress.IsLoopback(remote)))
            {
                return NotFound(context);
            }
            return WriteAsync(context, StatusCodes.Status200OK, new { servers = Clusters() });
        }
        return admin ? NotFound(context) : next(context);
    }

    private static Task NotFound(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }

    /// <summary>A server's readiness line.</summary>
    internal sealed record ServerReadiness(string Name, bool Required, int Healthy, int Total);

    /// <summary>Readiness of every configured server.</summary>
    internal IReadOnlyList<ServerReadiness> Readiness()
    {
        var result = new List<ServerReadiness>();
        foreach (var (name, server) in config.Current.Servers.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            if (!proxyState.TryGetCluster(name, out var cluster))
            {
                result.Add(new ServerReadiness(name, server.HealthCheck.Required, 0, server.Upstreams.Count));
                continue;
            }
            var all = cluster.Destinations.Values;
            result.Add(new ServerReadiness(name, server.HealthCheck.Required, all.Count(d => IsReady(d, server.HealthCheck)), all.Count));
        }
        return result;
    }

    /// <summary>True when a replica counts towards readiness.</summary>
    internal static bool IsReady(DestinationState destination, McpHealthCheckOptions health) =>
        (health.Active.Enabled ? destination.Health.Active == DestinationHealth.Healthy : destination.Health.Active != DestinationHealth.Unhealthy)
        && (!health.Passive.Enabled || destination.Health.Passive != DestinationHealth.Unhealthy);

    private IEnumerable<object> Clusters()
    {
        var now = loads.Now;
        foreach (var (name, server) in config.Current.Servers.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            if (!proxyState.TryGetCluster(name, out var cluster))
            {
                yield return new { name, applied = false };
                continue;
            }
            var halfLife = loads.Ticks(ClusterBalancingSettings.For(cluster).LatencyHalfLife);
            var available = cluster.DestinationsState.AvailableDestinations;
            yield return new
            {
                name,
                applied = true,
                policy = cluster.Model.Config.LoadBalancingPolicy,
                required = server.HealthCheck.Required,
                probe = server.HealthCheck.Active.Enabled ? server.HealthCheck.Active.Probe : "off",
                replicas = cluster.Destinations.Values.OrderBy(d => d.DestinationId, StringComparer.Ordinal).Select(d =>
                {
                    var load = loads.Get(d);
                    var record = probes.Find(name, d.DestinationId);
                    return new
                    {
                        id = d.DestinationId,
                        address = d.Model.Config.Address,
                        available = available.Contains(d),
                        active = d.Health.Active.ToString(),
                        passive = d.Health.Passive.ToString(),
                        ewmaMs = load.HasEstimate ? Math.Round(load.LatencyMs(now, halfLife), 3) : (double?)null,
                        inFlight = load.InFlight,
                        concurrentRequests = d.ConcurrentRequestCount,
                        lastProbe = record?.Last is { } last
                            ? new { kind = last.Kind, healthy = last.Healthy, at = record.LastAt, durationMs = Math.Round(last.DurationMs, 1), error = last.Error }
                            : null,
                        lastError = record?.LastError,
                        lastErrorAt = record?.LastErrorAt,
                    };
                }).ToArray(),
            };
        }
    }

    private static Task WriteAsync(HttpContext context, int status, object body)
    {
        context.Response.StatusCode = status;
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsJsonAsync(body, Json, context.RequestAborted);
    }
}
