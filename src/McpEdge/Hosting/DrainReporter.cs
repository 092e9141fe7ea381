using McpEdge.Streaming;

namespace McpEdge.Hosting;

/// <summary>
/// Counts requests to MCP servers in flight (told by the proxy pipeline's first step,
/// <see cref="Telemetry.RequestTelemetryMiddleware"/>, which has an async frame anyway) and reports the graceful shutdown: on
/// <see cref="IHostApplicationLifetime.ApplicationStopping"/> (SIGTERM) what is being drained,
/// on <see cref="IHostApplicationLifetime.ApplicationStopped"/> what was still open when the
/// grace period (<see cref="Configuration.StreamingOptions.ShutdownGracePeriod"/>, the host's
/// shutdown timeout) ended.
/// </summary>
public sealed partial class DrainReporter(IHostApplicationLifetime lifetime, SseRelay relay, ILogger<DrainReporter> logger) : IHostedService
{
    private int _inFlight;

    /// <summary>Requests in flight now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>A request to an MCP server has started; <see cref="RequestEnded"/> follows it, whatever happens.</summary>
    internal void RequestStarted() => Interlocked.Increment(ref _inFlight);

    /// <summary>A request counted by <see cref="RequestStarted"/> has ended.</summary>
    internal void RequestEnded() => Interlocked.Decrement(ref _inFlight);

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStopping.Register(() => LogDraining(logger, InFlight, relay.OpenStreams));
        lifetime.ApplicationStopped.Register(() =>
        {
            if (InFlight > 0)
            {
                LogLeftOpen(logger, InFlight, relay.OpenStreams);
            }
            else
            {
                LogDrained(logger);
            }
        });
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 60, Level = LogLevel.Information, Message = "Shutting down: draining {Requests} requests in flight, {Streams} of them SSE streams (closed with retry: so clients resume elsewhere).")]
    private static partial void LogDraining(ILogger logger, int requests, int streams);

    [LoggerMessage(EventId = 61, Level = LogLevel.Information, Message = "Drained: no request was left open.")]
    private static partial void LogDrained(ILogger logger);

    [LoggerMessage(EventId = 62, Level = LogLevel.Warning, Message = "Grace period over: {Requests} requests were still in flight ({Streams} SSE streams) and were cut.")]
    private static partial void LogLeftOpen(ILogger logger, int requests, int streams);
}
