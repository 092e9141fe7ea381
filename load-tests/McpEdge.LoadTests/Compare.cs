using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using McpEdge.LoadTests.Engine;
using McpEdge.LoadTests.Reports;
using McpEdge.LoadTests.Scenarios;
using McpEdge.LoadTests.Targets;

namespace McpEdge.LoadTests;

/// <summary>
/// <c>compare</c>: the same scenarios against direct (one replica), McpEdge (speaking HTTP/1.1 and,
/// as <c>edge-h2c</c>, cleartext HTTP/2 to its replicas), plain YARP and nginx,
/// in alternation, every figure also as a ratio to direct. Per round and target: capacity (closed
/// model, <c>--connections</c> copies) and latency at a fixed moderate rate (open model,
/// <c>--rate</c>), for stateless calls (2026-07-28, any of three replicas) and session calls (one
/// replica, so that every proxy routes sessions correctly); then, when <c>wrk</c> is installed, a
/// second, independent throughput figure for stateless calls (<c>load-tests/stateless-call.lua</c>),
/// with the CPU per request that the proxy and its upstream spent meanwhile (<see cref="ProcessCpu"/>).
/// Medians over the rounds are reported.
/// </summary>
public static class Compare
{
    private sealed record Measure(string Target, string Figure, double Value);

    /// <summary>Runs the comparison; 0 when it completed.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken cancellation)
    {
        var rounds = (int)LoadTestProgram.Number(args, "--rounds", 3, min: 1);
        var seconds = LoadTestProgram.Number(args, "--duration", 10, min: 0.001);
        var warmup = LoadTestProgram.Number(args, "--warmup", 30, min: 0);
        var connections = (int)LoadTestProgram.Number(args, "--connections", 32, min: 1);
        var rate = LoadTestProgram.Number(args, "--rate", 1000, min: 0.001);
        var outDir = LoadTestProgram.OutputDirectory(args);
        var wrkScript = Path.GetFullPath(LoadTestProgram.Value(args, "--wrk-script", Path.Combine("load-tests", "stateless-call.lua")));
        var duration = TimeSpan.FromSeconds(seconds);
        // For experiments with the edge's runtime settings only (e.g. DOTNET_gcServer=0): NAME=VALUE,NAME=VALUE.
        var edgeEnvironment = LoadTestProgram.Value(args, "--edge-env", "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(pair => pair.Split('=', 2)).ToDictionary(pair => pair[0], pair => pair.Length > 1 ? pair[1] : "", StringComparer.Ordinal);

        using var comparison = await Comparison.StartAsync(withNginx: !args.Contains("--no-nginx"), edgeEnvironment);
        await output.WriteLineAsync($"targets: {string.Join(", ", comparison.Targets.Select(t => $"{t.Name} {t.Stateless}"))}");
        using var client = McpHttp.CreateClient();
        var runner = new ScenarioRunner();
        var measures = new List<Measure>();

        Scenario Build(string scenario, Uri endpoint, LoadSimulation load) =>
            McpScenarios.Create(scenario, new ScenarioOptions(endpoint, null, rate, load.During, null, load), new McpHttp(client, endpoint));

        async Task<Summary> RunAsync(string scenario, ComparisonTarget target, LoadSimulation load)
        {
            var endpoint = scenario == "stateless-call" ? target.Stateless : target.Single;
            var summary = (await runner.RunAsync(Build(scenario, endpoint, load), target.Name, cancellation)).Summarize();
            if (summary.Failed > 0)
            {
                await output.WriteLineAsync($"  {target.Name} {scenario}: {summary.Failed} failed ({string.Join(", ", summary.Failures.Select(f => $"{f.Key} × {f.Value}"))})");
            }
            return summary;
        }

        foreach (var target in comparison.Targets)
        {
            await output.WriteLineAsync($"warm-up {target.Name}: {warmup} s");
            await RunAsync("stateless-call", target, new LoadSimulation.KeepConstant(connections, TimeSpan.FromSeconds(warmup)));
        }
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var target in comparison.Targets)
            {
                cancellation.ThrowIfCancellationRequested();
                foreach (var scenario in new[] { "stateless-call", "session-call" })
                {
                    var capacity = await RunAsync(scenario, target, new LoadSimulation.KeepConstant(connections, duration));
                    measures.Add(new(target.Name, $"{scenario} ok/s ({connections} connections)", capacity.Throughput));
                    var latency = await RunAsync(scenario, target, new LoadSimulation.Inject(rate, duration));
                    if (latency.Percentiles.Length > 0)
                    {
                        measures.Add(new(target.Name, $"{scenario} p50 µs at {rate:0}/s", latency.Percentiles[0]));
                        measures.Add(new(target.Name, $"{scenario} p99 µs at {rate:0}/s", latency.Percentiles[3]));
                        measures.Add(new(target.Name, $"{scenario} start lag p50 µs at {rate:0}/s (generator)", latency.StartLagP50));
                    }
                    await output.WriteLineAsync($"round {round} {target.Name,-8} {scenario,-14} {capacity.Throughput,8:0} ok/s   p50 {RunReports.Latency(latency.Percentiles.FirstOrDefault()),9}  p99 {RunReports.Latency(latency.Percentiles.ElementAtOrDefault(3)),9}");
                }
                // The same stateless call from the latency probe: one connection, a spinning thread, no timer lag.
                var probe = await Task.Factory.StartNew(() => LatencyProbe.Run(target.Stateless, LatencyProbe.StatelessCall(target.Stateless), rate, duration, cancellation),
                    cancellation, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                if (probe.Latencies.Length > 0)
                {
                    measures.Add(new(target.Name, $"stateless-call p50 µs at {rate:0}/s (probe, 1 connection)", probe.Percentile(50)));
                    measures.Add(new(target.Name, $"stateless-call p99 µs at {rate:0}/s (probe, 1 connection)", probe.Percentile(99)));
                }
                if (probe.Failures.Count > 0)
                {
                    await output.WriteLineAsync($"  {target.Name} probe: {string.Join(", ", probe.Failures.Select(f => $"{f.Key} × {f.Value}"))}");
                }
                await output.WriteLineAsync($"round {round} {target.Name,-8} probe          p50 {probe.Percentile(50),6} µs  p99 {probe.Percentile(99),6} µs");
                if (File.Exists("/usr/bin/wrk") && File.Exists(wrkScript))
                {
                    // CPU per request at saturation, from /proc: what the throughput ratios come down to on a shared core.
                    var proxyCpu = target.ProxyPid == 0 ? 0 : ProcessCpu.Ticks(target.ProxyPid, withChildren: true);
                    var upstreamCpu = ProcessCpu.Ticks(target.UpstreamPid);
                    var wrk = await WrkAsync(wrkScript, target.Stateless, connections, seconds, cancellation);
                    if (wrk is { } result)
                    {
                        measures.Add(new(target.Name, $"stateless-call wrk req/s ({connections} connections)", result.PerSecond));
                        if (target.ProxyPid != 0)
                        {
                            measures.Add(new(target.Name, "stateless-call wrk: proxy CPU µs per request", (ProcessCpu.Ticks(target.ProxyPid, withChildren: true) - proxyCpu) * ProcessCpu.TickSeconds * 1e6 / result.Requests));
                        }
                        measures.Add(new(target.Name, "stateless-call wrk: upstream CPU µs per request", (ProcessCpu.Ticks(target.UpstreamPid) - upstreamCpu) * ProcessCpu.TickSeconds * 1e6 / result.Requests));
                    }
                }
            }
        }

        var report = Report(measures, comparison.Targets.Select(t => t.Name).ToArray(), rounds, [
            $"command: McpEdge.LoadTests {string.Join(' ', args)}",
            $"machine: {ProcessCpu.MachineCores} cores (this process may use {Environment.ProcessorCount}), .NET {Environment.Version}; "
                + (ProcessCpu.MachineCores >= 2 ? "every server process pinned to CPU 1 (taskset); run the load generator on CPU 0 (taskset -c 0)" : "one core shared by all"),
            "direct = one sample replica; edge = McpEdge (JSON-RPC parse, sealed sessions, LeastResponseTime, probes, metrics on; access log off); edge-h2c = the same, speaking cleartext HTTP/2 to three replicas that accept only that; yarp = YARP 2.1.0 alone (round robin); nginx = consistent hash on Mcp-Session-Id, buffering off, keep-alive upstream, access log off",
            "stateless-call: 2026-07-28 tools/call over three replicas (nginx hashes the absent session header: one replica); session-call: tools/call on 32 sessions of one replica",
        ]);
        await File.WriteAllTextAsync(Path.Combine(outDir, "compare-report.md"), report, cancellation);
        await File.WriteAllTextAsync(Path.Combine(outDir, "compare-report.html"),
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>McpEdge comparison</title><style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}</style></head><body><pre>"
            + WebUtility.HtmlEncode(report) + "</pre></body></html>\n", cancellation);
        await output.WriteLineAsync(report);
        return 0;
    }

    /// <summary>
    /// wrk's Requests/sec and its count of requests, or null when it failed or had non-2xx answers.
    /// wrk takes whole seconds only: <paramref name="seconds"/> is rounded up, to at least 1.
    /// </summary>
    private static async Task<(double PerSecond, long Requests)?> WrkAsync(string script, Uri url, int connections, double seconds, CancellationToken cancellation)
    {
        var whole = Math.Max(1, (int)Math.Ceiling(seconds));
        var start = new ProcessStartInfo("/usr/bin/wrk", ["-t1", $"-c{connections}", $"-d{whole}s", "-s", script, url.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var wrk = Process.Start(start)!;
        var text = await wrk.StandardOutput.ReadToEndAsync(cancellation);
        await wrk.WaitForExitAsync(cancellation);
        var rate = Regex.Match(text, @"Requests/sec:\s+([0-9.]+)");
        var count = Regex.Match(text, @"(\d+) requests in ");
        var errors = Regex.Match(text, @"Non-2xx or 3xx responses: (\d+)");
        return rate.Success && count.Success && !errors.Success && long.Parse(count.Groups[1].Value, CultureInfo.InvariantCulture) is > 0 and var requests
            ? (double.Parse(rate.Groups[1].Value, CultureInfo.InvariantCulture), requests)
            : null;
    }

    private static string Report(List<Measure> measures, string[] targets, int rounds, string[] context)
    {
        var md = new StringBuilder($"# McpEdge comparison ({rounds} rounds, medians)\n\n");
        foreach (var line in context)
        {
            md.AppendLine($"- {line}");
        }
        md.AppendLine().AppendLine($"| figure | {string.Join(" | ", targets)} | edge ÷ yarp | edge ÷ nginx | edge-h2c ÷ nginx |");
        md.AppendLine($"|---|{string.Concat(targets.Select(_ => "---:|"))}---:|---:|---:|");
        foreach (var figure in measures.Select(m => m.Figure).Distinct())
        {
            double? Median(string target)
            {
                var values = measures.Where(m => m.Figure == figure && m.Target == target).Select(m => m.Value).Order().ToArray();
                return values.Length == 0 ? null : values.Length % 2 == 1 ? values[values.Length / 2] : (values[values.Length / 2 - 1] + values[values.Length / 2]) / 2;
            }
            var direct = Median("direct");
            var latency = figure.Contains("µs", StringComparison.Ordinal);
            string Cell(string target)
            {
                var value = Median(target);
                if (value is null)
                {
                    return "–";
                }
                if (target == "direct" || direct is null)
                {
                    return value.Value.ToString("0", CultureInfo.InvariantCulture);
                }
                // Throughput: ratio to direct. Latency: overhead over direct in µs.
                return latency
                    ? $"{value.Value:0} ({value.Value - direct.Value:+0;−0;0})"
                    : $"{value.Value:0} ({value.Value / direct.Value:0.00}×)";
            }
            string Ratio(string edge, string other) => Median(edge) is { } e && Median(other) is { } o && o > 0
                ? (latency ? $"{e - o:+0;−0;0} µs" : $"{e / o:0.00}×") : "–";
            md.AppendLine($"| {figure} | {string.Join(" | ", targets.Select(Cell))} | {Ratio("edge", "yarp")} | {Ratio("edge", "nginx")} | {Ratio("edge-h2c", "nginx")} |");
        }
        md.AppendLine().AppendLine("Throughput cells: value (ratio to direct). Latency cells: value (overhead over direct, µs).");
        return md.ToString();
    }
}
