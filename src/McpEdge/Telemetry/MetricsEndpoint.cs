using System.Diagnostics.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace McpEdge.Telemetry;

/// <summary>
/// <c>GET /metrics</c>: the edge's metrics in the Prometheus text format, collected through an
/// OpenTelemetry 1.20 <see cref="MeterProvider"/> (cumulative temporality) with
/// <see cref="PrometheusTextExporter"/>.
/// </summary>
/// <remarks>
/// Exported meters: McpEdge's own (<c>McpEdge.*</c>: requests, upstream exchanges, replicas,
/// streaming, cache, rate limits, batches, sessions, configuration) and the built-in ones of ASP.NET
/// Core (<c>Microsoft.AspNetCore.Hosting</c>, <c>…Server.Kestrel</c>, <c>…Routing</c>,
/// <c>…Diagnostics</c>), <c>System.Net.Http</c>, <c>System.Net.NameResolution</c> and
/// <c>System.Runtime</c> (their per-request instruments, <see cref="FrameworkRequestInstruments"/>,
/// only when configured). Each metric keeps at most <see cref="CardinalityLimit"/> label sets; the
/// edge's own labels are bounded by configuration (server and replica names, MCP method names from
/// the specification, never raw client input).
/// </remarks>
public sealed class MetricsEndpoint : IDisposable
{
    /// <summary>The path.</summary>
    public const string Path = "/metrics";

    /// <summary>The most label sets kept per metric.</summary>
    public const int CardinalityLimit = 2000;

    /// <summary>The content type of the Prometheus text format.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Meters exported.</summary>
    public static readonly string[] Meters =
    [
        "McpEdge", "McpEdge.*", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.MemoryPool", "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics", "System.Net.Http", "System.Net.NameResolution", "System.Runtime",
    ];

    /// <summary>
    /// ASP.NET Core's and HttpClient's instruments recorded on every request, exported only with
    /// <see cref="Configuration.TelemetryOptions.FrameworkRequestMetrics"/>. Dropped, they are not
    /// enabled at all, so ASP.NET Core and HttpClient skip their tag lists and timestamps too.
    /// </summary>
    public static readonly IReadOnlySet<string> FrameworkRequestInstruments = new HashSet<string>(StringComparer.Ordinal)
    {
        "http.server.request.duration", "http.server.active_requests", "aspnetcore.routing.match_attempts",
        "http.client.request.duration", "http.client.active_requests", "http.client.request.time_in_queue",
    };

    /// <summary>
    /// Runtime gauges whose names end in <c>.count</c>, which Prometheus keeps for histograms and
    /// summaries (<c>promtool check metrics</c> refuses them): exported under these names instead.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> Renamed = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["dotnet.assembly.count"] = "dotnet.assemblies.loaded",
        ["dotnet.process.cpu.count"] = "dotnet.process.cpus",
        ["dotnet.timer.count"] = "dotnet.timers.active",
    };

    /// <summary>Request and exchange durations, seconds: 1 ms … 60 s.</summary>
    public static readonly double[] DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private readonly PrometheusTextExporter _exporter = new();
    private readonly BaseExportingMetricReader _reader;
    private readonly MeterProvider _provider;
    private readonly SemaphoreSlim _scrape = new(1, 1);

    /// <summary>Starts listening to <see cref="Meters"/>.</summary>
    /// <param name="meterFactory">
    /// This host's factory. The SDK's listener hears every meter of the process by name; instruments
    /// of meters created by another host's factory (another edge in the same process, as in tests) are
    /// dropped, so a scrape shows this edge only. Meters without a factory (<c>System.Runtime</c>, the
    /// static <c>System.Net.Http</c> meter) are process-wide and kept.
    /// </param>
    /// <param name="config">For the OTLP export (<see cref="OtlpExport"/>), which, when configured, gets a periodic reader on the same provider.</param>
    public MetricsEndpoint(IMeterFactory meterFactory, Configuration.McpEdgeConfigState config)
    {
        _reader = new BaseExportingMetricReader(_exporter) { TemporalityPreference = MetricReaderTemporalityPreference.Cumulative };
        var builder = Sdk.CreateMeterProviderBuilder();
        var frameworkRequests = config.Current.Telemetry.FrameworkRequestMetrics;
        _provider = OtlpExport.AddMetrics(builder, config.Current.Telemetry.Otlp)
            .AddMeter(Meters)
            .AddView(instrument =>
                instrument.Meter.Scope is IMeterFactory other && !ReferenceEquals(other, meterFactory) ? MetricStreamConfiguration.Drop
                : !frameworkRequests && FrameworkRequestInstruments.Contains(instrument.Name) ? MetricStreamConfiguration.Drop
                : instrument.GetType().Name.StartsWith("Histogram", StringComparison.Ordinal) && instrument.Unit == "s"
                ? new ExplicitBucketHistogramConfiguration { Boundaries = DurationBuckets, CardinalityLimit = CardinalityLimit }
                : new MetricStreamConfiguration { CardinalityLimit = CardinalityLimit, Name = Renamed.GetValueOrDefault(instrument.Name) })
            .AddReader(_reader)
            .Build()!;
    }

    /// <summary>Collects every metric now and returns the text.</summary>
    public async Task<string> ScrapeAsync(CancellationToken cancellationToken)
    {
        await _scrape.WaitAsync(cancellationToken);
        try
        {
            _exporter.Begin();
            _reader.Collect(5000);
            return _exporter.End();
        }
        finally
        {
            _scrape.Release();
        }
    }

    /// <summary>Answers a scrape.</summary>
    public async Task WriteAsync(HttpContext context)
    {
        var text = await ScrapeAsync(context.RequestAborted);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = ContentType;
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsync(text, context.RequestAborted);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _provider.Dispose();
        _scrape.Dispose();
    }
}
