using System.Globalization;
using System.Text;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace McpEdge.Telemetry;

/// <summary>
/// An OpenTelemetry metric exporter that renders what a collection hands it in the Prometheus text
/// exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/), for
/// <see cref="MetricsEndpoint"/> to serve on scrape. In-project because OpenTelemetry's Prometheus
/// exporter packages cannot be restored here.
/// </summary>
/// <remarks>
/// Names follow OpenTelemetry's Prometheus compatibility rules: characters outside
/// <c>[a-zA-Z0-9_:]</c> become <c>_</c>; the unit is appended as a suffix (<c>s</c> →
/// <c>_seconds</c>, <c>By</c> → <c>_bytes</c>, <c>ms</c> → <c>_milliseconds</c>; annotations such as
/// <c>{request}</c> add nothing); monotonic sums end in <c>_total</c>. Sums are counters (gauges when
/// not monotonic), histograms give cumulative <c>_bucket{le=…}</c>, <c>_sum</c> and <c>_count</c>.
/// Label values are escaped (<c>\\</c>, <c>\"</c>, <c>\n</c>). Exponential histograms are skipped.
/// </remarks>
public sealed class PrometheusTextExporter : BaseExporter<Metric>
{
    private StringBuilder? _text;
    private readonly HashSet<string> _written = new(StringComparer.Ordinal);

    /// <summary>Starts collecting one scrape's text.</summary>
    internal void Begin()
    {
        _text = new StringBuilder(16 * 1024);
        _written.Clear();
    }

    /// <summary>Ends the scrape and returns its text.</summary>
    internal string End()
    {
        var text = _text?.ToString() ?? "";
        _text = null;
        return text;
    }

    /// <inheritdoc />
    public override ExportResult Export(in Batch<Metric> batch)
    {
        if (_text is null)
        {
            return ExportResult.Success; // a collection outside a scrape (e.g. at shutdown)
        }
        foreach (var metric in batch)
        {
            Write(_text, metric);
        }
        return ExportResult.Success;
    }

    private void Write(StringBuilder text, Metric metric)
    {
        var type = metric.MetricType switch
        {
            MetricType.LongSum or MetricType.DoubleSum => "counter",
            MetricType.LongGauge or MetricType.DoubleGauge or MetricType.LongSumNonMonotonic or MetricType.DoubleSumNonMonotonic => "gauge",
            MetricType.Histogram => "histogram",
            _ => null,
        };
        if (type is null)
        {
            return;
        }
        var name = MetricName(metric.Name, metric.Unit, type == "counter");
        // Two meters (say, of two hosts in one process) may publish one name: one family per name.
        if (!_written.Add(name))
        {
            return;
        }
        text.Append("# HELP ").Append(name).Append(' ');
        AppendEscaped(text, metric.Description ?? "", inLabel: false);
        text.Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

        foreach (ref readonly var point in metric.GetMetricPoints())
        {
            switch (metric.MetricType)
            {
                case MetricType.LongSum or MetricType.LongSumNonMonotonic:
                    Sample(text, name, "", point.Tags, null, point.GetSumLong());
                    break;
                case MetricType.DoubleSum or MetricType.DoubleSumNonMonotonic:
                    Sample(text, name, "", point.Tags, null, point.GetSumDouble());
                    break;
                case MetricType.LongGauge:
                    Sample(text, name, "", point.Tags, null, point.GetGaugeLastValueLong());
                    break;
                case MetricType.DoubleGauge:
                    Sample(text, name, "", point.Tags, null, point.GetGaugeLastValueDouble());
                    break;
                case MetricType.Histogram:
                    long cumulative = 0;
                    foreach (var bucket in point.GetHistogramBuckets())
                    {
                        cumulative += bucket.BucketCount;
                        var le = double.IsPositiveInfinity(bucket.ExplicitBound) ? "+Inf" : Number(bucket.ExplicitBound);
                        Sample(text, name, "_bucket", point.Tags, le, cumulative);
                    }
                    Sample(text, name, "_sum", point.Tags, null, point.GetHistogramSum());
                    Sample(text, name, "_count", point.Tags, null, point.GetHistogramCount());
                    break;
            }
        }
    }

    private static void Sample(StringBuilder text, string name, string suffix, ReadOnlyTagCollection tags, string? le, double value)
    {
        text.Append(name).Append(suffix);
        var first = true;
        foreach (var tag in tags)
        {
            text.Append(first ? '{' : ',');
            first = false;
            text.Append(LabelName(tag.Key)).Append("=\"");
            AppendEscaped(text, Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "", inLabel: true);
            text.Append('"');
        }
        if (le is not null)
        {
            text.Append(first ? '{' : ',').Append("le=\"").Append(le).Append('"');
            first = false;
        }
        if (!first)
        {
            text.Append('}');
        }
        text.Append(' ').Append(Number(value)).Append('\n');
    }

    private static string Number(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN"
        : value.ToString("R", CultureInfo.InvariantCulture);

    private static void AppendEscaped(StringBuilder text, string value, bool inLabel)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '"' when inLabel: text.Append("\\\""); break;
                default: text.Append(c); break;
            }
        }
    }

    /// <summary>The Prometheus name of an OpenTelemetry instrument (see remarks).</summary>
    public static string MetricName(string name, string? unit, bool counter)
    {
        var result = Sanitize(name, allowColon: true);
        var suffix = UnitSuffix(unit);
        if (suffix.Length > 0 && !result.EndsWith("_" + suffix, StringComparison.Ordinal))
        {
            result += "_" + suffix;
        }
        if (counter && !result.EndsWith("_total", StringComparison.Ordinal))
        {
            result += "_total";
        }
        return result;
    }

    private static string UnitSuffix(string? unit)
    {
        if (string.IsNullOrEmpty(unit) || unit[0] == '{')
        {
            return "";
        }
        return unit switch
        {
            "s" => "seconds",
            "ms" => "milliseconds",
            "us" => "microseconds",
            "By" => "bytes",
            "KiBy" => "kibibytes",
            "MiBy" => "mebibytes",
            "1" => "ratio",
            "%" => "percent",
            _ => Sanitize(unit.Replace("/", "_per_", StringComparison.Ordinal), allowColon: false),
        };
    }

    private static string LabelName(string key) => Sanitize(key, allowColon: false);

    private static string Sanitize(string name, bool allowColon)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':') ? c : '_');
        }
        if (builder.Length == 0 || char.IsAsciiDigit(builder[0]))
        {
            builder.Insert(0, '_');
        }
        return builder.ToString();
    }
}
