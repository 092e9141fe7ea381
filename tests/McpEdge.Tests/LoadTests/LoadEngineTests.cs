using McpEdge.LoadTests;
using McpEdge.LoadTests.Engine;
using McpEdge.Tests.Infrastructure;
using McpEdge.Tests.Integration;

namespace McpEdge.Tests.LoadTests;

/// <summary>The load-test engine: percentiles, the open-model schedule, open versus closed injection.</summary>
public class LoadEngineTests
{
    [Fact]
    public void Percentiles_AreNearestRank_OnKnownData()
    {
        long[] hundred = Enumerable.Range(1, 100).Select(i => (long)i).ToArray();
        Assert.Equal([50L, 75, 95, 99, 100], Percentiles.Reported.Select(p => Percentiles.Of(hundred, p)));
        Assert.Equal(1, Percentiles.Of(hundred, 0));
        Assert.Equal(100, Percentiles.Of(hundred, 100));

        // The textbook example of the nearest-rank method.
        long[] five = [15, 20, 35, 40, 50];
        Assert.Equal([15L, 20, 20, 35, 50], new double[] { 5, 30, 40, 50, 100 }.Select(p => Percentiles.Of(five, p)));

        long[] thousand = Enumerable.Range(1, 1000).Select(i => (long)i * 10).ToArray();
        Assert.Equal(9990, Percentiles.Of(thousand, 99.9));
        Assert.Throws<ArgumentOutOfRangeException>(() => Percentiles.Of([], 50));
        Assert.Throws<ArgumentOutOfRangeException>(() => Percentiles.Of(five, 101));
    }

    [Fact]
    public void Summary_CountsFailuresByReason_AndTakesPercentilesOfSuccessesOnly()
    {
        var stats = new ScenarioStats("s", "t", new LoadSimulation.Inject(10, TimeSpan.FromSeconds(1)));
        for (var i = 1; i <= 10; i++)
        {
            stats.Record(TimeSpan.FromMilliseconds(100 * i), i * 1000, StepResult.Success);
        }
        stats.Record(TimeSpan.FromMilliseconds(1500), 999_999, StepResult.Fail("http 503"));
        stats.Record(TimeSpan.FromMilliseconds(1600), 999_999, StepResult.Fail("http 503"));
        stats.Record(TimeSpan.FromMilliseconds(1700), 5, StepResult.Fail("timeout"));

        var summary = stats.Summarize();
        Assert.Equal(13, summary.Count);
        Assert.Equal(10, summary.Ok);
        Assert.Equal(2, summary.Failures["http 503"]);
        Assert.Equal(1, summary.Failures["timeout"]);
        Assert.Equal([5000L, 8000, 10_000, 10_000, 10_000], summary.Percentiles);
        Assert.Equal(10_000, summary.Max);
        var windows = stats.Windows();
        Assert.Equal(2, windows.Count);
        Assert.Equal(9, windows[0].Ok); // ended before 1 s
        Assert.Equal((1, 3), (windows[1].Ok, windows[1].Failed));
    }

    [Fact]
    public void Schedule_OfConstantRate_IsEvenlySpaced()
    {
        Assert.Equal(Enumerable.Range(0, 10).Select(i => TimeSpan.FromSeconds(i / 10.0)), new LoadSimulation.Inject(10, TimeSpan.FromSeconds(1)).Schedule());
        Assert.Equal(6, new LoadSimulation.Inject(3, TimeSpan.FromSeconds(2)).Schedule().Count());
        Assert.Equal(TimeSpan.FromSeconds(5.0 / 3), new LoadSimulation.Inject(3, TimeSpan.FromSeconds(2)).Schedule().Last());
    }

    [Fact]
    public void Schedule_OfRamp_FollowsTheIntegratedRate()
    {
        // 0 → 10 per second over 2 s: N(t) = 2.5 t², 10 requests, the i-th at sqrt(i / 2.5).
        var ramp = new LoadSimulation.RampingInject(0, 10, TimeSpan.FromSeconds(2)).Schedule().ToArray();
        Assert.Equal(10, ramp.Length);
        foreach (var (offset, i) in ramp.Select((o, i) => (o, i)))
        {
            Assert.InRange(Math.Abs(Math.Sqrt(i / 2.5) - offset.TotalSeconds), 0, 1e-6); // TimeSpan holds 100 ns ticks
        }
        // A flat ramp is a constant rate.
        Assert.Equal(new LoadSimulation.Inject(10, TimeSpan.FromSeconds(1)).Schedule(), new LoadSimulation.RampingInject(10, 10, TimeSpan.FromSeconds(1)).Schedule());
    }

    [Theory]
    [InlineData("inject:50:10", "inject 50/s for 10 s")]
    [InlineData("ramp:10:100:30", "ramp 10 → 100/s over 30 s")]
    [InlineData("constant:8:5", "8 copies for 5 s")]
    public void Simulations_Parse(string text, string described) => Assert.Equal(described, LoadSimulation.Parse(text).ToString());

    [Fact]
    public async Task OpenModel_StartsEveryRequestOnSchedule_EvenWhileNoneHasFinished()
    {
        var started = 0;
        var allStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scenario = new Scenario
        {
            Name = "held",
            Description = "every step waits for the gate",
            Simulation = new LoadSimulation.Inject(40, TimeSpan.FromSeconds(0.5)),
            StepAsync = async context =>
            {
                if (Interlocked.Increment(ref started) == 20)
                {
                    allStarted.TrySetResult();
                }
                await gate.Task.WaitAsync(context.Cancellation);
                return StepResult.Success;
            },
        };
        var run = new ScenarioRunner().RunAsync(scenario, "test");

        // A closed model would wait for the first step forever; the open model starts all 20 on schedule.
        await allStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(run.IsCompleted);
        gate.SetResult();
        var summary = (await run).Summarize();

        Assert.Equal(20, summary.Ok);
        // Latency counts from the scheduled start: the first request waited for the whole schedule, until
        // the 20th was started, which is due at 475 ms and never starts before.
        Assert.True(summary.Max >= 475_000, $"max latency {summary.Max} µs");
    }

    [Fact]
    public async Task OpenModel_StartsEachRequestWhenTheClockReachesItsDueTime_NotBefore()
    {
        // 40/s for 250 ms: ten requests, due every 25 ms. The test's clock moves only when the test moves
        // it, 25 ms at a time and only after the request due at the current time has started, so a request
        // started early would see the clock short of its due time.
        var time = new TestTimeProvider();
        var origin = time.GetTimestamp();
        var startedAt = new TimeSpan?[10];
        using var started = new SemaphoreSlim(0);
        var scenario = new Scenario
        {
            Name = "paced",
            Description = "records when each request starts",
            Simulation = new LoadSimulation.Inject(40, TimeSpan.FromMilliseconds(250)),
            StepAsync = context =>
            {
                startedAt[context.Invocation] = time.GetElapsedTime(origin);
                started.Release();
                return Task.FromResult(StepResult.Success);
            },
        };
        var run = new ScenarioRunner(time).RunAsync(scenario, "test");

        for (var i = 0; i < 10; i++)
        {
            Assert.True(await started.WaitAsync(TimeSpan.FromSeconds(10)), $"request {i} did not start");
            Assert.Equal(TimeSpan.FromMilliseconds(25 * i), startedAt[i]);
            time.Advance(TimeSpan.FromMilliseconds(25));
        }
        var summary = (await run.WaitAsync(TimeSpan.FromSeconds(10))).Summarize();
        Assert.Equal(10, summary.Ok);
        Assert.Equal(0, summary.StartLagP99); // on this clock every request started exactly on time
    }

    [Fact]
    public async Task ClosedModel_KeepsAtMostItsCopiesInFlight()
    {
        // On the test's clock the copies loop until the test moves it past the duration, so how soon the
        // thread pool starts them (a test host may keep its few threads busy) does not matter.
        var time = new TestTimeProvider();
        var inFlight = 0;
        var most = 0;
        var steps = 0;
        var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scenario = new Scenario
        {
            Name = "closed",
            Description = "fast steps",
            Simulation = new LoadSimulation.KeepConstant(3, TimeSpan.FromMilliseconds(200)),
            StepAsync = async _ =>
            {
                var now = Interlocked.Increment(ref inFlight);
                InterlockedMax(ref most, now);
                await Task.Yield();
                Interlocked.Decrement(ref inFlight);
                if (Interlocked.Increment(ref steps) == 30)
                {
                    enough.TrySetResult();
                }
                return StepResult.Success;
            },
        };
        var run = new ScenarioRunner(time).RunAsync(scenario, "test");
        await enough.Task.WaitAsync(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromMilliseconds(200));
        var summary = (await run.WaitAsync(TimeSpan.FromSeconds(10))).Summarize();

        Assert.True(summary.Ok >= 30, $"ok {summary.Ok}");
        Assert.InRange(most, 1, 3);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}

/// <summary>The README's smoke command, as CI runs it: every scenario for a few seconds against the self-hosted target.</summary>
[Collection(StreamingLoadCollection.Name)]
public class LoadSmokeTests
{
    [Fact]
    public async Task Smoke_RunsEveryScenario_AndWritesBothReports()
    {
        var output = Directory.CreateTempSubdirectory("mcpedge-load-smoke-").FullName;
        string markdown, html;
        try
        {
            var console = new StringWriter();
            var exit = await LoadTestProgram.RunAsync(["smoke", "--out", output], console);

            Assert.True(exit == 0, console.ToString());
            markdown = await File.ReadAllTextAsync(Path.Combine(output, "load-report.md"));
            html = await File.ReadAllTextAsync(Path.Combine(output, "load-report.html"));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
        foreach (var scenario in McpEdge.LoadTests.Scenarios.McpScenarios.Names)
        {
            Assert.Contains($"| {scenario} |", markdown);
            Assert.Contains($"<h2>{scenario} ", html);
        }
        Assert.DoesNotContain("FAIL", markdown);
        Assert.Contains("<svg", html);
        Assert.DoesNotContain("<script", html); // self-contained, nothing to fetch
    }
}

/// <summary>Command-line mistakes end with exit 2 and a message naming the option, before any load is sent.</summary>
public class LoadProgramUsageTests
{
    [Theory]
    [InlineData("run|--rate|abc", "--rate: 'abc' is not a number")]
    [InlineData("run|--duration|0", "--duration: '0' is not a number of at least")]
    [InlineData("compare|--rounds|0", "--rounds: '0' is not a number of at least 1")]
    [InlineData("probe|--target|http://127.0.0.1:9/mcp|--rate|-5", "--rate: '-5' is not a number")]
    public async Task BadNumber_IsAUsageError(string line, string message)
    {
        var console = new StringWriter();
        var exit = await LoadTestProgram.RunAsync(line.Split('|'), console);

        Assert.Equal(2, exit);
        Assert.Contains(message, console.ToString());
    }

    [Fact]
    public async Task OutputPathThatIsAFile_IsAUsageError_BeforeTheRun()
    {
        var file = Path.GetTempFileName();
        try
        {
            var console = new StringWriter();
            var exit = await LoadTestProgram.RunAsync(["run", "--scenarios", "stateless-call", "--out", file], console);

            Assert.Equal(2, exit);
            Assert.Contains($"--out {file}:", console.ToString());
            Assert.DoesNotContain("running", console.ToString()); // refused before the self-hosted target started
        }
        finally
        {
            File.Delete(file);
        }
    }
}

/// <summary>
/// <c>compare</c>, in miniature: every target started as its own process, every figure reported, and
/// (when wrk is installed: CI installs it) the CPU per request of each proxy and upstream.
/// </summary>
[Collection(StreamingLoadCollection.Name)]
public class CompareSmokeTests
{
    [Fact]
    public async Task Compare_StartsEveryTarget_ReportsEachFigure_AndTheCpuPerRequest()
    {
        var output = Directory.CreateTempSubdirectory("mcpedge-compare-smoke-").FullName;
        var script = Path.Combine(McpEdge.Tests.Deployment.ChartCheck.Root, "load-tests", "stateless-call.lua");
        string markdown;
        try
        {
            var console = new StringWriter();
            var exit = await LoadTestProgram.RunAsync(
                ["compare", "--rounds", "1", "--duration", "0.5", "--warmup", "0", "--rate", "200", "--connections", "4", "--wrk-script", script, "--out", output], console);

            Assert.True(exit == 0, console.ToString());
            markdown = await File.ReadAllTextAsync(Path.Combine(output, "compare-report.md"));
            Assert.True(File.Exists(Path.Combine(output, "compare-report.html")));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }

        var targets = File.Exists("/usr/sbin/nginx") ? "| direct | edge | edge-h2c | yarp | nginx |" : "| direct | edge | edge-h2c | yarp |";
        Assert.Contains($"| figure {targets}", markdown);
        Assert.Contains("| stateless-call ok/s (4 connections) | ", markdown);
        Assert.Contains("| session-call p50 µs at 200/s | ", markdown);
        Assert.Contains("| stateless-call p50 µs at 200/s (probe, 1 connection) | ", markdown);
        if (File.Exists("/usr/bin/wrk"))
        {
            // A number for every proxy (direct has none) and for every upstream.
            var proxy = markdown.Split('\n').Single(l => l.StartsWith("| stateless-call wrk: proxy CPU µs per request |", StringComparison.Ordinal));
            var upstream = markdown.Split('\n').Single(l => l.StartsWith("| stateless-call wrk: upstream CPU µs per request |", StringComparison.Ordinal));
            // The cells of the targets: after the figure's name, before the three ratio columns.
            static string[] Targets(string row) => row.Split('|', StringSplitOptions.TrimEntries)[2..^4];
            static bool Positive(string cell) => double.TryParse(cell.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 0;
            Assert.Equal("–", Targets(proxy)[0]);
            Assert.All(Targets(proxy)[1..], c => Assert.True(Positive(c), proxy));
            Assert.All(Targets(upstream), c => Assert.True(Positive(c), upstream));
        }
    }
}
