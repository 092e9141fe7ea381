using System.Globalization;
using McpEdge.LoadTests.Engine;
using McpEdge.LoadTests.Reports;
using McpEdge.LoadTests.Scenarios;
using McpEdge.LoadTests.Targets;

namespace McpEdge.LoadTests;

/// <summary>
/// The command line:
/// <code>
/// McpEdge.LoadTests smoke [--out DIR]
/// McpEdge.LoadTests compare [--rounds 3] [--duration 10] [--warmup 30] [--connections 32] [--rate 1000] [--no-nginx] [--edge-env NAME=VALUE,…] [--out DIR]
/// McpEdge.LoadTests probe --target URL [--rate 1000] [--duration 10]
/// McpEdge.LoadTests run [--scenarios NAME,NAME|all] [--target self|URL] [--limited URL]
///                       [--rate PER_SECOND] [--duration SECONDS] [--load SIMULATION] [--out DIR]
/// </code>
/// <c>smoke</c> runs every scenario for 3 s at 40 requests/s against the self-hosted target and
/// fails (exit 1) if a scenario's check fails. <c>run</c> defaults to <c>all</c>, the self-hosted
/// target (the bundled sample server, three replicas, behind an edge in this process), 200/s and
/// 10 s; <c>--load</c> (<c>inject:RATE:SECONDS</c>, <c>ramp:FROM:TO:SECONDS</c>,
/// <c>constant:COPIES:SECONDS</c>) replaces every scenario's own simulation. Reports: <c>DIR/load-report.md</c> and <c>DIR/load-report.html</c> (default DIR
/// <c>load-tests/reports</c>); the Markdown also goes to standard output. <c>probe</c> times the
/// <c>stateless-call</c> request with the <see cref="LatencyProbe"/> (one connection, fixed rate) and
/// prints its percentiles; exit 1 when a request failed.
/// </summary>
public static class LoadTestProgram
{
    /// <summary>Runs the command; 0 when every check passed, 1 when one failed, 2 for a usage error.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken cancellation = default)
    {
        try
        {
            return await DispatchAsync(args, output, cancellation);
        }
        catch (UsageException error)
        {
            await output.WriteLineAsync(error.Message);
            return 2;
        }
    }

    private static async Task<int> DispatchAsync(string[] args, TextWriter output, CancellationToken cancellation)
    {
        if (args.Length >= 1 && args[0] == "plain-yarp")
        {
            var yarp = Targets.PlainYarp.Build(Value(args, "--urls", "http://127.0.0.1:5200"), Value(args, "--upstreams", "").Split(',', StringSplitOptions.RemoveEmptyEntries));
            await yarp.RunAsync();
            return 0;
        }
        if (args.Length >= 1 && args[0] == "compare")
        {
            return await Compare.RunAsync(args, output, cancellation);
        }
        if (args.Length >= 1 && args[0] == "probe")
        {
            return await ProbeAsync(args, output, cancellation);
        }
        if (args.Length == 0 || args[0] is not ("smoke" or "run"))
        {
            await output.WriteLineAsync("usage: McpEdge.LoadTests smoke [--out DIR] | compare [--rounds N] [--duration S] [--warmup S] [--connections N] [--rate N] [--no-nginx] [--edge-env NAME=VALUE,…] | probe --target URL [--rate N] [--duration S] | run [--scenarios a,b|all] [--target self|URL] [--limited URL] [--rate N] [--duration S] [--load inject:R:S|ramp:A:B:S|constant:N:S] [--out DIR]");
            return 2;
        }
        var smoke = args[0] == "smoke";
        string Option(string name, string fallback) => Value(args, name, fallback);
        var names = Option("--scenarios", "all") is "all" ? McpScenarios.Names : Option("--scenarios", "all").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unknown = names.Except(McpScenarios.Names).ToArray();
        if (unknown.Length > 0)
        {
            await output.WriteLineAsync($"unknown scenario(s): {string.Join(", ", unknown)}; known: {string.Join(", ", McpScenarios.Names)}");
            return 2;
        }
        var rate = Number(args, "--rate", smoke ? 40 : 200, min: 0.001);
        var duration = TimeSpan.FromSeconds(Number(args, "--duration", smoke ? 3 : 10, min: 0.001));
        var outDir = OutputDirectory(args);
        var target = Option("--target", "self");

        await using var self = target == "self" ? await SelfHosted.StartAsync() : null;
        var endpoint = self?.Sample ?? new Uri(target);
        var limited = self?.Limited ?? (Option("--limited", "") is { Length: > 0 } l ? new Uri(l) : null);
        using var client = McpHttp.CreateClient();
        var http = new McpHttp(client, endpoint);
        LoadSimulation? load;
        try
        {
            load = Option("--load", "") is { Length: > 0 } spec ? LoadSimulation.Parse(spec) : null;
        }
        catch (FormatException error)
        {
            await output.WriteLineAsync(error.Message);
            return 2;
        }
        var options = new ScenarioOptions(endpoint, limited, rate, load?.During ?? duration, self, load);
        var runner = new ScenarioRunner();
        var results = new List<ScenarioResult>();
        foreach (var name in names)
        {
            if ((name == "failover" && self is null) || (name == "rate-limit-burst" && limited is null))
            {
                await output.WriteLineAsync($"skipped {name}: it needs {(name == "failover" ? "the self-hosted target" : "--limited URL")}");
                continue;
            }
            var scenario = McpScenarios.Create(name, options, http);
            await output.WriteLineAsync($"running {name}: {scenario.Simulation} against {(name == "rate-limit-burst" ? limited : endpoint)}");
            var stats = await runner.RunAsync(scenario, self is null ? endpoint.ToString() : "edge (self-hosted)", cancellation);
            var summary = stats.Summarize();
            results.Add(new ScenarioResult(name, scenario.Description, summary, stats.Windows(), scenario.Check(summary), scenario.Notes?.Invoke(summary)));
        }

        var title = $"McpEdge load test ({(smoke ? "smoke" : "run")}), {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC";
        string[] context =
        [
            $"target: {(self is null ? endpoint.ToString() : $"self-hosted: {SelfHosted.ReplicaCount} sample replicas behind an edge in this process ({self.EdgeBase})")}",
            $"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}",
            $"command: McpEdge.LoadTests {string.Join(' ', args)}",
        ];
        var markdown = RunReports.Markdown(title, results, context);
        await File.WriteAllTextAsync(Path.Combine(outDir, "load-report.md"), markdown, cancellation);
        await File.WriteAllTextAsync(Path.Combine(outDir, "load-report.html"), RunReports.Html(title, results, context), cancellation);
        await output.WriteLineAsync(markdown);
        await output.WriteLineAsync($"reports: {Path.Combine(outDir, "load-report.md")}, {Path.Combine(outDir, "load-report.html")}");
        return results.All(r => r.Problem is null) && results.Count > 0 ? 0 : 1;
    }

    private static async Task<int> ProbeAsync(string[] args, TextWriter output, CancellationToken cancellation)
    {
        if (!Uri.TryCreate(Value(args, "--target", ""), UriKind.Absolute, out var target) || target.Scheme != Uri.UriSchemeHttp)
        {
            await output.WriteLineAsync("probe needs --target http://HOST:PORT/PATH (the MCP endpoint, e.g. http://127.0.0.1:8080/mcp/sample)");
            return 2;
        }
        var rate = Number(args, "--rate", 1000, min: 0.001);
        var duration = TimeSpan.FromSeconds(Number(args, "--duration", 10, min: 0.001));
        var result = await Task.Factory.StartNew(() => LatencyProbe.Run(target, LatencyProbe.StatelessCall(target), rate, duration, cancellation),
            cancellation, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var failed = result.Failures.Values.Sum();
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"probe {target}: {rate:0.##}/s for {duration.TotalSeconds:0.#} s, one connection: {result.Latencies.Length} ok, {failed} failed; µs p50 {result.Percentile(50)}, p75 {result.Percentile(75)}, p95 {result.Percentile(95)}, p99 {result.Percentile(99)}, p99.9 {result.Percentile(99.9)}, max {result.Latencies.LastOrDefault()}"));
        foreach (var (reason, count) in result.Failures)
        {
            await output.WriteLineAsync($"  {reason} × {count}");
        }
        return failed == 0 && result.Latencies.Length > 0 ? 0 : 1;
    }

    /// <summary>The value after option <paramref name="name"/>, or <paramref name="fallback"/> when it is absent.</summary>
    internal static string Value(string[] args, string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    /// <summary>
    /// Option <paramref name="name"/> as a number (invariant culture) at least <paramref name="min"/>,
    /// or <paramref name="fallback"/> when it is absent; a <see cref="UsageException"/> naming the
    /// option otherwise (exit 2, before anything ran).
    /// </summary>
    internal static double Number(string[] args, string name, double fallback, double min)
    {
        var text = Value(args, name, "");
        if (text.Length == 0)
        {
            return fallback;
        }
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value >= min
            ? value
            : throw new UsageException($"{name}: '{text}' is not a number of at least {min.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>
    /// The report directory (<c>--out</c>, default <c>load-tests/reports</c>), created now, before
    /// the run, so that a path that cannot hold the reports (a file, no permission) is a
    /// <see cref="UsageException"/> instead of a lost run.
    /// </summary>
    internal static string OutputDirectory(string[] args)
    {
        var dir = Path.GetFullPath(Value(args, "--out", Path.Combine("load-tests", "reports")));
        try
        {
            Directory.CreateDirectory(dir);
            return dir;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--out {dir}: {error.Message}");
        }
    }
}

/// <summary>A command-line mistake: the message names the option; the program prints it and exits 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
