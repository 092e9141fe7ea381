using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace McpEdge.Tests.Infrastructure;

/// <summary>Sums the <c>long</c> measurements of one meter of one edge (instruments of other edges in the process are ignored).</summary>
public sealed class MetricTotals : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();

    public MetricTotals(IServiceProvider edgeServices, string meterName)
    {
        var factory = edgeServices.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            _totals.AddOrUpdate(instrument.Name, value, (_, v) => v + value);
            Measured?.Invoke(instrument.Name);
        });
        _listener.Start();
    }

    /// <summary>Raised on the measuring thread, after the total was updated, with the instrument name.</summary>
    public event Action<string>? Measured;

    /// <summary>The sum of every measurement of <paramref name="instrument"/> so far.</summary>
    public long this[string instrument] => _totals.GetValueOrDefault(instrument);

    public void Dispose() => _listener.Dispose();
}
