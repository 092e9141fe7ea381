namespace McpEdge.LoadTests.Engine;

/// <summary>
/// A named scenario, after NBomber's: an optional init (e.g. open sessions), a step run once per
/// request, an optional clean, and a load simulation. <see cref="Check"/> says whether the run
/// shows what the scenario is for (the smoke run fails on it).
/// </summary>
public sealed class Scenario
{
    /// <summary>The scenario's name (<c>stateless-call</c>, <c>sessions</c>, …).</summary>
    public required string Name { get; init; }

    /// <summary>One line on what it does.</summary>
    public required string Description { get; init; }

    /// <summary>The load.</summary>
    public required LoadSimulation Simulation { get; init; }

    /// <summary>Runs before the load starts.</summary>
    public Func<CancellationToken, Task>? InitAsync { get; init; }

    /// <summary>One request (or one chain of requests counted as one).</summary>
    public required Func<ScenarioContext, Task<StepResult>> StepAsync { get; init; }

    /// <summary>Runs after the load, whatever happened.</summary>
    public Func<Task>? CleanAsync { get; init; }

    /// <summary>Extra figures for the report (cache hits, time to recover, …), or null.</summary>
    public Func<Summary, string?>? Notes { get; init; }

    /// <summary>Null when the summary shows what the scenario expects, else why not. Default: no failures and at least one success.</summary>
    public Func<Summary, string?> Check { get; init; } = summary =>
        summary.Ok == 0 ? "no request succeeded"
        : summary.Failed > 0 ? $"{summary.Failed} failed: {string.Join(", ", summary.Failures.Select(f => $"{f.Key} × {f.Value}"))}"
        : null;
}

/// <summary>What a step knows: its invocation number, its copy (closed model), the run's cancellation.</summary>
public sealed record ScenarioContext(long Invocation, int Copy, CancellationToken Cancellation);
