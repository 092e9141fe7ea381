using McpEdge.Caching;
using McpEdge.Configuration;
using McpEdge.Forwarder;
using McpEdge.Health;
using McpEdge.Protocol;
using McpEdge.LoadBalancing;
using McpEdge.Security;
using McpEdge.Sessions;
using McpEdge.Streaming;
using McpEdge.Transforms;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.LoadBalancing;

namespace McpEdge.Hosting;

/// <summary>Composes the edge: configuration, YARP, the MCP pipeline steps. <c>Program.cs</c> only calls this.</summary>
public static partial class McpEdgeApplication
{
    /// <summary>The command-line option and environment variable naming the configuration file.</summary>
    public const string ConfigFileKey = "config";

    /// <summary>The environment variable naming the configuration file when <c>--config</c> is not given.</summary>
    public const string ConfigFileEnvironmentVariable = "MCPEDGE_CONFIG";

    /// <summary>The address the edge listens on when neither <c>--urls</c> nor <c>ASPNETCORE_URLS</c> says otherwise.</summary>
    public const string DefaultUrls = "http://127.0.0.1:8080";

    /// <summary>
    /// Builds the edge. The configuration file (<c>--config FILE</c> or <c>MCPEDGE_CONFIG</c>) is
    /// loaded with reload on change; environment variables and the command line override it.
    /// </summary>
    /// <exception cref="McpEdgeConfigurationException">The configuration is invalid; the message names each setting.</exception>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        var configFile = builder.Configuration[ConfigFileKey] ?? Environment.GetEnvironmentVariable(ConfigFileEnvironmentVariable);
        string? fullPath = null;
        if (!string.IsNullOrEmpty(configFile))
        {
            fullPath = Path.GetFullPath(configFile, Environment.CurrentDirectory);
            if (!File.Exists(fullPath))
            {
                throw new McpEdgeConfigurationException([$"{ConfigFileKey}: the configuration file '{fullPath}' does not exist."]);
            }
            var source = new LastGoodJsonConfigurationSource { Path = fullPath, Optional = false, ReloadOnChange = true };
            source.ResolveFileProvider();
            try
            {
                ((IConfigurationBuilder)builder.Configuration).Add(source); // loads the file now
            }
            catch (InvalidDataException ex)
            {
                var reason = ex.InnerException?.InnerException?.Message ?? ex.InnerException?.Message ?? ex.Message;
                throw new McpEdgeConfigurationException([$"{ConfigFileKey}: the configuration file '{fullPath}' is not a JSON object: {reason}"]);
            }
            // Environment variables and the command line keep precedence over the file.
            builder.Configuration.AddEnvironmentVariables();
            builder.Configuration.AddCommandLine(args);
        }
        var trafficUrls = builder.Configuration["urls"] is { Length: > 0 } configuredUrls ? configuredUrls : DefaultUrls;
        var adminUrl = builder.Configuration[AdminListener.UrlKey] is { Length: > 0 } configuredAdmin && AdminListener.Problem(configuredAdmin) is null ? configuredAdmin : null;
        if (adminUrl is not null)
        {
            // A URL that does not parse is reported with every other configuration error when the options are validated.
            if (AdminListener.Conflicts(builder.Configuration, trafficUrls, adminUrl) is { Count: > 0 } conflicts)
            {
                throw new McpEdgeConfigurationException(conflicts);
            }
            builder.WebHost.UseUrls(AdminListener.WithAdmin(trafficUrls, adminUrl));
        }
        else if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrls);
        }
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // Every HTTPS listener without a certificate of its own takes McpEdge:Tls's, reloaded in place.
            kestrel.ConfigureHttpsDefaults(https => kestrel.ApplicationServices.GetRequiredService<TlsCertificateReloader>().Configure(https));
        });
        Telemetry.EdgeLogging.Configure(builder);

        var services = builder.Services;
        services.AddSingleton<McpEdgeConfigState>();
        services.AddSingleton(sp => new AdminListener(trafficUrls, adminUrl, sp.GetRequiredService<McpEdgeConfigState>(), sp.GetRequiredService<ILogger<AdminListener>>()));
        services.AddSingleton<McpProxyConfigProvider>();
        services.AddSingleton<IProxyConfigProvider>(sp => sp.GetRequiredService<McpProxyConfigProvider>());
        services.AddSingleton(sp =>
        {
            var state = sp.GetRequiredService<McpEdgeConfigState>();
            var sealer = new SessionTokenSealer(SessionKeyRing.FromOptions(state.Current.Sessions));
            if (sealer.IsEphemeral)
            {
                LogEphemeralKey(sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(McpEdgeApplication).FullName!));
            }
            return sealer;
        });
        services.AddSingleton<SessionKeyReloader>();
        services.AddSingleton<TlsCertificateReloader>();
        services.AddSingleton<SseRelay>();
        // The list cache codes against HybridCache; Microsoft.Extensions.Caching.Hybrid's AddHybridCache() can replace this line.
        services.AddSingleton<HybridCache>(sp => new MemoryHybridCache(sp.GetRequiredService<McpEdgeConfigState>().Current.Caching.MaxBytes,
            static value => value is CachedListResult list ? list.Result.Length + 64 : 1, sp.GetRequiredService<TimeProvider>(),
            () => sp.GetRequiredService<ListCache>().Evictions.Add(1)));
        services.AddSingleton<ListCache>();
        services.AddSingleton<Telemetry.MetricsEndpoint>();
        services.AddSingleton<Telemetry.OtlpExport>();
        services.AddSingleton<Telemetry.EdgeMetrics>();
        services.AddSingleton<StreamingMetrics>();
        services.AddSingleton<DrainReporter>();
        services.AddHostedService(sp => sp.GetRequiredService<DrainReporter>());
        services.AddOptions<HostOptions>().Configure<McpEdgeConfigState>((host, state) => host.ShutdownTimeout = state.Current.Streaming.ShutdownGracePeriod);
        services.AddReverseProxy().AddTransforms<McpTransformProvider>();
        // AddReverseProxy registers ASP.NET Core's authorization services (for routes with an
        // AuthorizationPolicy, which the edge never generates), and WebApplication then puts
        // AuthorizationMiddleware in front of every request when IAuthorizationHandlerProvider is
        // registered. It found no policy and passed on, at about 425 bytes allocated per request
        // (docs/benchmarks.md, issue 6). Without the handler provider it is not added; the policy
        // provider YARP's configuration check asks for stays.
        services.RemoveAll<Microsoft.AspNetCore.Authorization.IAuthorizationHandlerProvider>();
        services.AddSingleton<UpstreamTlsStore>();
        services.TryAddSingleton<Discovery.IUpstreamAddressResolver, Discovery.SystemAddressResolver>();
        services.AddSingleton<Discovery.DnsUpstreamDiscovery>();
        services.AddSingleton<BearerAuthentication>();
        services.AddCors();
        services.AddSingleton<IForwarderHttpClientFactory, McpForwarderHttpClientFactory>();

        // Destination policies, health and failover (McpEdge's, registered beside YARP's own).
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<DestinationLoadTracker>();
        services.AddSingleton(sp => new LeastResponseTimeLoadBalancingPolicy(sp.GetRequiredService<DestinationLoadTracker>()));
        services.AddSingleton<ILoadBalancingPolicy>(sp => sp.GetRequiredService<LeastResponseTimeLoadBalancingPolicy>());
        services.AddSingleton<ILoadBalancingPolicy, ConsistentHashLoadBalancingPolicy>();
        services.AddSingleton<IAvailableDestinationsPolicy, McpAvailableDestinationsPolicy>();
        services.AddSingleton<IPassiveHealthCheckPolicy, McpPassiveHealthPolicy>();
        services.AddSingleton<McpHealthProber>();
        services.AddSingleton<McpHealthProbeService>();
        services.AddHostedService(sp => sp.GetRequiredService<McpHealthProbeService>());

        configure?.Invoke(builder);
        var app = builder.Build();
        if (fullPath is not null && RecursiveWatchConcern(fullPath, UsesPollingFileWatcher()) is { } concern)
        {
            LogRecursiveWatch(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(McpEdgeApplication).FullName!), fullPath, concern);
        }

        // Fail at start-up, not on the first request: bind, validate, derive the session keys.
        app.Services.GetRequiredService<McpEdgeConfigState>();
        app.Services.GetRequiredService<AdminListener>(); // from now on, a reload that moves it is logged
        app.Services.GetRequiredService<SessionTokenSealer>();
        app.Services.GetRequiredService<SessionKeyReloader>(); // from now on, changed session keys apply without a restart
        app.Services.GetRequiredService<UpstreamTlsStore>(); // a server's TLS files that do not load: a configuration error now
        if (app.Services.GetRequiredService<TlsCertificateReloader>().IsEnabled && KestrelCertificateSettings(app.Configuration) is { Count: > 0 } kestrelCertificates)
        {
            throw new McpEdgeConfigurationException([.. kestrelCertificates.Select(key =>
                $"{key}: McpEdge:Tls gives every HTTPS listener its certificate; remove this Kestrel certificate setting or McpEdge:Tls (one place for the certificate).")]);
        }
        // Listen to the meters before the first request; the gauges and reload counters exist from now on.
        app.Services.GetRequiredService<Telemetry.MetricsEndpoint>();
        app.Services.GetRequiredService<Telemetry.EdgeMetrics>();
        app.Services.GetRequiredService<Telemetry.OtlpExport>();

        app.UseMiddleware<TrustedProxiesMiddleware>();
        app.UseMiddleware<OperationalEndpointsMiddleware>();
        app.UseMiddleware<HostOriginGuardMiddleware>();
        app.UseMiddleware<CorsMiddleware>();
        app.UseMiddleware<ProtectedResourceMetadataMiddleware>();
        app.MapReverseProxy(proxy =>
        {
            proxy.UseMiddleware<Telemetry.RequestTelemetryMiddleware>();
            proxy.UseMiddleware<BearerAuthenticationMiddleware>();
            proxy.UseMiddleware<JsonRpcMessageMiddleware>();
            proxy.UseMiddleware<OperationScopeMiddleware>();
            proxy.UseMiddleware<Batching.BatchSplitMiddleware>();
            proxy.UseMiddleware<Telemetry.McpTracingMiddleware>();
            proxy.UseMiddleware<StreamLimitMiddleware>();
            proxy.UseMiddleware<RateLimiting.RateLimitMiddleware>();
            proxy.UseMiddleware<SessionRoutingMiddleware>();
            proxy.UseMiddleware<Exposure.ExposureFilterMiddleware>();
            proxy.UseMiddleware<ListCacheMiddleware>();
            proxy.UseMiddleware<FailoverMiddleware>();
            proxy.UseLoadBalancing();
            proxy.UseMiddleware<LoadTrackingMiddleware>();
            proxy.UsePassiveHealthChecks();
        });
        return app;
    }

    /// <summary>The command-line switch that checks the configuration and exits instead of serving (as <c>nginx -t</c> does).</summary>
    public const string CheckSwitch = "--check";

    /// <summary>
    /// For <see cref="CheckSwitch"/>: runs YARP's own validation (<see cref="IConfigValidator"/>) over
    /// the routes and clusters the configuration generates, as start-up would, and describes what the
    /// edge would serve, one line per MCP server.
    /// </summary>
    /// <param name="app">An edge built by <see cref="Build"/> (so the configuration already bound and validated), not started.</param>
    /// <returns>The description, and the errors YARP found (empty when none).</returns>
    public static async Task<(string Summary, IReadOnlyList<string> Errors)> CheckAsync(WebApplication app)
    {
        var errors = new List<string>();
        var validator = app.Services.GetRequiredService<IConfigValidator>();
        var proxyConfig = app.Services.GetRequiredService<IProxyConfigProvider>().GetConfig();
        foreach (var route in proxyConfig.Routes)
        {
            errors.AddRange((await validator.ValidateRouteAsync(route)).Select(e => $"route {route.RouteId}: {e.Message}"));
        }
        foreach (var cluster in proxyConfig.Clusters)
        {
            errors.AddRange((await validator.ValidateClusterAsync(cluster)).Select(e => $"cluster {cluster.ClusterId}: {e.Message}"));
        }

        var options = app.Services.GetRequiredService<McpEdgeConfigState>().Current;
        var summary = new System.Text.StringBuilder();
        summary.Append("McpEdge configuration OK");
        if ((app.Configuration[ConfigFileKey] ?? Environment.GetEnvironmentVariable(ConfigFileEnvironmentVariable)) is { Length: > 0 } file)
        {
            summary.Append(": ").Append(Path.GetFullPath(file, Environment.CurrentDirectory));
        }
        summary.AppendLine();
        var listeners = app.Services.GetRequiredService<AdminListener>();
        summary.Append("listeners: ").AppendLine(listeners.TrafficUrls);
        summary.Append("admin listener: ").AppendLine(listeners.Url is { } admin
            ? $"{admin} (/healthz, /readyz, /metrics, /edge/clusters; the traffic listeners keep /healthz and /readyz)"
            : "none (/healthz, /readyz, /metrics and /edge/clusters on the traffic listeners)");
        summary.Append("tls: ").AppendLine(app.Services.GetRequiredService<TlsCertificateReloader>().Describe());
        var ring = app.Services.GetRequiredService<SessionTokenSealer>().Ring;
        summary.Append("sessions: ").AppendLine(ring.IsEphemeral
            ? "a random per-process key (set McpEdge:Sessions:Keys or KeyFile to share sessions between edge replicas)"
            : $"sealed with key {ring.Keys[0].Hex}; {ring.Keys.Count} key(s) open ({ring.KeyIds})");
        foreach (var (name, server) in options.Servers.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            var active = server.HealthCheck.Active;
            summary.Append("server ").Append(name).Append(": ").Append(McpProxyConfigBuilder.PublicPath(name, server))
                .Append(" → ").Append(UpstreamDiscoveryModes.UsesDns(server)
                    ? $"the addresses of {string.Join(", ", server.Upstreams.Select(u => new Uri(u).IdnHost))} (DNS every {server.DnsRefreshInterval}; {app.Services.GetRequiredService<Discovery.DnsUpstreamDiscovery>().Get(name, server)!.Count} now)"
                    : server.Upstreams.Count == 1 ? "1 replica" : $"{server.Upstreams.Count} replicas")
                .Append(" (").Append(server.Transport).Append(", ").Append(server.LoadBalancingPolicy)
                .Append(", probes ").Append(active.Enabled ? $"{active.Probe} every {active.Interval}" : "off")
                .Append(", ").Append(server.Authentication.IsEnabled ? $"bearer tokens of {server.Authentication.Issuer}" : "no token needed")
                // The names only: the values are credentials.
                .Append(server.UpstreamHeaders.Count > 0 ? $", upstream headers {string.Join(", ", server.UpstreamHeaders.Keys.Order(StringComparer.OrdinalIgnoreCase))}" : "")
                .AppendLine(")");
        }
        if (options.RateLimits.Count > 0)
        {
            summary.Append("rate limits: ").AppendLine(string.Join(", ", options.RateLimits.Select(r => r.Name)));
        }
        return (summary.ToString().TrimEnd(), errors);
    }

    /// <summary>Kestrel's own certificate settings (<c>Kestrel:Certificates</c>, <c>Kestrel:Endpoints:{name}:Certificate</c>), which <see cref="TlsCertificateReloader"/> would silently override.</summary>
    internal static List<string> KestrelCertificateSettings(IConfiguration configuration)
    {
        var found = new List<string>();
        var certificates = configuration.GetSection("Kestrel:Certificates");
        if (certificates.Exists())
        {
            found.Add(certificates.Path);
        }
        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
        {
            if (endpoint.GetSection("Certificate").Exists())
            {
                found.Add(endpoint.GetSection("Certificate").Path);
            }
        }
        return found;
    }

    /// <summary>From this many subdirectories (counted recursively) on, the configuration file's directory is too big to watch quietly.</summary>
    internal const int WatchedDirectoryLimit = 100;

    /// <summary>
    /// Why reloading <paramref name="configFile"/> on change may cost the edge, or null. .NET's
    /// <c>PhysicalFilesWatcher</c> (behind <c>AddJsonFile(reloadOnChange: true)</c>) watches the file's
    /// directory and every subdirectory with one <c>FileSystemWatcher</c> (inotify on Linux), so a file
    /// in the temporary directory or in a large tree makes the edge hold a watch per directory and
    /// process every change made anywhere below it (measured: about 1 MB at start and several MB over
    /// minutes with <c>/tmp</c>; docs/benchmarks.md, "Long idle"). Nothing is watched that way when
    /// <paramref name="polling"/> (<c>DOTNET_USE_POLLING_FILE_WATCHER</c>) is on.
    /// </summary>
    /// <param name="configFile">The configuration file's full path.</param>
    /// <param name="polling">Whether .NET polls the file instead of watching its directory.</param>
    /// <returns>A phrase for the start-up warning, or null when the directory is fine.</returns>
    internal static string? RecursiveWatchConcern(string configFile, bool polling)
    {
        var directory = Path.GetDirectoryName(configFile);
        if (polling || directory is null || !Directory.Exists(directory))
        {
            return null;
        }
        if (string.Equals(Path.TrimEndingDirectorySeparator(directory), Path.TrimEndingDirectorySeparator(Path.GetTempPath()), StringComparison.Ordinal))
        {
            return $"{directory} is the temporary directory";
        }
        try
        {
            var subdirectories = Directory.EnumerateDirectories(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 })
                .Take(WatchedDirectoryLimit).Count();
            return subdirectories >= WatchedDirectoryLimit ? $"{directory} holds {WatchedDirectoryLimit} or more subdirectories" : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // a diagnostic only: it never stops the edge from starting
        }
    }

    private static bool UsesPollingFileWatcher() =>
        Environment.GetEnvironmentVariable("DOTNET_USE_POLLING_FILE_WATCHER") is { } value
        && (value == "1" || value.Equals("true", StringComparison.OrdinalIgnoreCase));

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "The configuration file {ConfigFile} is watched for changes together with its directory and every subdirectory, and {Concern}: the edge holds a watch per directory and handles every change made below it. Keep the file in a directory of its own, or set DOTNET_USE_POLLING_FILE_WATCHER=true.")]
    private static partial void LogRecursiveWatch(ILogger logger, string configFile, string concern);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "No session key is configured (McpEdge:Sessions:Keys or KeyFile): using a random per-process key. Replicas of the edge will not share sessions, and sessions end when this process restarts.")]
    private static partial void LogEphemeralKey(ILogger logger);
}
