using System.Globalization;
using System.Net;
using System.Text;
using McpEdge.LoadTests.Engine;

namespace McpEdge.LoadTests.Reports;

/// <summary>One scenario's outcome, as the reports show it.</summary>
/// <param name="Name">The scenario.</param>
/// <param name="Description">What it sends.</param>
/// <param name="Summary">Its figures.</param>
/// <param name="Windows">One-second windows (charts).</param>
/// <param name="Problem">Why its check failed, or null.</param>
/// <param name="Notes">Extra figures, or null.</param>
public sealed record ScenarioResult(string Name, string Description, Summary Summary, IReadOnlyList<ScenarioStats.Window> Windows, string? Problem, string? Notes);

/// <summary>The Markdown report (terminal, CI logs) and the self-contained HTML report (inline SVG charts, no script, no CDN: it opens offline).</summary>
public static class RunReports
{
    /// <summary>A latency in microseconds as <c>812 µs</c> or <c>3.41 ms</c>.</summary>
    public static string Latency(double microseconds) =>
        microseconds < 1000 ? $"{microseconds.ToString("0", CultureInfo.InvariantCulture)} µs" : $"{(microseconds / 1000).ToString("0.00", CultureInfo.InvariantCulture)} ms";

    private static string Number(double value, string format = "0") => value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>The Markdown report.</summary>
    public static string Markdown(string title, IReadOnlyList<ScenarioResult> results, IReadOnlyList<string> context)
    {
        var md = new StringBuilder();
        md.AppendLine($"# {title}").AppendLine();
        foreach (var line in context)
        {
            md.AppendLine($"- {line}");
        }
        md.AppendLine().AppendLine("Latency: from each request's scheduled start (open model) to the end of its answer, successful requests only; start lag: how late the generator started requests (included in the latency).").AppendLine();
        md.AppendLine("| scenario | target | load | requests | ok | failed | ok/s | p50 | p75 | p95 | p99 | p99.9 | max | start lag p50/p99 | check |");
        md.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in results)
        {
            var s = r.Summary;
            var percentiles = s.Percentiles.Length == 0 ? Enumerable.Repeat("–", 5) : s.Percentiles.Select(p => Latency(p));
            md.AppendLine($"| {r.Name} | {s.Target} | {s.Simulation} | {s.Count} | {s.Ok} | {s.Failed} | {Number(s.Throughput, "0.0")} | {string.Join(" | ", percentiles)} | {(s.Ok == 0 ? "–" : Latency(s.Max))} | {Latency(s.StartLagP50)} / {Latency(s.StartLagP99)} | {(r.Problem is null ? "pass" : "FAIL: " + r.Problem)} |");
        }
        var details = results.Where(r => r.Summary.Failures.Count > 0 || r.Notes is not null).ToArray();
        if (details.Length > 0)
        {
            md.AppendLine();
            foreach (var r in details)
            {
                var failures = string.Join(", ", r.Summary.Failures.Select(f => $"{f.Key} × {f.Value}"));
                md.AppendLine($"- **{r.Name}** ({r.Summary.Target}): {r.Notes}{(r.Notes is not null && failures.Length > 0 ? "; " : "")}{(failures.Length > 0 ? "failures: " + failures : "")}");
            }
        }
        return md.ToString();
    }

    /// <summary>The HTML report: the same table, then per scenario three charts over time (latency p50/p99/max, throughput, failures).</summary>
    public static string Html(string title, IReadOnlyList<ScenarioResult> results, IReadOnlyList<string> context)
    {
        var html = new StringBuilder();
        html.Append($$"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>{{E(title)}}</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
            table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
            th:first-child,td:first-child,td.l{text-align:left}.fail{color:#b00020;font-weight:600}.pass{color:#1b7f3b}
            .charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{font-size:12px;color:#555}
            svg{background:#fafafa;border:1px solid #ddd}.legend span{margin-right:12px}
            </style></head><body>
            <h1>{{E(title)}}</h1><ul>
            """);
        foreach (var line in context)
        {
            html.Append($"<li>{E(line)}</li>");
        }
        html.Append("</ul><p>Latency: from each request's scheduled start (open model) to the end of its answer, successful requests only.</p>");
        html.Append("<table><tr><th>scenario</th><th>target</th><th>load</th><th>requests</th><th>ok</th><th>failed</th><th>ok/s</th><th>p50</th><th>p75</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>check</th></tr>");
        foreach (var r in results)
        {
            var s = r.Summary;
            html.Append($"<tr><td>{E(r.Name)}</td><td class=l>{E(s.Target)}</td><td class=l>{E(s.Simulation)}</td><td>{s.Count}</td><td>{s.Ok}</td><td>{s.Failed}</td><td>{Number(s.Throughput, "0.0")}</td>");
            foreach (var p in s.Percentiles.Length == 0 ? [double.NaN, double.NaN, double.NaN, double.NaN, double.NaN] : s.Percentiles.Select(p => (double)p))
            {
                html.Append($"<td>{(double.IsNaN(p) ? "–" : E(Latency(p)))}</td>");
            }
            html.Append($"<td>{(s.Ok == 0 ? "–" : E(Latency(s.Max)))}</td><td class=\"l {(r.Problem is null ? "pass" : "fail")}\">{E(r.Problem is null ? "pass" : "FAIL: " + r.Problem)}</td></tr>");
        }
        html.Append("</table>");
        foreach (var r in results)
        {
            html.Append($"<h2>{E(r.Name)} <small>({E(r.Summary.Target)})</small></h2><p>{E(r.Description)}");
            if (r.Notes is not null)
            {
                html.Append($"<br>{E(r.Notes)}");
            }
            if (r.Summary.Failures.Count > 0)
            {
                html.Append("<br>failures: " + E(string.Join(", ", r.Summary.Failures.Select(f => $"{f.Key} × {f.Value}"))));
            }
            html.Append("</p><div class=charts>");
            var latency = r.Windows.Select(w => w.Latency()).ToArray();
            html.Append(Chart("latency over time (ms)", [
                ("p50", "#1f77b4", latency.Select(l => l.P50 / 1000.0).ToArray()),
                ("p99", "#ff7f0e", latency.Select(l => l.P99 / 1000.0).ToArray()),
                ("max", "#d62728", latency.Select(l => l.Max / 1000.0).ToArray())]));
            html.Append(Chart("throughput (ok per second)", [("ok/s", "#2ca02c", r.Windows.Select(w => (double)w.Ok).ToArray())]));
            html.Append(Chart("failures per second", [("failed/s", "#b00020", r.Windows.Select(w => (double)w.Failed).ToArray())]));
            html.Append("</div>");
        }
        html.Append("</body></html>\n");
        return html.ToString();
    }

    /// <summary>A line chart (one point per second) as inline SVG.</summary>
    private static string Chart(string caption, (string Name, string Color, double[] Values)[] series)
    {
        const int width = 360, height = 180, left = 44, bottom = 22, top = 8, right = 8;
        var points = Math.Max(2, series.Max(s => s.Values.Length));
        var max = Math.Max(1e-9, series.SelectMany(s => s.Values).DefaultIfEmpty(0).Max());
        double X(int i) => left + (width - left - right) * i / (double)(points - 1);
        double Y(double v) => top + (height - top - bottom) * (1 - v / max);
        var svg = new StringBuilder($"<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{E(caption)}\">");
        svg.Append($"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width - right}\" y2=\"{height - bottom}\" stroke=\"#999\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{height - bottom}\" stroke=\"#999\"/>");
        svg.Append($"<text x=\"{left - 4}\" y=\"{top + 10}\" font-size=\"10\" text-anchor=\"end\">{E(Number(max, max < 10 ? "0.00" : "0"))}</text>");
        svg.Append($"<text x=\"{left - 4}\" y=\"{height - bottom}\" font-size=\"10\" text-anchor=\"end\">0</text>");
        svg.Append($"<text x=\"{width - right}\" y=\"{height - 6}\" font-size=\"10\" text-anchor=\"end\">{points - 1} s</text>");
        foreach (var (_, color, values) in series)
        {
            if (values.Length == 0)
            {
                continue;
            }
            var path = string.Join(" ", values.Select((v, i) => $"{Number(X(i), "0.0")},{Number(Y(v), "0.0")}"));
            svg.Append($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{path}\"/>");
        }
        svg.Append("</svg><figcaption>").Append(E(caption)).Append(" <span class=legend>");
        foreach (var (name, color, _) in series)
        {
            svg.Append($"<span style=\"color:{color}\">■ {E(name)}</span>");
        }
        return svg.Append("</span></figcaption></figure>").ToString();
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
