using System.Diagnostics.Metrics;
using McpEdge.Configuration;

namespace McpEdge.Sessions;

/// <summary>
/// Reloads the session key ring without a restart: <see cref="McpSessionOptions.Keys"/> when the
/// configuration changes, and <see cref="McpSessionOptions.KeyFile"/> (a mounted Kubernetes Secret)
/// when its contents change, read every <see cref="McpSessionOptions.CheckInterval"/> on the injected
/// <see cref="TimeProvider"/>. A new ring is handed to <see cref="SessionTokenSealer.Replace"/>: new
/// session ids are sealed with its first key, and tokens of every key in it open.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>A change that does not derive (a secret under 32 characters, two secrets with one key id)
/// is rejected with a warning naming the setting or file line, never the secret (event 16,
/// <c>mcpedge.session.key_reloads{result="rejected"}</c>), and the ring in use stays; the next change
/// is tried again.</item>
/// <item>A change that leaves no key at all is rejected too: a random key would end every session.</item>
/// <item>A key file that cannot be read (between a Secret volume's symlink swap and the next look) is
/// tried again at the next check (event 17).</item>
/// <item>When configured keys replace the random per-process key, that key stays last in the ring
/// for as long as the process runs, so the sessions it sealed keep opening on this replica.</item>
/// <item>An applied change is logged with the key ids (event 15); <c>mcpedge.session.keys</c> (1 per
/// key, labels <c>key_id</c> and <c>role</c> = <c>sealing</c> or <c>opening</c>) lets an alert see
/// edge replicas that seal with different keys.</item>
/// </list>
/// Key ids are the 16-bit ids every token carries in the clear (<see cref="SessionKey.Hex"/>).
/// </remarks>
public sealed partial class SessionKeyReloader : IDisposable
{
    private readonly McpEdgeConfigState _config;
    private readonly SessionTokenSealer _sealer;
    private readonly ILogger<SessionKeyReloader> _logger;
    private readonly Counter<long> _reloads;
    private readonly ITimer _timer;
    private readonly Lock _lock = new();
    private readonly SessionKey? _randomKey;
    private TimeSpan _interval;
    private string? _lastTried;

    /// <summary>Starts watching; the sealer holds the ring built from the same options at start-up.</summary>
    public SessionKeyReloader(McpEdgeConfigState config, SessionTokenSealer sealer, TimeProvider time, IMeterFactory meters, ILogger<SessionKeyReloader> logger)
    {
        _config = config;
        _sealer = sealer;
        _logger = logger;
        var ring = sealer.Ring;
        if (ring.IsEphemeral)
        {
            _randomKey = ring.Keys[0];
        }
        else
        {
            LogInUse(logger, ring.Keys[0].Hex, ring.Keys.Count, ring.KeyIds);
        }
        _lastTried = Fingerprint(TryRead(config.Current.Sessions));

        var meter = meters.Create("McpEdge.Sessions");
        _reloads = meter.CreateCounter<long>("mcpedge.session.key_reloads", "{reload}",
            "Changes of the session keys (Sessions:Keys, Sessions:KeyFile), by result: applied, or rejected (the keys in use stay).");
        meter.CreateObservableGauge("mcpedge.session.keys", ObserveKeys, "{key}",
            "1 per session key in use, by key_id (the 16-bit id tokens carry) and role: sealing (the first key, which seals new session ids) or opening.");

        _interval = config.Current.Sessions.CheckInterval;
        _timer = time.CreateTimer(_ => Check(), null, _interval, _interval);
        config.Changed += OnChanged;
    }

    /// <summary>
    /// Reads the keys (configuration and file) and, when they differ from the last ones tried,
    /// derives a ring and hands it to the sealer unless it holds the same keys as the ring in use.
    /// Called by the timer and on configuration changes; callable at any time.
    /// </summary>
    /// <returns>True when a new ring is in use.</returns>
    public bool Check()
    {
        var options = _config.Current.Sessions;
        lock (_lock)
        {
            if (TryRead(options) is not { } secrets)
            {
                return false;
            }
            var fingerprint = Fingerprint(secrets);
            if (fingerprint == _lastTried)
            {
                return false;
            }
            _lastTried = fingerprint;

            var inUse = _sealer.Ring;
            if (Derive(secrets, out var problem) is not { } ring)
            {
                LogRejected(_logger, inUse.KeyIds, problem!);
                _reloads.Add(1, new KeyValuePair<string, object?>("result", "rejected"));
                return false;
            }
            if (_randomKey is not null)
            {
                ring = ring.WithOpeningKey(_randomKey);
            }
            if (ring.SameKeysAs(inUse))
            {
                return false; // a comment or blank line, or a secret moved between Keys and KeyFile
            }
            _sealer.Replace(ring);
            LogApplied(_logger, ring.Keys[0].Hex, ring.Keys.Count, ring.KeyIds, inUse.KeyIds);
            _reloads.Add(1, new KeyValuePair<string, object?>("result", "applied"));
            return true;
        }
    }

    /// <summary>The ring of <paramref name="secrets"/>; null with <paramref name="problem"/> when a secret does not derive or none is left (a random key would end every session).</summary>
    private static SessionKeyRing? Derive(IReadOnlyList<(string Setting, string Secret)> secrets, out string? problem)
    {
        problem = null;
        if (secrets.Count == 0)
        {
            problem = $"{McpEdgeOptions.SectionName}:Sessions: no key is left in Keys or KeyFile; a random key would end every session, so restart the edge to use one.";
            return null;
        }
        try
        {
            return SessionKeyRing.FromSecrets(secrets);
        }
        catch (McpEdgeConfigurationException e)
        {
            problem = string.Join(" | ", e.Errors);
            return null;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _config.Changed -= OnChanged;
        _timer.Dispose();
    }

    private void OnChanged(McpEdgeOptions options)
    {
        var interval = options.Sessions.CheckInterval;
        if (interval != _interval)
        {
            _interval = interval;
            _timer.Change(interval, interval);
        }
        Check();
    }

    private IReadOnlyList<(string Setting, string Secret)>? TryRead(McpSessionOptions options)
    {
        try
        {
            return SessionKeyRing.ReadSecrets(options);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogUnreadable(_logger, options.KeyFile!, e.Message);
            return null;
        }
    }

    /// <summary>The secrets in order, as one string to compare with the last ones tried (held in memory only, as the bound configuration holds them).</summary>
    private static string? Fingerprint(IReadOnlyList<(string Setting, string Secret)>? secrets) =>
        secrets is null ? null : string.Join('\n', secrets.Select(s => s.Secret));

    private IEnumerable<Measurement<int>> ObserveKeys()
    {
        var keys = _sealer.Ring.Keys;
        for (var i = 0; i < keys.Count; i++)
        {
            yield return new Measurement<int>(1, new KeyValuePair<string, object?>("key_id", keys[i].Hex),
                new KeyValuePair<string, object?>("role", i == 0 ? "sealing" : "opening"));
        }
    }

    [LoggerMessage(EventId = 15, Level = LogLevel.Information, Message = "Session keys changed: key {SealingKey} seals new session ids, and tokens of {Count} key(s) open ({KeyIds}; before: {Before}). Sessions sealed with a key no longer listed now get 404.")]
    private static partial void LogApplied(ILogger logger, string sealingKey, int count, string keyIds, string before);

    [LoggerMessage(EventId = 16, Level = LogLevel.Warning, Message = "Session keys changed but were not applied, so the keys in use stay ({KeyIds}): {Reason}")]
    private static partial void LogRejected(ILogger logger, string keyIds, string reason);

    [LoggerMessage(EventId = 17, Level = LogLevel.Warning, Message = "Session key file {KeyFile} could not be read ({Reason}); the keys in use stay, trying again at the next check.")]
    private static partial void LogUnreadable(ILogger logger, string keyFile, string reason);

    [LoggerMessage(EventId = 18, Level = LogLevel.Information, Message = "Session keys in use: key {SealingKey} seals new session ids, and tokens of {Count} key(s) open ({KeyIds}).")]
    private static partial void LogInUse(ILogger logger, string sealingKey, int count, string keyIds);
}
