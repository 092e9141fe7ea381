using McpEdge.Configuration;

namespace McpEdge.Hosting;

/// <summary>
/// The admin listener (<see cref="AdminOptions.Url"/>): a cleartext HTTP port bound beside the
/// traffic listeners of <c>--urls</c>, on which only the edge's own endpoints answer
/// (<see cref="Health.OperationalEndpointsMiddleware"/>). A request is the admin listener's when it
/// arrived on its port (<see cref="ConnectionInfo.LocalPort"/>), which is why the port must be one
/// no traffic listener uses.
/// </summary>
/// <remarks>
/// Kestrel binds it as one more URL of <c>--urls</c> (<see cref="WithAdmin"/>), so TLS
/// (<c>McpEdge:Tls</c>, which applies to <c>https://</c> URLs only), client certificates and HTTP/2 by
/// ALPN never reach it. The URL is read once, at start-up; a reload that changes it is logged
/// (event 5) and takes effect at the next start.
/// </remarks>
public sealed partial class AdminListener : IDisposable
{
    /// <summary>The configuration key, <c>McpEdge:Admin:Url</c>.</summary>
    public const string UrlKey = McpEdgeOptions.SectionName + ":Admin:Url";

    private readonly McpEdgeConfigState _config;
    private readonly ILogger<AdminListener> _logger;

    /// <summary>Describes the listeners bound at start-up.</summary>
    /// <param name="trafficUrls">The traffic listeners (<c>--urls</c>, <c>ASPNETCORE_URLS</c> or <see cref="McpEdgeApplication.DefaultUrls"/>), <c>;</c>-separated.</param>
    /// <param name="url">The admin listener's URL as bound, or null for none; valid (<see cref="Problem"/> found nothing).</param>
    /// <param name="config">Watched for a changed <see cref="AdminOptions.Url"/>, which needs a restart.</param>
    /// <param name="logger">Logs such a change.</param>
    public AdminListener(string trafficUrls, string? url, McpEdgeConfigState config, ILogger<AdminListener> logger)
    {
        TrafficUrls = trafficUrls;
        Url = string.IsNullOrEmpty(url) ? null : url;
        Port = Url is null ? null : BindingAddress.Parse(Url).Port;
        _config = config;
        _logger = logger;
        _config.Changed += OnChanged;
    }

    /// <summary>The traffic listeners' URLs, <c>;</c>-separated, as bound at start-up.</summary>
    public string TrafficUrls { get; }

    /// <summary>The admin listener's URL as bound at start-up, or null when there is none.</summary>
    public string? Url { get; }

    /// <summary>The admin listener's TCP port, or null when there is none.</summary>
    public int? Port { get; }

    /// <summary>Whether an admin listener was bound (and the traffic listeners therefore no longer serve <c>/metrics</c> and <c>/edge/clusters</c>).</summary>
    public bool IsEnabled => Port is not null;

    /// <summary>Whether <paramref name="context"/> arrived on the admin listener.</summary>
    public bool Serves(HttpContext context) => Port is { } port && context.Connection.LocalPort == port;

    /// <summary><paramref name="trafficUrls"/> with <paramref name="adminUrl"/> added, for Kestrel to bind both.</summary>
    public static string WithAdmin(string trafficUrls, string adminUrl) => $"{trafficUrls};{adminUrl}";

    /// <summary>What is wrong with <paramref name="url"/> as <see cref="AdminOptions.Url"/>, or null when it can be bound.</summary>
    public static string? Problem(string url)
    {
        BindingAddress address;
        try
        {
            address = BindingAddress.Parse(url);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            return $"'{url}' is not a listener URL; use http://{{host}}:{{port}}, such as http://+:9090.";
        }
        if (address.IsUnixPipe || address.IsNamedPipe)
        {
            return $"'{url}' is a socket path; the admin listener needs a TCP port, such as http://+:9090.";
        }
        if (!address.Scheme.Equals("http", StringComparison.OrdinalIgnoreCase))
        {
            return $"'{url}': the admin listener speaks cleartext HTTP only (http://); keep its port on a network clients cannot reach.";
        }
        if (address.Port is < 1 or > 65535)
        {
            return $"'{url}' needs a port of its own (1-65535): the edge tells its requests apart by the port they arrive on.";
        }
        if (address.PathBase.Length > 0)
        {
            return $"'{url}' has a path; the admin listener serves /healthz, /readyz, /metrics and /edge/clusters at the root.";
        }
        return null;
    }

    /// <summary>
    /// Why <paramref name="adminUrl"/> cannot be bound beside <paramref name="trafficUrls"/>: a traffic
    /// listener on the same port, or Kestrel endpoints in the configuration (<c>Kestrel:Endpoints</c>,
    /// which make Kestrel ignore <c>--urls</c>, the admin listener with them). Empty when none.
    /// </summary>
    public static IReadOnlyList<string> Conflicts(IConfiguration configuration, string trafficUrls, string adminUrl)
    {
        var errors = new List<string>();
        if (configuration.GetSection("Kestrel:Endpoints").GetChildren().Any())
        {
            errors.Add($"{UrlKey}: Kestrel:Endpoints replaces the listeners of --urls, and the admin listener is bound as one of them; give the traffic listeners with --urls (or ASPNETCORE_URLS) instead.");
        }
        var adminPort = BindingAddress.Parse(adminUrl).Port;
        foreach (var traffic in trafficUrls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            BindingAddress address;
            try
            {
                address = BindingAddress.Parse(traffic);
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                continue; // Kestrel reports it when it binds
            }
            if (!address.IsUnixPipe && !address.IsNamedPipe && address.Port == adminPort)
            {
                errors.Add($"{UrlKey}: port {adminPort} is a traffic listener's ('{traffic}'); give the admin listener a port of its own.");
            }
        }
        return errors;
    }

    private void OnChanged(McpEdgeOptions options)
    {
        var configured = string.IsNullOrEmpty(options.Admin.Url) ? null : options.Admin.Url;
        if (!string.Equals(configured, Url, StringComparison.Ordinal))
        {
            LogRestartNeeded(_logger, Url ?? "none", configured ?? "none");
        }
    }

    /// <inheritdoc />
    public void Dispose() => _config.Changed -= OnChanged;

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "McpEdge:Admin:Url changed to {Configured}, but the admin listener is bound at start-up and stays {Bound} until the edge restarts.")]
    private static partial void LogRestartNeeded(ILogger logger, string bound, string configured);
}
