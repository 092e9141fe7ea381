using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using McpEdge.Configuration;

namespace McpEdge.Discovery;

/// <summary>A replica found by DNS: its URL with the address in place of the name, and the <c>Host</c> (the name, with the port when not the scheme's) its requests carry.</summary>
/// <param name="Address">The replica's URL, e.g. <c>http://10.1.2.3:3001/mcp</c> or <c>http://[fd00::3]:3001/mcp</c>.</param>
/// <param name="Host">The URL's authority as configured, e.g. <c>github-mcp-headless.mcp.svc.cluster.local:3001</c>.</param>
public sealed record ResolvedUpstream(string Address, string Host);

/// <summary>Looks up a host name's addresses. The default is the system resolver (<see cref="Dns.GetHostAddressesAsync(string, CancellationToken)"/>); tests put their own in its place.</summary>
public interface IUpstreamAddressResolver
{
    /// <summary>The name's addresses, IPv4 and IPv6.</summary>
    /// <exception cref="SocketException"><see cref="SocketError.HostNotFound"/> or <see cref="SocketError.NoData"/> when the name has no address; another error when the lookup failed.</exception>
    Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken);
}

/// <summary>The system resolver (getaddrinfo: <c>/etc/hosts</c>, then the DNS servers of <c>/etc/resolv.conf</c>).</summary>
internal sealed class SystemAddressResolver : IUpstreamAddressResolver
{
    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) => Dns.GetHostAddressesAsync(host, cancellationToken);
}

/// <summary>
/// The replicas of servers with <see cref="McpServerOptions.Discovery"/> <c>Dns</c>: every
/// <see cref="McpServerOptions.DnsRefreshInterval"/> each upstream URL's host name is looked up,
/// and every address becomes a replica (<see cref="ResolvedUpstream"/>), as Envoy's
/// <c>STRICT_DNS</c> cluster type does. A changed set raises <see cref="Changed"/>, on which
/// <see cref="McpProxyConfigProvider"/> gives YARP new clusters: requests in flight and open
/// streams keep their replica, new ones see the new set.
/// </summary>
/// <remarks>
/// <para>A lookup that fails (timeout, no DNS server) keeps what the name gave last, with a warning
/// (event 141): a DNS hiccup must not empty a cluster. A name that has no address
/// (<see cref="SocketError.HostNotFound"/> or <see cref="SocketError.NoData"/>: a headless Service
/// with no ready pod) gives no replica, with a warning (event 142); the server's requests then get
/// 503 and <c>/readyz</c> says so, until the name has addresses again.</para>
/// <para>The destination id of a resolved replica is its URL's (<see cref="McpProxyConfigBuilder.DestinationId"/>),
/// <c>10.1.2.3:3001/mcp</c>: every edge replica resolving the same name names the pod alike, so a
/// sealed session opens on any of them, and a session whose pod has left gets 404 (the client
/// starts a new one), as with a replica removed from <see cref="McpServerOptions.Upstreams"/>.</para>
/// <para>Names are looked up at start-up before the first clusters are built (at most 5 s, then
/// the servers not yet resolved start with no replica), and again at once when the configuration
/// changes. Metrics: the runtime's own <c>dns.lookup.duration</c> (meter
/// <c>System.Net.NameResolution</c>) and <c>mcpedge.upstream.dns.failures</c>.</para>
/// </remarks>
public sealed partial class DnsUpstreamDiscovery : IDisposable
{
    private static readonly TimeSpan StartupWait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    private readonly McpEdgeConfigState _config;
    private readonly IUpstreamAddressResolver _resolver;
    private readonly TimeProvider _time;
    private readonly ILogger<DnsUpstreamDiscovery> _logger;
    private readonly Counter<long> _failures;
    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private readonly Dictionary<(string Server, string Upstream), ResolvedUpstream[]> _byName = [];
    private readonly Dictionary<string, DateTimeOffset> _due = new(StringComparer.Ordinal);
    private readonly ITimer _timer;
    private volatile Dictionary<string, IReadOnlyList<ResolvedUpstream>> _resolved = new(StringComparer.Ordinal);

    /// <summary>Looks every name up once (at most 5 s) and starts following the names and the configuration.</summary>
    public DnsUpstreamDiscovery(McpEdgeConfigState config, IUpstreamAddressResolver resolver, TimeProvider time, IMeterFactory meters, ILogger<DnsUpstreamDiscovery> logger)
    {
        _config = config;
        _resolver = resolver;
        _time = time;
        _logger = logger;
        _failures = meters.Create("McpEdge.Discovery").CreateCounter<long>("mcpedge.upstream.dns.failures", "{lookup}",
            "Lookups of a server's upstream host name that failed (the replicas it gave last stay), by server.");
        if (config.Current.Servers.Values.Any(UpstreamDiscoveryModes.UsesDns))
        {
            // Before the first clusters exist, so that the edge does not start with servers that have no replica.
            _ = RefreshAsync(force: true).Wait(StartupWait);
        }
        config.Changed += OnConfigChanged;
        _timer = time.CreateTimer(_ => _ = RefreshAsync(force: false), null, Tick, Tick);
    }

    private void OnConfigChanged(McpEdgeOptions options) => _ = RefreshAsync(force: true);

    /// <summary>Raised after the replicas of a server changed, with the options in force.</summary>
    public event Action<McpEdgeOptions>? Changed;

    /// <summary>The replicas a <c>Dns</c> server's names resolve to now (empty before the first answer); null for a <c>Static</c> server.</summary>
    public IReadOnlyList<ResolvedUpstream>? Get(string server, McpServerOptions options) =>
        !UpstreamDiscoveryModes.UsesDns(options) ? null : _resolved.GetValueOrDefault(server) ?? [];

    /// <summary>
    /// Looks up the names of every <c>Dns</c> server whose <see cref="McpServerOptions.DnsRefreshInterval"/>
    /// has passed (every one with <paramref name="force"/>) and applies what changed. Called by the
    /// timer every second and on configuration changes; callable at any time. One refresh runs at a time.
    /// </summary>
    /// <returns>True when a server's replicas changed.</returns>
    public async Task<bool> RefreshAsync(bool force = true)
    {
        var options = _config.Current;
        if (!force && !options.Servers.Values.Any(UpstreamDiscoveryModes.UsesDns))
        {
            return false;
        }
        await _refreshing.WaitAsync();
        try
        {
            var now = _time.GetUtcNow();
            var next = new Dictionary<string, IReadOnlyList<ResolvedUpstream>>(StringComparer.Ordinal);
            var changed = false;
            foreach (var (name, server) in options.Servers)
            {
                if (!UpstreamDiscoveryModes.UsesDns(server))
                {
                    continue;
                }
                if (force || !_due.TryGetValue(name, out var due) || due <= now)
                {
                    _due[name] = now + server.DnsRefreshInterval;
                    var answers = await Task.WhenAll(server.Upstreams.Select(upstream => LookUpAsync(name, upstream)));
                    for (var i = 0; i < answers.Length; i++)
                    {
                        if (answers[i] is { } found)
                        {
                            _byName[(name, server.Upstreams[i])] = found;
                        }
                    }
                }
                var replicas = server.Upstreams
                    .SelectMany(upstream => _byName.GetValueOrDefault((name, upstream)) ?? [])
                    .DistinctBy(r => McpProxyConfigBuilder.DestinationId(new Uri(r.Address)), StringComparer.OrdinalIgnoreCase)
                    .ToArray();
                next[name] = replicas;
                if (!_resolved.TryGetValue(name, out var before) || !before.SequenceEqual(replicas))
                {
                    changed = true;
                    LogReplicas(_logger, name, replicas.Length, string.Join(", ", replicas.Select(r => r.Address)));
                }
            }
            // Names of servers that left the configuration, or stopped using DNS, are forgotten.
            foreach (var key in _byName.Keys.Where(k => !next.ContainsKey(k.Server) || !options.Servers[k.Server].Upstreams.Contains(k.Upstream)).ToList())
            {
                _byName.Remove(key);
            }
            foreach (var name in _due.Keys.Where(n => !next.ContainsKey(n)).ToList())
            {
                _due.Remove(name);
            }
            changed |= _resolved.Keys.Any(n => !next.ContainsKey(n));
            if (!changed)
            {
                return false;
            }
            _resolved = next;
        }
        finally
        {
            _refreshing.Release();
        }
        Changed?.Invoke(options);
        return true;
    }

    /// <summary>One upstream URL's replicas (sorted, so that an unchanged answer compares equal); null when the lookup failed and the last ones stay.</summary>
    private async Task<ResolvedUpstream[]?> LookUpAsync(string server, string upstream)
    {
        var uri = new Uri(upstream);
        IPAddress[] addresses;
        try
        {
            using var timeout = new CancellationTokenSource(StartupWait);
            addresses = await _resolver.ResolveAsync(uri.IdnHost, timeout.Token);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.HostNotFound or SocketError.NoData)
        {
            if (_byName.GetValueOrDefault((server, upstream)) is not { Length: 0 })
            {
                LogNoAddress(_logger, server, uri.IdnHost, e.Message);
            }
            return [];
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ArgumentException)
        {
            _failures.Add(1, new KeyValuePair<string, object?>("mcp.server", server));
            LogLookupFailed(_logger, server, uri.IdnHost, e.Message, _byName.GetValueOrDefault((server, upstream))?.Length ?? 0);
            return null;
        }
        return addresses
            .Distinct()
            .Select(address => new ResolvedUpstream(new UriBuilder(uri) { Host = address.ToString() }.Uri.AbsoluteUri, uri.Authority))
            .OrderBy(r => r.Address, StringComparer.Ordinal)
            .ToArray();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _config.Changed -= OnConfigChanged;
        _timer.Dispose();
        // _refreshing stays: a refresh still running releases it when its lookups end (it holds no wait handle).
    }

    [LoggerMessage(EventId = 140, Level = LogLevel.Information, Message = "Server {Server}: DNS gives {Count} replica(s): {Replicas}.")]
    private static partial void LogReplicas(ILogger logger, string server, int count, string replicas);

    [LoggerMessage(EventId = 141, Level = LogLevel.Warning, Message = "Server {Server}: looking up {Host} failed ({Error}); the {Count} replica(s) it gave last stay.")]
    private static partial void LogLookupFailed(ILogger logger, string server, string host, string error, int count);

    [LoggerMessage(EventId = 142, Level = LogLevel.Warning, Message = "Server {Server}: {Host} has no address ({Error}), so it gives no replica until it has.")]
    private static partial void LogNoAddress(ILogger logger, string server, string host, string error);
}
