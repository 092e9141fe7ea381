using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using McpEdge.Configuration;
using McpEdge.Security;

namespace McpEdge.Forwarder;

/// <summary>
/// What one server's <see cref="UpstreamTlsOptions"/> files hold, loaded: the CA certificates its
/// replicas' certificates must chain to, and the edge's client certificate with its intermediates.
/// Immutable; a change to the files makes a new one (<see cref="UpstreamTlsStore"/>).
/// </summary>
public sealed class UpstreamTlsContext
{
    private readonly X509Certificate2Collection? _roots;
    private readonly SslStreamCertificateContext? _client;

    private UpstreamTlsContext(string fingerprint, X509Certificate2Collection? roots, SslStreamCertificateContext? client, X509Certificate2? clientCertificate)
    {
        Fingerprint = fingerprint;
        _roots = roots;
        _client = client;
        ClientCertificate = clientCertificate;
    }

    /// <summary>SHA-256 (hex) of the files' contents: equal contexts, equal fingerprints.</summary>
    public string Fingerprint { get; }

    /// <summary>The client certificate presented to replicas, or null.</summary>
    public X509Certificate2? ClientCertificate { get; }

    private volatile bool _replaced;

    /// <summary>False once the store holds a newer context for the server (its files changed) or none.</summary>
    public bool IsCurrent => !_replaced;

    /// <summary>Marks the context replaced (<see cref="IsCurrent"/> false).</summary>
    internal void Retire() => _replaced = true;

    /// <summary>
    /// Reads and loads the files of <paramref name="options"/>; null with <paramref name="error"/>
    /// (a sentence naming the setting) when a file cannot be read, holds no certificate, or the key
    /// is not the client certificate's, or that certificate is not for client authentication.
    /// </summary>
    public static UpstreamTlsContext? Load(UpstreamTlsOptions options, out string? error)
    {
        string? ca = null, certificate = null, key = null, password = null;
        try
        {
            ca = Read(options.CaFile);
            certificate = Read(options.CertificateFile);
            key = Read(options.KeyFile);
            password = Read(options.KeyPasswordFile) is { } passwordFile ? PemCertificates.PasswordOf(passwordFile) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"UpstreamTls: the files could not be read ({e.Message}).";
            return null;
        }

        X509Certificate2Collection? roots = null;
        if (ca is not null && (roots = PemCertificates.LoadBundle(ca, "CA file", out error)) is null)
        {
            error = $"UpstreamTls:CaFile: {error}";
            return null;
        }
        SslStreamCertificateContext? client = null;
        X509Certificate2? clientCertificate = null;
        if (certificate is not null && key is not null)
        {
            if (PemCertificates.LoadPair(certificate, key, password, PemCertificates.ClientAuthentication, "client authentication", out error) is not var (leaf, chain))
            {
                error = $"UpstreamTls:CertificateFile: {error}";
                return null;
            }
            client = SslStreamCertificateContext.Create(leaf, chain, offline: true);
            clientCertificate = leaf;
        }
        error = null;
        var fingerprint = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{ca}\0{certificate}\0{key}\0{password}")));
        return new UpstreamTlsContext(fingerprint, roots, client, clientCertificate);
    }

    /// <summary>
    /// Applies the context to a handler's TLS options: replicas' certificates must chain to the CA
    /// file's certificates (custom root trust; the host name is checked as always; no revocation
    /// check, private CAs seldom publish one), and the client certificate is offered with its
    /// intermediates when a replica asks for one.
    /// </summary>
    public void Apply(SslClientAuthenticationOptions ssl)
    {
        if (_roots is not null)
        {
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.AddRange(_roots);
            ssl.CertificateChainPolicy = policy;
        }
        if (_client is not null)
        {
            ssl.ClientCertificateContext = _client;
        }
    }

    private static string? Read(string? file) => string.IsNullOrEmpty(file) ? null : File.ReadAllText(file);
}

/// <summary>
/// The <see cref="UpstreamTlsContext"/> of every server with <see cref="McpServerOptions.UpstreamTls"/>,
/// loaded at start-up (a file that does not load is a configuration error), again after every
/// configuration change, and whenever the files' contents change (looked at every
/// <see cref="TlsOptions.CheckInterval"/>, on the injected <see cref="TimeProvider"/>): a renewed client
/// certificate or CA bundle reaches new upstream connections without a restart. Files that do not
/// load later are logged and the context in use stays. <see cref="Changed"/> then lets the proxy
/// configuration rebuild the server's HTTP client (<see cref="McpForwarderHttpClientFactory"/>).
/// </summary>
public sealed partial class UpstreamTlsStore : IDisposable
{
    private readonly McpEdgeConfigState _config;
    private readonly ILogger<UpstreamTlsStore> _logger;
    private readonly ITimer _timer;
    private readonly Lock _lock = new();
    private volatile Dictionary<string, UpstreamTlsContext> _contexts;

    /// <summary>Loads every server's files and starts looking for changes.</summary>
    /// <exception cref="McpEdgeConfigurationException">A server's files do not load.</exception>
    public UpstreamTlsStore(McpEdgeConfigState config, TimeProvider time, ILogger<UpstreamTlsStore> logger)
    {
        _config = config;
        _logger = logger;
        var errors = new List<string>();
        _contexts = LoadAll(config.Current, new Dictionary<string, UpstreamTlsContext>(), errors);
        if (errors.Count > 0)
        {
            throw new McpEdgeConfigurationException(errors);
        }
        foreach (var (server, context) in _contexts)
        {
            LogLoaded(_logger, server, context.ClientCertificate?.Subject ?? "-", context.Fingerprint[..16]);
        }
        config.Changed += OnConfigChanged;
        _timer = time.CreateTimer(_ => Check(), null, config.Current.Tls.CheckInterval, config.Current.Tls.CheckInterval);
    }

    /// <summary>Raised after the contexts were reloaded (a configuration change, or changed files), with the options in force.</summary>
    public event Action<McpEdgeOptions>? Changed;

    /// <summary>The server's context, or null when it sets no <see cref="McpServerOptions.UpstreamTls"/>.</summary>
    public UpstreamTlsContext? Get(string server) => _contexts.GetValueOrDefault(server);

    /// <summary>Reads every server's files again and applies what changed; true when a context changed. Called by the timer; callable at any time.</summary>
    public bool Check()
    {
        var options = _config.Current;
        lock (_lock)
        {
            var previous = _contexts;
            var next = LoadAll(options, previous, errors: null);
            if (next.Count == previous.Count && next.All(e => previous.TryGetValue(e.Key, out var p) && ReferenceEquals(p, e.Value)))
            {
                return false;
            }
            Replace(next);
        }
        Changed?.Invoke(options);
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _config.Changed -= OnConfigChanged;
        _timer.Dispose();
    }

    private void OnConfigChanged(McpEdgeOptions options)
    {
        lock (_lock)
        {
            Replace(LoadAll(options, _contexts, errors: null));
        }
        Changed?.Invoke(options);
    }

    /// <summary>Puts <paramref name="next"/> in force and retires the contexts it no longer holds. Under <see cref="_lock"/>.</summary>
    private void Replace(Dictionary<string, UpstreamTlsContext> next)
    {
        var previous = _contexts;
        _contexts = next;
        foreach (var old in previous.Values.Where(o => !next.Values.Contains(o)))
        {
            old.Retire();
        }
    }

    /// <summary>
    /// The contexts for <paramref name="options"/>: a server whose files are unchanged keeps its
    /// context object; one whose files do not load keeps its previous context (logged), or, at
    /// start-up, adds an error to <paramref name="errors"/>.
    /// </summary>
    private Dictionary<string, UpstreamTlsContext> LoadAll(McpEdgeOptions options, Dictionary<string, UpstreamTlsContext> previous, List<string>? errors)
    {
        var contexts = new Dictionary<string, UpstreamTlsContext>(StringComparer.OrdinalIgnoreCase);
        foreach (var (server, serverOptions) in options.Servers)
        {
            if (serverOptions?.UpstreamTls is not { IsSet: true } tls)
            {
                continue;
            }
            if (UpstreamTlsContext.Load(tls, out var error) is { } loaded)
            {
                var kept = previous.TryGetValue(server, out var old) && old.Fingerprint == loaded.Fingerprint ? old : loaded;
                if (!ReferenceEquals(kept, old) && errors is null)
                {
                    LogReloaded(_logger, server, loaded.ClientCertificate?.Subject ?? "-", loaded.Fingerprint[..16]);
                }
                contexts[server] = kept;
            }
            else if (errors is not null)
            {
                errors.Add($"{McpEdgeOptions.SectionName}:Servers:{server}:{error}");
            }
            else
            {
                LogRejected(_logger, server, error!);
                if (previous.TryGetValue(server, out var old))
                {
                    contexts[server] = old;
                }
            }
        }
        return contexts;
    }

    [LoggerMessage(EventId = 110, Level = LogLevel.Information, Message = "Upstream TLS of server {Server} loaded: client certificate {Subject}, files {Fingerprint}.")]
    private static partial void LogLoaded(ILogger logger, string server, string subject, string fingerprint);

    [LoggerMessage(EventId = 111, Level = LogLevel.Information, Message = "Upstream TLS files of server {Server} changed; new connections to its replicas now use client certificate {Subject}, files {Fingerprint}. Open connections keep theirs.")]
    private static partial void LogReloaded(ILogger logger, string server, string subject, string fingerprint);

    [LoggerMessage(EventId = 112, Level = LogLevel.Warning, Message = "Upstream TLS files of server {Server} changed but were not loaded, so the ones in use stay: {Reason}")]
    private static partial void LogRejected(ILogger logger, string server, string reason);
}
