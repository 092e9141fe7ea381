using System.Diagnostics;

namespace McpEdge.LoadTests.Engine;

/// <summary>
/// Runs a <see cref="Scenario"/>: for open models, every request starts at its scheduled time
/// (<see cref="LoadSimulation.Schedule"/>) whether or not earlier ones have ended, and its latency
/// is counted from that scheduled time; for closed models, each copy loops. Bounded: the run ends
/// at the simulation's duration plus <see cref="RequestTimeout"/>, and at most
/// <see cref="MaxInFlight"/> requests are in flight (past it a request is counted as failed with
/// <c>client: too many in flight</c> rather than queued).
/// </summary>
public sealed class ScenarioRunner(TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Requests in flight at most (open models). Default 10,000.</summary>
    public int MaxInFlight { get; init; } = 10_000;

    /// <summary>How long one step may take before it is cancelled and counted as <c>timeout</c>. Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Runs <paramref name="scenario"/> against <paramref name="target"/> (a label for the report).</summary>
    public async Task<ScenarioStats> RunAsync(Scenario scenario, string target, CancellationToken cancellation = default)
    {
        var stats = new ScenarioStats(scenario.Name, target, scenario.Simulation);
        using var run = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        run.CancelAfter(scenario.Simulation.During + RequestTimeout + TimeSpan.FromSeconds(5));
        if (scenario.InitAsync is not null)
        {
            await scenario.InitAsync(run.Token);
        }
        try
        {
            var start = _time.GetTimestamp();
            if (scenario.Simulation.IsOpen)
            {
                await RunOpenAsync(scenario, stats, start, run.Token);
            }
            else
            {
                await RunClosedAsync(scenario, (LoadSimulation.KeepConstant)scenario.Simulation, stats, start, run.Token);
            }
            stats.Elapsed = _time.GetElapsedTime(start);
        }
        finally
        {
            if (scenario.CleanAsync is not null)
            {
                await scenario.CleanAsync();
            }
        }
        return stats;
    }

    private async Task RunOpenAsync(Scenario scenario, ScenarioStats stats, long start, CancellationToken cancellation)
    {
        var inFlight = 0;
        var all = new List<Task>();
        long invocation = 0;
        foreach (var due in scenario.Simulation.Schedule())
        {
            var wait = due - _time.GetElapsedTime(start);
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                // Timers fire up to about 1 ms late; requests due within it start together. Each is still
                // timed from its own schedule, and how late it actually started is recorded (start lag).
                try
                {
                    await Task.Delay(wait, _time, cancellation);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            if (cancellation.IsCancellationRequested)
            {
                break;
            }
            var context = new ScenarioContext(invocation++, 0, cancellation);
            if (Interlocked.Increment(ref inFlight) > MaxInFlight)
            {
                Interlocked.Decrement(ref inFlight);
                stats.Record(_time.GetElapsedTime(start), 0, StepResult.Fail("client: too many in flight"));
                continue;
            }
            all.Add(Task.Run(async () =>
            {
                try
                {
                    await StepAsync(scenario, context, stats, start, due);
                }
                finally
                {
                    Interlocked.Decrement(ref inFlight);
                }
            }, CancellationToken.None));
            if (all.Count >= 4096)
            {
                all.RemoveAll(t => t.IsCompleted);
            }
        }
        await Task.WhenAll(all);
    }

    private async Task RunClosedAsync(Scenario scenario, LoadSimulation.KeepConstant simulation, ScenarioStats stats, long start, CancellationToken cancellation)
    {
        long invocation = -1;
        await Task.WhenAll(Enumerable.Range(0, simulation.Copies).Select(copy => Task.Run(async () =>
        {
            while (!cancellation.IsCancellationRequested && _time.GetElapsedTime(start) < simulation.During)
            {
                var context = new ScenarioContext(Interlocked.Increment(ref invocation), copy, cancellation);
                await StepAsync(scenario, context, stats, start, _time.GetElapsedTime(start));
            }
        }, CancellationToken.None)));
    }

    /// <summary>One step, timed from <paramref name="scheduled"/> (offset from the run's start).</summary>
    private async Task StepAsync(Scenario scenario, ScenarioContext context, ScenarioStats stats, long start, TimeSpan scheduled)
    {
        var lag = _time.GetElapsedTime(start) - scheduled;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.Cancellation);
        timeout.CancelAfter(RequestTimeout);
        StepResult result;
        try
        {
            result = await scenario.StepAsync(context with { Cancellation = timeout.Token });
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            result = StepResult.Fail("timeout");
        }
        catch (Exception error)
        {
            result = StepResult.Fail(error.GetType().Name);
        }
        var ended = _time.GetElapsedTime(start);
        var latency = ended - scheduled;
        stats.Record(ended, (long)Math.Max(0, latency.TotalMicroseconds), result, (long)Math.Max(0, lag.TotalMicroseconds));
    }
}
