using System.Diagnostics.Metrics;

namespace McpEdge.Streaming;

/// <summary>
/// The SSE relay's instruments, on the meter <c>McpEdge.Streaming</c> (<see cref="IMeterFactory"/>),
/// each tagged with <c>mcp.server</c>; exported by the observability step. Units follow the
/// OpenTelemetry conventions (<c>{stream}</c>, <c>{event}</c>, <c>By</c>).
/// </summary>
public sealed class StreamingMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "McpEdge.Streaming";

    private readonly UpDownCounter<long> _open;
    private readonly Counter<long> _events;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _keepAlives;
    private readonly Counter<long> _pauses;
    private readonly Counter<long> _cuts;
    private readonly Counter<long> _drained;
    private readonly Counter<long> _rejected;

    /// <summary>Creates the instruments.</summary>
    public StreamingMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _open = meter.CreateUpDownCounter<long>("mcpedge.sse.streams.open", "{stream}", "SSE streams being relayed.");
        _events = meter.CreateCounter<long>("mcpedge.sse.events", "{event}", "SSE events relayed (blank-line terminated blocks, comments included).");
        _bytes = meter.CreateCounter<long>("mcpedge.sse.bytes", "By", "SSE bytes relayed to clients.");
        _keepAlives = meter.CreateCounter<long>("mcpedge.sse.keepalives", "{comment}", "Keep-alive comments sent on idle streams.");
        _pauses = meter.CreateCounter<long>("mcpedge.sse.backpressure.pauses", "{pause}", "Writes that waited for a slow client (the upstream was not read meanwhile).");
        _cuts = meter.CreateCounter<long>("mcpedge.sse.slow_consumer.cuts", "{stream}", "Streams cut because the client accepted nothing for SlowConsumerTimeout.");
        _drained = meter.CreateCounter<long>("mcpedge.sse.drained", "{stream}", "Streams closed with retry: by a graceful shutdown.");
        _rejected = meter.CreateCounter<long>("mcpedge.sse.streams.rejected", "{stream}", "Streams refused by a stream limit.");
    }

    internal void Opened(string server) => _open.Add(1, Tag(server));
    internal void Closed(string server) => _open.Add(-1, Tag(server));
    internal void Relayed(string server, long bytes, long events)
    {
        _bytes.Add(bytes, Tag(server));
        if (events > 0)
        {
            _events.Add(events, Tag(server));
        }
    }
    internal void KeepAlive(string server) => _keepAlives.Add(1, Tag(server));
    internal void Paused(string server) => _pauses.Add(1, Tag(server));
    internal void Cut(string server) => _cuts.Add(1, Tag(server));
    internal void Drained(string server) => _drained.Add(1, Tag(server));
    internal void Rejected(string server, string limit) =>
        _rejected.Add(1, new KeyValuePair<string, object?>("mcp.server", server), new KeyValuePair<string, object?>("limit", limit));

    private static KeyValuePair<string, object?> Tag(string server) => new("mcp.server", server);
}
