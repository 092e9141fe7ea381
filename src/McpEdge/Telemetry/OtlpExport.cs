using McpEdge.Configuration;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace McpEdge.Telemetry;

/// <summary>
/// OTLP export (OpenTelemetry.Exporter.OpenTelemetryProtocol 1.20.1) when
/// <c>McpEdge:Telemetry:Otlp:Endpoint</c> is set: spans of <see cref="McpTracing.SourceName"/>,
/// ASP.NET Core (<c>Microsoft.AspNetCore</c>) and HttpClient (<c>System.Net.Http</c>) through a
/// batching <see cref="TracerProvider"/>, and the metrics of <c>/metrics</c> through a periodic
/// reader added to <see cref="MetricsEndpoint"/>'s provider. Built at start-up, flushed and
/// disposed at shutdown.
/// </summary>
public sealed class OtlpExport : IDisposable
{
    private readonly TracerProvider? _tracer;

    /// <summary>Starts the trace export if configured.</summary>
    public OtlpExport(McpEdgeConfigState config)
    {
        var otlp = config.Current.Telemetry.Otlp;
        if (IsOn(otlp) && otlp.Traces && config.Current.Telemetry.Traces)
        {
            _tracer = Sdk.CreateTracerProviderBuilder()
                .SetResourceBuilder(Resource(otlp))
                .AddSource(McpTracing.SourceName, "Microsoft.AspNetCore", "System.Net.Http")
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(otlp.SamplingRatio)))
                .AddOtlpExporter(exporter => Configure(exporter, otlp, "traces"))
                .Build();
        }
    }

    /// <summary>True when spans are exported.</summary>
    public bool ExportsTraces => _tracer is not null;

    /// <summary>True when <paramref name="otlp"/> names a collector.</summary>
    public static bool IsOn(OtlpOptions otlp) => !string.IsNullOrEmpty(otlp.Endpoint);

    /// <summary>Adds the OTLP metric reader to <paramref name="builder"/> when configured.</summary>
    internal static MeterProviderBuilder AddMetrics(MeterProviderBuilder builder, OtlpOptions otlp) =>
        !IsOn(otlp) || !otlp.Metrics ? builder : builder
            .SetResourceBuilder(Resource(otlp))
            .AddOtlpExporter((exporter, reader) =>
            {
                Configure(exporter, otlp, "metrics");
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)otlp.MetricsInterval.TotalMilliseconds;
                reader.TemporalityPreference = MetricReaderTemporalityPreference.Cumulative;
            });

    private static ResourceBuilder Resource(OtlpOptions otlp) =>
        ResourceBuilder.CreateDefault().AddService(otlp.ServiceName, serviceVersion: typeof(OtlpExport).Assembly.GetName().Version?.ToString());

    private static void Configure(OtlpExporterOptions exporter, OtlpOptions otlp, string signal)
    {
        var protocol = otlp.Protocol == "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
        exporter.Protocol = protocol;
        var endpoint = otlp.Endpoint!.TrimEnd('/');
        // With HTTP the endpoint given here is used as is, so name the signal's path as the OTLP spec does.
        exporter.Endpoint = new Uri(protocol == OtlpExportProtocol.HttpProtobuf ? $"{endpoint}/v1/{signal}" : endpoint);
        if (!string.IsNullOrEmpty(otlp.Headers))
        {
            exporter.Headers = otlp.Headers;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _tracer?.Dispose();
}
