using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace McpEdge.Tests.Infrastructure;

/// <summary>
/// An <see cref="ILoggerProvider"/> that keeps every entry at <paramref name="minimum"/> or above
/// (level, category, formatted message with the exception's type and message), for tests that assert what the
/// edge logged. Register it with <c>builder.Services.AddSingleton&lt;ILoggerProvider&gt;(collector)</c>.
/// </summary>
public sealed class LogCollector(LogLevel minimum) : ILoggerProvider
{
    /// <summary>The entries, in the order they were logged.</summary>
    public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Entries { get; } = new();

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private sealed class Logger(LogCollector collector, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= collector._minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                collector.Entries.Enqueue((logLevel, category, exception is null ? formatter(state, exception) : $"{formatter(state, exception)} [{exception.GetType().Name}: {exception.Message}]"));
            }
        }
    }

    private readonly LogLevel _minimum = minimum;
}
