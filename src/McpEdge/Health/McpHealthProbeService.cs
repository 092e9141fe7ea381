using System.Collections.Concurrent;
using McpEdge.Configuration;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Health;

/// <summary>
/// Runs the active MCP probes (<see cref="McpHealthProber"/>) of every server whose
/// <c>HealthCheck:Active:Enabled</c> is true: one loop per server on a <see cref="PeriodicTimer"/>
/// of the injected <see cref="TimeProvider"/>, the first round at once, every replica of a round in
/// parallel. Results go through <see cref="ProbeRecord"/>'s thresholds into YARP's active health
/// (<see cref="IDestinationHealthUpdater.SetActive"/>), which <see cref="McpAvailableDestinationsPolicy"/>
/// reads. Loops restart on every configuration change; records of replicas that remain are kept.
/// </summary>
public sealed partial class McpHealthProbeService : IHostedService, IDisposable
{
    private readonly McpEdgeConfigState _config;
    private readonly IProxyStateLookup _proxyState;
    private readonly IDestinationHealthUpdater _updater;
    private readonly McpHealthProber _prober;
    private readonly Forwarder.UpstreamTlsStore _tls;
    private readonly TimeProvider _time;
    private readonly ILogger<McpHealthProbeService> _logger;
    private readonly ConcurrentDictionary<(string Server, string Destination), ProbeRecord> _records = new();
    private readonly Lock _lock = new();
    private CancellationTokenSource? _loops;
    private List<Task> _running = [];

    /// <summary>Creates the service (started by the host).</summary>
    public McpHealthProbeService(McpEdgeConfigState config, IProxyStateLookup proxyState, IDestinationHealthUpdater updater,
        McpHealthProber prober, TimeProvider time, ILogger<McpHealthProbeService> logger, Forwarder.UpstreamTlsStore tls)
    {
        _tls = tls;
        _config = config;
        _proxyState = proxyState;
        _updater = updater;
        _prober = prober;
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised when a replica's active health changes: server name, destination id, new health.</summary>
    public event Action<string, string, DestinationHealth>? HealthChanged;

    /// <summary>The probe record of a replica, null when it has not been probed.</summary>
    public ProbeRecord? Find(string server, string destinationId) =>
        _records.TryGetValue((server, destinationId), out var record) ? record : null;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _config.Changed += Reschedule;
        Reschedule(_config.Current);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _config.Changed -= Reschedule;
        List<Task> running;
        lock (_lock)
        {
            _loops?.Cancel();
            running = _running;
            _running = [];
        }
        await Task.WhenAll(running).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private void Reschedule(McpEdgeOptions options)
    {
        lock (_lock)
        {
            _loops?.Cancel();
            _loops?.Dispose();
            _loops = new CancellationTokenSource();
            _running = [];
            foreach (var key in _records.Keys)
            {
                if (!options.Servers.TryGetValue(key.Server, out var server) || !server.HealthCheck.Active.Enabled
                    || (!UpstreamDiscoveryModes.UsesDns(server) && !server.Upstreams.Any(u => McpProxyConfigBuilder.DestinationId(new Uri(u)) == key.Destination)))
                {
                    _records.TryRemove(key, out _);
                }
            }
            foreach (var (name, server) in options.Servers)
            {
                if (server.HealthCheck.Active.Enabled)
                {
                    _running.Add(RunAsync(name, server, _loops.Token));
                }
                else if (_proxyState.TryGetCluster(name, out var cluster))
                {
                    // Probes switched off: forget what they said.
                    _updater.SetActive(cluster, cluster.Destinations.Values.Select(d => new NewActiveDestinationHealth(d, DestinationHealth.Unknown)));
                }
            }
        }
    }

    private async Task RunAsync(string server, McpServerOptions options, CancellationToken stopping)
    {
        await Task.Yield();
        var active = options.HealthCheck.Active;
        using var timer = new PeriodicTimer(active.Interval, _time);
        try
        {
            do
            {
                await ProbeRoundAsync(server, options, stopping);
            }
            while (await timer.WaitForNextTickAsync(stopping));
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            LogLoopFailed(_logger, server, ex);
        }
    }

    /// <summary>Probes every replica of <paramref name="server"/> once and applies the results.</summary>
    internal async Task ProbeRoundAsync(string server, McpServerOptions options, CancellationToken stopping)
    {
        if (!_proxyState.TryGetCluster(server, out var cluster))
        {
            return; // YARP has not applied the cluster yet.
        }
        var destinations = cluster.Destinations.Values.ToArray();
        foreach (var key in _records.Keys)
        {
            // Replicas that left between rounds (DNS discovery: pods come and go without a configuration change).
            if (key.Server == server && !cluster.Destinations.ContainsKey(key.Destination))
            {
                _records.TryRemove(key, out _);
            }
        }
        var results = await Task.WhenAll(destinations.Select(d => ProbeOneAsync(server, options, d, stopping)));
        stopping.ThrowIfCancellationRequested();
        _updater.SetActive(cluster, results.Select(r => r.Health));
        // Raised once YARP's available destinations reflect the change.
        foreach (var (health, changed) in results)
        {
            if (changed)
            {
                HealthChanged?.Invoke(server, health.Destination.DestinationId, health.NewActiveHealth);
            }
        }
    }

    /// <summary>
    /// The headers of a server's probes: <see cref="McpServerOptions.UpstreamHeaders"/> (those with a
    /// value; an empty one only strips a client's header), then <see cref="ActiveProbeOptions.Headers"/>
    /// over them, then <c>Host</c> for a replica found by DNS (its name, as proxied requests carry it).
    /// </summary>
    internal static IReadOnlyDictionary<string, string>? ProbeHeaders(McpServerOptions options, string? host)
    {
        var active = options.HealthCheck.Active.Headers;
        if (options.UpstreamHeaders.Count == 0 && host is null)
        {
            return active;
        }
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in options.UpstreamHeaders)
        {
            if (value.Length > 0)
            {
                headers[name] = value;
            }
        }
        foreach (var (name, value) in active ?? [])
        {
            headers[name] = value;
        }
        if (host is not null)
        {
            headers["Host"] = host;
        }
        return headers;
    }

    private async Task<(NewActiveDestinationHealth Health, bool Changed)> ProbeOneAsync(string server, McpServerOptions options, DestinationState destination, CancellationToken stopping)
    {
        var active = options.HealthCheck.Active;
        var record = _records.GetOrAdd((server, destination.DestinationId), static _ => new ProbeRecord());
        var kind = options.Transport == McpTransports.Sse && active.Probe.Equals(ProbeKinds.Auto, StringComparison.OrdinalIgnoreCase)
            ? ProbeKinds.SseEndpoint
            : active.Probe;
        var headers = ProbeHeaders(options, destination.Model.Config.Host);
        var (result, speaksDiscover) = await _prober.ProbeAsync(new Uri(destination.Model.Config.Address), options.UpstreamHttpVersion, kind, active.Path, active.Timeout,
            preferSession: record.SpeaksDiscover == false, _tls.Get(server), headers, stopping);
        if (speaksDiscover is not null)
        {
            record.SpeaksDiscover = speaksDiscover;
        }
        else if (!result.Healthy)
        {
            record.SpeaksDiscover = null; // try discover again next time
        }

        var before = record.Health;
        var after = record.Apply(result, _time.GetUtcNow(), active.HealthyThreshold, active.UnhealthyThreshold);
        if (after != before)
        {
            if (after == DestinationHealth.Unhealthy)
            {
                LogUnhealthy(_logger, destination.DestinationId, server, record.ConsecutiveFailures, result.Error);
            }
            else
            {
                LogHealthy(_logger, destination.DestinationId, server, result.Kind);
            }
        }
        else if (!result.Healthy)
        {
            LogProbeFailed(_logger, destination.DestinationId, server, result.Error);
        }
        return (new NewActiveDestinationHealth(destination, after), after != before);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // Registered as a singleton and as a hosted service: the container may dispose it twice.
        CancellationTokenSource? loops;
        lock (_lock)
        {
            loops = _loops;
            _loops = null;
        }
        loops?.Cancel();
        loops?.Dispose();
    }

    [LoggerMessage(EventId = 40, Level = LogLevel.Warning, Message = "Replica {DestinationId} of server {Server} is unhealthy after {Failures} failed probes: {Error}")]
    private static partial void LogUnhealthy(ILogger logger, string destinationId, string server, int failures, string? error);

    [LoggerMessage(EventId = 41, Level = LogLevel.Information, Message = "Replica {DestinationId} of server {Server} is healthy ({Probe} probe).")]
    private static partial void LogHealthy(ILogger logger, string destinationId, string server, string probe);

    [LoggerMessage(EventId = 42, Level = LogLevel.Information, Message = "Probe of replica {DestinationId} of server {Server} failed: {Error}")]
    private static partial void LogProbeFailed(ILogger logger, string destinationId, string server, string? error);

    [LoggerMessage(EventId = 43, Level = LogLevel.Error, Message = "The probe loop of server {Server} stopped")]
    private static partial void LogLoopFailed(ILogger logger, string server, Exception exception);
}
