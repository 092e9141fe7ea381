using System.Diagnostics;

namespace McpEdge.LoadTests.Engine;

/// <summary>
/// Runs a <see cref="Scenario"/>: for open models, every request starts at its scheduled time
/// (<see cref="LoadSimulation.Schedule"/>), never before it, whether or not earlier ones have ended,
/// and its latency is counted from that scheduled time; for closed models, each copy loops. An open
/// model's requests are started by a dedicated thread that sleeps until each due time
/// (<see cref="Pacer"/>: within tens of microseconds on Linux) and runs the step until its first
/// <c>await</c>; a step that blocks before it delays the ones after it, which shows as start lag.
/// Bounded: the run ends at the simulation's duration plus <see cref="RequestTimeout"/>, and at most
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
        // The schedule runs on a thread of its own, which sleeps until each due time (Pacer) and starts the
        // request there: the step runs on it until its first await, the rest on the thread pool. So neither
        // a timer's millisecond granularity nor a thread-pool hand-off comes between the due time and the
        // request's first bytes.
        var dispatched = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        var dispatcher = new Thread(() =>
        {
            try
            {
                dispatched.SetResult(Dispatch(scenario, stats, start, cancellation));
            }
            catch (Exception error)
            {
                dispatched.SetException(error);
            }
        })
        { IsBackground = true, Name = $"load {scenario.Name}" };
        dispatcher.Start();
        await await dispatched.Task;
    }

    /// <summary>Starts every request of the open model at its due time; returns when all are started, with a task for their ends.</summary>
    private Task Dispatch(Scenario scenario, ScenarioStats stats, long start, CancellationToken cancellation)
    {
        var pacer = new Pacer(_time);
        var inFlight = 0;
        var all = new List<Task>();
        var pruneAt = 4096;
        long invocation = 0;
        foreach (var due in scenario.Simulation.Schedule())
        {
            if (!pacer.WaitUntil(start, due, cancellation))
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
            all.Add(Track(context, due));
            if (all.Count >= pruneAt)
            {
                all.RemoveAll(t => t.IsCompleted);
                pruneAt = Math.Max(4096, 2 * all.Count);
            }
        }
        return Task.WhenAll(all);

        async Task Track(ScenarioContext context, TimeSpan due)
        {
            try
            {
                await StepAsync(scenario, context, stats, start, due);
            }
            finally
            {
                Interlocked.Decrement(ref inFlight);
            }
        }
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
