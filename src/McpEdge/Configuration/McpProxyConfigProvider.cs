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
    private readonly Forwarder.UpstreamTlsStore _tls;
    private volatile Snapshot _snapshot;

    /// <summary>
    /// Builds the first snapshot and follows changes: every configuration change, and every change of
    /// a server's upstream TLS files, both announced by <paramref name="tls"/> once it has loaded them.
    /// </summary>
    public McpProxyConfigProvider(McpEdgeConfigState state, Forwarder.UpstreamTlsStore tls)
    {
        _tls = tls;
        _snapshot = new Snapshot(state.Current, tls);
        _tls.Changed += OnChanged;
    }

    /// <inheritdoc />
    public IProxyConfig GetConfig() => _snapshot;

    private void OnChanged(McpEdgeOptions options)
    {
        var previous = _snapshot;
        _snapshot = new Snapshot(options, _tls);
        previous.Signal();
    }

    /// <inheritdoc />
    public void Dispose() => _tls.Changed -= OnChanged;

    private sealed class Snapshot : IProxyConfig
    {
        private readonly CancellationTokenSource _changed = new();

        public Snapshot(McpEdgeOptions options, Forwarder.UpstreamTlsStore tls)
        {
            (Routes, Clusters) = McpProxyConfigBuilder.Build(options, server => tls.Get(server)?.Fingerprint);
            ChangeToken = new CancellationChangeToken(_changed.Token);
        }

        public IReadOnlyList<RouteConfig> Routes { get; }
        public IReadOnlyList<ClusterConfig> Clusters { get; }
        public IChangeToken ChangeToken { get; }
        public string RevisionId { get; } = Guid.NewGuid().ToString("N");

        public void Signal() => _changed.Cancel();
    }
}
