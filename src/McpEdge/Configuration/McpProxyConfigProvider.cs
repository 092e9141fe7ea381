using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace McpEdge.Configuration;

/// <summary>
/// YARP's <see cref="IProxyConfigProvider"/> over <see cref="McpEdgeConfigState"/>: every valid
/// configuration change becomes a new <see cref="IProxyConfig"/> and signals the previous one's
/// change token. YARP applies it without touching requests in flight, so open SSE streams stay
/// open while replicas are added or removed.
/// </summary>
public sealed class McpProxyConfigProvider : IProxyConfigProvider, IDisposable
{
    private readonly McpEdgeConfigState _state;
    private readonly Forwarder.UpstreamTlsStore _tls;
    private readonly Discovery.DnsUpstreamDiscovery _discovery;
    private readonly Lock _lock = new();
    private volatile Snapshot _snapshot;

    /// <summary>
    /// Builds the first snapshot and follows changes: every configuration change, and every change of
    /// a server's upstream TLS files, both announced by <paramref name="tls"/> once it has loaded them,
    /// and every change of the replicas that <paramref name="discovery"/> finds by DNS.
    /// </summary>
    public McpProxyConfigProvider(McpEdgeConfigState state, Forwarder.UpstreamTlsStore tls, Discovery.DnsUpstreamDiscovery discovery)
    {
        _state = state;
        _tls = tls;
        _discovery = discovery;
        _snapshot = new Snapshot(state.Current, tls, discovery);
        _tls.Changed += OnChanged;
        _discovery.Changed += OnReplicasChanged;
    }

    /// <summary>
    /// New replicas by DNS: built with the configuration in force now, not the one the lookups
    /// started with, so that a lookup that ends after a reload never brings the older settings back.
    /// </summary>
    private void OnReplicasChanged(McpEdgeOptions _) => OnChanged(_state.Current);

    /// <inheritdoc />
    public IProxyConfig GetConfig() => _snapshot;

    private void OnChanged(McpEdgeOptions options)
    {
        Snapshot previous;
        lock (_lock)
        {
            // Two sources (files, DNS) may announce at once: each snapshot replaces the one before it exactly once.
            previous = _snapshot;
            _snapshot = new Snapshot(options, _tls, _discovery);
        }
        previous.Signal();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _tls.Changed -= OnChanged;
        _discovery.Changed -= OnReplicasChanged;
    }

    private sealed class Snapshot : IProxyConfig
    {
        private readonly CancellationTokenSource _changed = new();

        public Snapshot(McpEdgeOptions options, Forwarder.UpstreamTlsStore tls, Discovery.DnsUpstreamDiscovery discovery)
        {
            (Routes, Clusters) = McpProxyConfigBuilder.Build(options, server => tls.Get(server)?.Fingerprint, discovery.Get);
            ChangeToken = new CancellationChangeToken(_changed.Token);
        }

        public IReadOnlyList<RouteConfig> Routes { get; }
        public IReadOnlyList<ClusterConfig> Clusters { get; }
        public IChangeToken ChangeToken { get; }
        public string RevisionId { get; } = Guid.NewGuid().ToString("N");

        public void Signal() => _changed.Cancel();
    }
}
