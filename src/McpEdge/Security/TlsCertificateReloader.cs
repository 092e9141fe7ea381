using System.Diagnostics.Metrics;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using McpEdge.Configuration;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace McpEdge.Security;

/// <summary>
/// The certificate of the edge's HTTPS listeners, from the PEM files of <see cref="TlsOptions"/>,
/// swapped in place when the files change: new TLS handshakes get the new certificate and chain,
/// connections already open keep theirs, and the listener stays bound.
/// </summary>
/// <remarks>
/// <para>Kestrel's own file certificates (<c>Kestrel:Endpoints:{name}:Certificate:Path</c>) are
/// watched too, but a change makes Kestrel stop the endpoint and bind it again: measured here, new
/// connections were refused for about 5 s and an open SSE stream was cut (Kestrel's 5 s limit for
/// stopping a changed endpoint). An edge carries streams that last hours, and certificates are
/// renewed every few weeks (cert-manager: 30 days before expiry), so the edge loads its certificate
/// itself.</para>
/// <para>Every <see cref="TlsOptions.CheckInterval"/> (on the injected <see cref="TimeProvider"/>)
/// both files are read and compared with the last pair tried. A new pair is loaded with
/// <see cref="X509Certificate2.CreateFromPem(ReadOnlySpan{char}, ReadOnlySpan{char})"/> (the key
/// must match the first certificate) and the rest of the certificate file becomes the chain sent to
/// clients (<see cref="SslStreamCertificateContext.Create(X509Certificate2, X509Certificate2Collection?, bool, SslCertificateTrust?)"/>,
/// offline: nothing is fetched). A pair that does not load (a half-written renewal: new certificate,
/// old key) is logged once as a warning and the certificate in use stays; the next change is tried
/// again. At start-up a pair that does not load is a configuration error.</para>
/// <para>With client certificates on (<see cref="TlsOptions.ClientCertificateMode"/>), the
/// <see cref="TlsOptions.ClientCaFile"/> bundle is looked at on the same timer: a changed bundle
/// that loads is what new handshakes check client certificates against (event 106); one that does
/// not (no certificate, no root) is logged (event 107) and the bundle in use stays. With
/// <see cref="TlsOptions.ClientCrlFile"/>, the CRLs of that file are loaded with the bundle (each
/// must be signed by a CA of it; <see cref="CertificateRevocationLists"/>) and every client chain is
/// checked against them; the file is looked at on the same timer (events 109, 113, 114, 116, 117).</para>
/// <para>Kestrel takes the certificate through <see cref="HttpsConnectionAdapterOptions.OnAuthenticate"/>,
/// which sets <see cref="SslServerAuthenticationOptions.ServerCertificateContext"/> for each handshake
/// (<see cref="Configure"/>). Metrics (meter <c>McpEdge.Tls</c>): <c>mcpedge.tls.certificate.expiry</c>
/// (seconds until the certificate in use expires), <c>mcpedge.tls.certificate.reloads</c> (by file and
/// result), <c>mcpedge.tls.client_crl.next_update</c> (seconds until the earliest <c>nextUpdate</c>
/// of the CRLs in use) and <c>mcpedge.tls.client_certificate.refusals</c> (handshakes refused, by
/// reason: <c>chain</c> or <c>revoked</c>, the latter also for a missing or expired CRL).</para>
/// </remarks>
public sealed partial class TlsCertificateReloader : IDisposable
{
    /// <summary>The values of <see cref="TlsOptions.ClientCertificateMode"/>.</summary>
    public static readonly IReadOnlyList<string> ClientCertificateModes = ["None", "Allow", "Require"];

    /// <summary>The values of <see cref="TlsOptions.ClientCrlCheck"/>.</summary>
    public static readonly IReadOnlyList<string> ClientCrlChecks = ["Chain", "Leaf"];

    private readonly TlsOptions _options;
    private volatile ClientTrust? _client;
    private (string Ca, string? Crl) _lastClientFilesTried;
    private bool _crlExpiryWarned;
    private Counter<long>? _refusals;
    private readonly TimeProvider _time;
    private readonly ILogger<TlsCertificateReloader> _logger;
    private readonly ITimer? _timer;
    private readonly Counter<long>? _reloads;
    private readonly Lock _lock = new();
    private (string Certificate, string Key, string? Password) _lastTried;
    private volatile InUse? _inUse;

    /// <summary>Loads the certificate when <see cref="TlsOptions.CertificateFile"/> is set and starts looking for changes.</summary>
    /// <exception cref="McpEdgeConfigurationException">The files do not hold a usable certificate and matching key.</exception>
    public TlsCertificateReloader(McpEdgeConfigState config, TimeProvider time, IMeterFactory meters, ILogger<TlsCertificateReloader> logger)
    {
        _options = config.Current.Tls;
        _time = time;
        _logger = logger;
        if (!IsEnabled)
        {
            return;
        }

        var files = ReadFiles() ?? throw new McpEdgeConfigurationException([$"{McpEdgeOptions.SectionName}:Tls: the files '{_options.CertificateFile}' and '{_options.KeyFile}'{(string.IsNullOrEmpty(_options.KeyPasswordFile) ? "" : $" and '{_options.KeyPasswordFile}'")} could not be read (event 103 gives the reason)."]);
        _lastTried = files;
        if (Load(files, out var error) is not { } loaded)
        {
            throw new McpEdgeConfigurationException([$"{McpEdgeOptions.SectionName}:Tls: {error}"]);
        }
        _inUse = loaded;
        LogLoaded(_logger, loaded.Certificate.Subject, loaded.Certificate.Thumbprint, loaded.Certificate.NotAfter.ToUniversalTime(), loaded.ChainLength);
        if (!_options.ClientCertificateMode.Equals("None", StringComparison.OrdinalIgnoreCase))
        {
            _lastClientFilesTried = ReadClientFiles(out var unreadable)
                ?? throw new McpEdgeConfigurationException([$"{McpEdgeOptions.SectionName}:Tls:{unreadable}"]);
            _client = LoadClientTrust(_lastClientFilesTried, out var clientError, out var crlFailed)
                ?? throw new McpEdgeConfigurationException([$"{McpEdgeOptions.SectionName}:Tls:{(crlFailed ? $"ClientCrlFile: '{_options.ClientCrlFile}'" : "ClientCaFile")}: {clientError}"]);
            LogCrlsInUse(_client);
        }
        WarnIfOutsideValidity(loaded.Certificate);

        var meter = meters.Create("McpEdge.Tls");
        meter.CreateObservableGauge("mcpedge.tls.certificate.expiry",
            () => (_inUse!.Certificate.NotAfter.ToUniversalTime() - _time.GetUtcNow().UtcDateTime).TotalSeconds,
            "s", "Time until the certificate of the edge's HTTPS listeners expires (negative once it has).");
        _reloads = meter.CreateCounter<long>("mcpedge.tls.certificate.reloads", "{reload}", "Changed certificate files, by file (certificate: the listener's pair; client_ca: ClientCaFile; client_crl: ClientCrlFile) and result: applied, or rejected (the one in use stays).");
        if (_client is not null)
        {
            _refusals = meter.CreateCounter<long>("mcpedge.tls.client_certificate.refusals", "{handshake}", "TLS handshakes refused for their client certificate, by reason: chain (not issued under ClientCaFile, or not for client authentication) or revoked (listed in, or not covered by a current CRL of, ClientCrlFile).");
        }
        if (_client?.Revocation is not null)
        {
            meter.CreateObservableGauge("mcpedge.tls.client_crl.next_update", ObserveCrlNextUpdate, "s",
                "Time until the earliest nextUpdate of the CRLs in use (negative once it has passed: the client certificates that CRL covers are refused until a newer one is loaded).");
        }
        _timer = time.CreateTimer(_ => Check(), null, _options.CheckInterval, _options.CheckInterval);
    }

    /// <summary>Whether McpEdge provides the HTTPS certificate (<see cref="TlsOptions.CertificateFile"/> is set).</summary>
    public bool IsEnabled => !string.IsNullOrEmpty(_options.CertificateFile);

    /// <summary>The certificate new handshakes get (with its private key); null when not <see cref="IsEnabled"/>.</summary>
    public X509Certificate2? Certificate => _inUse?.Certificate;

    /// <summary>
    /// One line for <c>--check</c>: the certificate in use, and the client certificate checks (mode,
    /// trust anchors, CRLs) when they are on; <c>none</c> when McpEdge provides no certificate.
    /// </summary>
    public string Describe()
    {
        if (_inUse is not { } inUse)
        {
            return "none (McpEdge:Tls gives no certificate)";
        }
        var line = new System.Text.StringBuilder()
            .Append($"certificate {inUse.Certificate.Subject}, valid until {inUse.Certificate.NotAfter.ToUniversalTime():u}, {inUse.ChainLength} intermediate(s)");
        if (_client is not { } client)
        {
            return line.Append("; no client certificates").ToString();
        }
        line.Append($"; client certificates {_options.ClientCertificateMode}, chaining to {client.Policy.CustomTrustStore.Count} root(s) with {client.Policy.ExtraStore.Count} other CA certificate(s)");
        return (client.Revocation is { } lists
            ? line.Append($", revocation checked ({_options.ClientCrlCheck}): {lists.Count} CRL(s), {lists.Revoked} revoked, earliest nextUpdate {(lists.EarliestNextUpdate is { } next ? next.ToString("u") : "none")}")
            : line.Append(", revocation not checked")).ToString();
    }

    /// <summary>Raised after a changed pair of files was loaded, with the new certificate.</summary>
    public event Action<X509Certificate2>? Reloaded;

    /// <summary>Raised when a changed pair of files did not load, with the reason; the certificate in use stays.</summary>
    public event Action<string>? Rejected;

    /// <summary>
    /// Makes Kestrel's HTTPS listeners take their certificate from here (for
    /// <c>KestrelServerOptions.ConfigureHttpsDefaults</c>). Does nothing when not <see cref="IsEnabled"/>.
    /// </summary>
    public void Configure(HttpsConnectionAdapterOptions https)
    {
        if (!IsEnabled)
        {
            return;
        }
        // Kestrel requires a certificate or selector to build the listener; the handshake itself
        // uses the context set below (certificate and chain, built once per load).
        https.ServerCertificateSelector = (_, _) => _inUse!.Certificate;
        https.OnAuthenticate = (_, ssl) =>
        {
            ssl.ServerCertificate = null;
            ssl.ServerCertificateSelectionCallback = null;
            ssl.ServerCertificateContext = _inUse!.Context;
        };
        if (_client is not null)
        {
            https.ClientCertificateMode = _options.ClientCertificateMode.Equals("Require", StringComparison.OrdinalIgnoreCase)
                ? ClientCertificateMode.RequireCertificate
                : ClientCertificateMode.AllowCertificate;
            https.ClientCertificateValidation = (certificate, _, _) => IsTrustedClient(certificate);
        }
    }

    /// <summary>
    /// Whether a client certificate chains to a trust anchor of <see cref="TlsOptions.ClientCaFile"/>
    /// and may authenticate clients (extended key usage id-kp-clientAuth when it has one; RFC 5280
    /// §4.2.1.12) and, with <see cref="TlsOptions.ClientCrlFile"/>, is not revoked
    /// (<see cref="CertificateRevocationLists.Check"/>). The system's trust store plays no part, and
    /// nothing is fetched. A refusal fails the handshake and is logged (event 105, or 109 for revocation).
    /// </summary>
    internal bool IsTrustedClient(X509Certificate2 certificate)
    {
        var trust = _client!;
        using var chain = new X509Chain { ChainPolicy = trust.Policy.Clone() };
        if (!chain.Build(certificate))
        {
            var reason = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            LogClientRefused(_logger, certificate.Subject, certificate.Thumbprint, reason);
            _refusals?.Add(1, new KeyValuePair<string, object?>("reason", "chain"));
            return false;
        }
        var leafOnly = _options.ClientCrlCheck.Equals("Leaf", StringComparison.OrdinalIgnoreCase);
        if (trust.Revocation?.Check(chain.ChainElements, leafOnly, _time.GetUtcNow()) is { } problem)
        {
            LogClientRevoked(_logger, certificate.Subject, certificate.Thumbprint, problem);
            _refusals?.Add(1, new KeyValuePair<string, object?>("reason", "revoked"));
            return false;
        }
        return true;
    }

    /// <summary>
    /// The chain policy for client certificates: the bundle's self-signed certificates as the only
    /// roots, the rest as intermediates; null with <paramref name="error"/> when the bundle holds no
    /// certificate or no root.
    /// </summary>
    private static X509ChainPolicy? ClientPolicy(string pem, string caFile, out string? error)
    {
        if (PemCertificates.LoadBundle(pem, "client CA file", out error) is not { } bundle)
        {
            return null;
        }
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            ApplicationPolicy = { new Oid(PemCertificates.ClientAuthentication) },
        };
        foreach (var certificate in bundle)
        {
            (certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData) ? policy.CustomTrustStore : policy.ExtraStore).Add(certificate);
        }
        if (policy.CustomTrustStore.Count == 0)
        {
            error = $"'{caFile}' holds no self-signed (root) certificate to trust.";
            return null;
        }
        return policy;
    }

    /// <summary>
    /// The bundle's policy and, with <see cref="TlsOptions.ClientCrlFile"/>, its CRLs checked against
    /// the bundle; null with <paramref name="error"/> and <paramref name="crlFailed"/> (whether the
    /// CRL file, not the bundle, is at fault) when either does not load.
    /// </summary>
    private ClientTrust? LoadClientTrust((string Ca, string? Crl) files, out string? error, out bool crlFailed)
    {
        crlFailed = false;
        if (ClientPolicy(files.Ca, _options.ClientCaFile!, out error) is not { } policy)
        {
            return null;
        }
        if (files.Crl is null)
        {
            return new ClientTrust(policy, null);
        }
        var authorities = new X509Certificate2Collection();
        authorities.AddRange(policy.CustomTrustStore);
        authorities.AddRange(policy.ExtraStore);
        if (CertificateRevocationLists.Load(files.Crl, authorities, out error) is not { } lists)
        {
            crlFailed = true;
            return null;
        }
        return new ClientTrust(policy, lists);
    }

    /// <summary>The client CA bundle's text and the CRL file's (null when none is configured); null with <paramref name="error"/> when one cannot be read.</summary>
    private (string Ca, string? Crl)? ReadClientFiles(out string? error)
    {
        error = null;
        var (setting, file) = ("ClientCaFile", _options.ClientCaFile!);
        try
        {
            var ca = File.ReadAllText(file);
            (setting, file) = ("ClientCrlFile", _options.ClientCrlFile!);
            return (ca, string.IsNullOrEmpty(_options.ClientCrlFile) ? null : File.ReadAllText(file));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"{setting}: '{file}' could not be read: {e.Message}";
            return null;
        }
    }

    /// <summary>
    /// Reads <see cref="TlsOptions.ClientCaFile"/> and <see cref="TlsOptions.ClientCrlFile"/> and,
    /// when either differs from what was last tried, loads both: new handshakes then check client
    /// certificates against them; files that do not load are logged (event 107 or 114) and those in
    /// use stay. True when new files are in use.
    /// </summary>
    private bool CheckClientTrust()
    {
        if (ReadClientFiles(out var unreadable) is not { } files)
        {
            LogClientFilesUnreadable(_logger, unreadable!);
            return false;
        }
        ClientTrust? trust;
        string? error;
        bool crlFailed;
        (string Ca, string? Crl) previous;
        lock (_lock)
        {
            previous = _lastClientFilesTried;
            if (files == previous)
            {
                return false;
            }
            _lastClientFilesTried = files;
            trust = LoadClientTrust(files, out error, out crlFailed);
            if (trust is not null)
            {
                _client = trust;
                _crlExpiryWarned = false;
            }
        }
        if (trust is null)
        {
            if (crlFailed)
            {
                LogCrlRejected(_logger, _options.ClientCrlFile!, error!);
            }
            else
            {
                LogClientCaRejected(_logger, _options.ClientCaFile!, error!);
            }
            _reloads?.Add(1, new KeyValuePair<string, object?>("result", "rejected"), new KeyValuePair<string, object?>("file", crlFailed ? "client_crl" : "client_ca"));
            return false;
        }
        if (files.Ca != previous.Ca)
        {
            LogClientCaReloaded(_logger, _options.ClientCaFile!, trust.Policy.CustomTrustStore.Count, trust.Policy.ExtraStore.Count);
            _reloads?.Add(1, new KeyValuePair<string, object?>("result", "applied"), new KeyValuePair<string, object?>("file", "client_ca"));
        }
        if (files.Crl != previous.Crl)
        {
            _reloads?.Add(1, new KeyValuePair<string, object?>("result", "applied"), new KeyValuePair<string, object?>("file", "client_crl"));
        }
        LogCrlsInUse(trust);
        return true;
    }

    /// <summary>Logs the CRLs a newly loaded trust carries (event 113), those set aside (116) and whether one has expired already (117).</summary>
    private void LogCrlsInUse(ClientTrust trust)
    {
        if (trust.Revocation is not { } lists)
        {
            return;
        }
        LogCrlLoaded(_logger, _options.ClientCrlFile!, lists.Count, lists.Revoked, lists.EarliestNextUpdate?.UtcDateTime);
        if (lists.Ignored.Count > 0)
        {
            LogCrlIgnored(_logger, _options.ClientCrlFile!, string.Join("; ", lists.Ignored));
        }
        WarnIfCrlExpired();
    }

    /// <summary>Once per loaded CRL file, a warning when its earliest <c>nextUpdate</c> has passed (event 117).</summary>
    private void WarnIfCrlExpired()
    {
        if (_client?.Revocation?.EarliestNextUpdate is { } next && next < _time.GetUtcNow() && !_crlExpiryWarned)
        {
            _crlExpiryWarned = true;
            LogCrlExpired(_logger, _options.ClientCrlFile!, next.UtcDateTime);
        }
    }

    private IEnumerable<Measurement<double>> ObserveCrlNextUpdate()
    {
        if (_client?.Revocation?.EarliestNextUpdate is { } next)
        {
            yield return new Measurement<double>((next - _time.GetUtcNow()).TotalSeconds);
        }
    }

    /// <summary>
    /// Reads the files and, when they differ from the last pair tried, loads them; the same for
    /// <see cref="TlsOptions.ClientCaFile"/> and <see cref="TlsOptions.ClientCrlFile"/> when client
    /// certificates are on, and warns once when the CRLs in use have expired. Called by the timer;
    /// callable at any time.
    /// </summary>
    /// <returns>True when a new certificate or client CA bundle is in use.</returns>
    public bool Check()
    {
        if (!IsEnabled)
        {
            return false;
        }
        var clientTrust = _client is not null && CheckClientTrust();
        WarnIfCrlExpired();
        return CheckCertificate() || clientTrust;
    }

    private bool CheckCertificate()
    {
        InUse? loaded;
        string? error;
        lock (_lock)
        {
            if (ReadFiles() is not { } files || files == _lastTried)
            {
                return false;
            }
            _lastTried = files;
            loaded = Load(files, out error);
            if (loaded is not null)
            {
                _inUse = loaded;
            }
        }
        if (loaded is null)
        {
            LogRejected(_logger, _options.CertificateFile!, _options.KeyFile!, error!);
            _reloads?.Add(1, new KeyValuePair<string, object?>("result", "rejected"), new KeyValuePair<string, object?>("file", "certificate"));
            Rejected?.Invoke(error!);
            return false;
        }
        LogReloaded(_logger, loaded.Certificate.Subject, loaded.Certificate.Thumbprint, loaded.Certificate.NotAfter.ToUniversalTime(), loaded.ChainLength);
        WarnIfOutsideValidity(loaded.Certificate);
        _reloads?.Add(1, new KeyValuePair<string, object?>("result", "applied"), new KeyValuePair<string, object?>("file", "certificate"));
        Reloaded?.Invoke(loaded.Certificate);
        return true;
    }

    /// <inheritdoc />
    public void Dispose() => _timer?.Dispose();

    /// <summary>The certificate file, the key file and, with <see cref="TlsOptions.KeyPasswordFile"/>, the key's password; null when one cannot be read now.</summary>
    private (string Certificate, string Key, string? Password)? ReadFiles()
    {
        try
        {
            return (File.ReadAllText(_options.CertificateFile!), File.ReadAllText(_options.KeyFile!),
                _options.KeyPasswordFile is { Length: > 0 } passwordFile ? PemCertificates.PasswordOf(File.ReadAllText(passwordFile)) : null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Between a secret volume's symlink swap and the next look, or a file being replaced: try again next time.
            LogUnreadable(_logger, _options.CertificateFile!, _options.KeyFile!, e.Message);
            return null;
        }
    }

    private static InUse? Load((string Certificate, string Key, string? Password) files, out string? error)
    {
        if (PemCertificates.LoadPair(files.Certificate, files.Key, files.Password, PemCertificates.ServerAuthentication, "server authentication", out error) is not var (certificate, chain))
        {
            return null;
        }
        return new InUse(certificate, SslStreamCertificateContext.Create(certificate, chain, offline: true), chain.Count);
    }

    private void WarnIfOutsideValidity(X509Certificate2 certificate)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        if (now > certificate.NotAfter.ToUniversalTime() || now < certificate.NotBefore.ToUniversalTime())
        {
            LogOutsideValidity(_logger, certificate.Subject, certificate.NotBefore.ToUniversalTime(), certificate.NotAfter.ToUniversalTime());
        }
    }

    private sealed record InUse(X509Certificate2 Certificate, SslStreamCertificateContext Context, int ChainLength);

    /// <summary>What client certificates are checked against: the bundle's chain policy and, when configured, its CRLs.</summary>
    private sealed record ClientTrust(X509ChainPolicy Policy, CertificateRevocationLists? Revocation);

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "TLS certificate loaded: {Subject}, thumbprint {Thumbprint}, valid until {NotAfter:u}, {ChainLength} intermediate certificate(s).")]
    private static partial void LogLoaded(ILogger logger, string subject, string thumbprint, DateTime notAfter, int chainLength);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "TLS certificate files changed; new handshakes now get {Subject}, thumbprint {Thumbprint}, valid until {NotAfter:u}, {ChainLength} intermediate certificate(s). Open connections keep theirs.")]
    private static partial void LogReloaded(ILogger logger, string subject, string thumbprint, DateTime notAfter, int chainLength);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "TLS certificate files {CertificateFile} and {KeyFile} changed but were not loaded, so the certificate in use stays: {Reason}")]
    private static partial void LogRejected(ILogger logger, string certificateFile, string keyFile, string reason);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "TLS certificate files {CertificateFile} and {KeyFile} could not be read ({Reason}); trying again at the next check.")]
    private static partial void LogUnreadable(ILogger logger, string certificateFile, string keyFile, string reason);

    [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "TLS handshake refused: the client certificate {Subject} ({Thumbprint}) does not chain to McpEdge:Tls:ClientCaFile: {Reason}")]
    private static partial void LogClientRefused(ILogger logger, string subject, string thumbprint, string reason);

    [LoggerMessage(EventId = 106, Level = LogLevel.Information, Message = "Client CA file {ClientCaFile} changed; new handshakes now check client certificates against {Roots} root(s) and {Intermediates} other certificate(s). Open connections keep theirs.")]
    private static partial void LogClientCaReloaded(ILogger logger, string clientCaFile, int roots, int intermediates);

    [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "Client CA file {ClientCaFile} changed but was not loaded, so the bundle in use stays: {Reason}")]
    private static partial void LogClientCaRejected(ILogger logger, string clientCaFile, string reason);

    [LoggerMessage(EventId = 108, Level = LogLevel.Warning, Message = "McpEdge:Tls:{Reason}; trying again at the next check.")]
    private static partial void LogClientFilesUnreadable(ILogger logger, string reason);

    [LoggerMessage(EventId = 109, Level = LogLevel.Information, Message = "TLS handshake refused: the client certificate {Subject} ({Thumbprint}) fails the revocation check of McpEdge:Tls:ClientCrlFile: {Reason}")]
    private static partial void LogClientRevoked(ILogger logger, string subject, string thumbprint, string reason);

    [LoggerMessage(EventId = 113, Level = LogLevel.Information, Message = "Client CRL file {ClientCrlFile} in use: {Crls} CRL(s), {Revoked} revoked serial number(s), earliest nextUpdate {NextUpdate:u}.")]
    private static partial void LogCrlLoaded(ILogger logger, string clientCrlFile, int crls, int revoked, DateTime? nextUpdate);

    [LoggerMessage(EventId = 114, Level = LogLevel.Warning, Message = "Client CRL file {ClientCrlFile} (or the client CA file its CRLs are checked against) changed but was not loaded, so the CRLs and CAs in use stay: {Reason}")]
    private static partial void LogCrlRejected(ILogger logger, string clientCrlFile, string reason);

    [LoggerMessage(EventId = 116, Level = LogLevel.Warning, Message = "Client CRL file {ClientCrlFile}: the CRL(s) of {Issuers} match no certificate of McpEdge:Tls:ClientCaFile and are not used.")]
    private static partial void LogCrlIgnored(ILogger logger, string clientCrlFile, string issuers);

    [LoggerMessage(EventId = 117, Level = LogLevel.Warning, Message = "A CRL of client CRL file {ClientCrlFile} expired at {NextUpdate:u} (nextUpdate): the client certificates it covers are refused until a newer CRL is in the file.")]
    private static partial void LogCrlExpired(ILogger logger, string clientCrlFile, DateTime nextUpdate);

    [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "The TLS certificate {Subject} is not valid now (valid from {NotBefore:u} until {NotAfter:u}); clients will refuse it.")]
    private static partial void LogOutsideValidity(ILogger logger, string subject, DateTime notBefore, DateTime notAfter);
}
