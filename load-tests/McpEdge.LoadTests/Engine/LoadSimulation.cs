namespace McpEdge.LoadTests.Engine;

/// <summary>
/// How a scenario's load is injected, after NBomber's load simulations. <see cref="Inject"/> and
/// <see cref="RampingInject"/> are open models: requests start on schedule whether or not earlier
/// ones have finished, and latency is measured from the scheduled start, so a slow target cannot
/// hide its latency by slowing the load down (coordinated omission). <see cref="KeepConstant"/> is a
/// closed model (a fixed number of copies, each starting its next request when the last one ends):
/// it measures capacity, not latency at a given rate.
/// </summary>
public abstract record LoadSimulation(TimeSpan During)
{
    /// <summary><paramref name="Rate"/> requests per second, evenly spaced, for <paramref name="During"/>.</summary>
    public sealed record Inject(double Rate, TimeSpan During) : LoadSimulation(During);

    /// <summary>The rate moves linearly from <paramref name="From"/> to <paramref name="To"/> requests per second over <paramref name="During"/>.</summary>
    public sealed record RampingInject(double From, double To, TimeSpan During) : LoadSimulation(During);

    /// <summary><paramref name="Copies"/> concurrent loops for <paramref name="During"/> (closed model).</summary>
    public sealed record KeepConstant(int Copies, TimeSpan During) : LoadSimulation(During);

    /// <summary>True for the open models.</summary>
    public bool IsOpen => this is not KeepConstant;

    /// <summary>
    /// The scheduled start of every request of an open model, as offsets from the start of the
    /// simulation, in order: request <c>i</c> starts when the cumulative rate reaches <c>i</c>
    /// (for a ramp, N(t) = from·t + (to − from)·t²/(2·during), solved for t).
    /// </summary>
    /// <exception cref="InvalidOperationException">A closed model has no schedule.</exception>
    public IEnumerable<TimeSpan> Schedule()
    {
        var seconds = During.TotalSeconds;
        switch (this)
        {
            case Inject inject when inject.Rate > 0:
                var count = (long)Math.Floor(inject.Rate * seconds + 1e-9);
                for (long i = 0; i < count; i++)
                {
                    yield return TimeSpan.FromSeconds(i / inject.Rate);
                }
                break;
            case RampingInject ramp:
                var slope = (ramp.To - ramp.From) / seconds;
                var total = (long)Math.Floor((ramp.From + ramp.To) / 2 * seconds + 1e-9);
                for (long i = 0; i < total; i++)
                {
                    // from·t + slope·t²/2 = i
                    var t = Math.Abs(slope) < 1e-12 ? i / ramp.From
                        : (-ramp.From + Math.Sqrt(ramp.From * ramp.From + 2 * slope * i)) / slope;
                    yield return TimeSpan.FromSeconds(t);
                }
                break;
            case Inject:
                break;
            default:
                throw new InvalidOperationException("A closed model (KeepConstant) has no schedule.");
        }
    }

    /// <summary>Parses <c>inject:RATE:SECONDS</c>, <c>ramp:FROM:TO:SECONDS</c> or <c>constant:COPIES:SECONDS</c>.</summary>
    /// <exception cref="FormatException">Not one of those.</exception>
    public static LoadSimulation Parse(string text)
    {
        var parts = text.Split(':');
        double Number(int i) => double.Parse(parts[i], System.Globalization.CultureInfo.InvariantCulture);
        return parts switch
        {
            ["inject", _, _] => new Inject(Number(1), TimeSpan.FromSeconds(Number(2))),
            ["ramp", _, _, _] => new RampingInject(Number(1), Number(2), TimeSpan.FromSeconds(Number(3))),
            ["constant", _, _] => new KeepConstant((int)Number(1), TimeSpan.FromSeconds(Number(2))),
            _ => throw new FormatException($"'{text}' is not inject:RATE:SECONDS, ramp:FROM:TO:SECONDS or constant:COPIES:SECONDS"),
        };
    }

    /// <inheritdoc />
    public sealed override string ToString() => this switch
    {
        Inject i => $"inject {i.Rate:0.##}/s for {i.During.TotalSeconds:0.#} s",
        RampingInject r => $"ramp {r.From:0.##} → {r.To:0.##}/s over {r.During.TotalSeconds:0.#} s",
        KeepConstant k => $"{k.Copies} copies for {k.During.TotalSeconds:0.#} s",
        _ => "?",
    };
}
