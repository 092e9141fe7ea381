using McpEdge.Configuration;
using Serilog;
using Serilog.Extensions.Logging;
using Serilog.Formatting.Json;

namespace McpEdge.Telemetry;

/// <summary>
/// The edge's logs: Serilog (3.1) to standard output, one JSON object per line (Serilog's
/// <see cref="JsonFormatter"/>), or human-readable text in Development.
/// </summary>
/// <remarks>
/// <para>
/// Levels come from the usual <c>Logging:LogLevel</c> section (per category, reloaded when the file
/// changes): Serilog itself lets everything through and Microsoft.Extensions.Logging filters. The
/// access log is category <see cref="AccessCategory"/> at Information: set it to <c>Warning</c> to
/// turn it off.
/// </para>
/// <para>
/// A JSON line: <c>{"Timestamp":"2026-11-21T10:00:00.1234567+00:00","Level":"Information",
/// "MessageTemplate":"…","RenderedMessage":"…","TraceId":"…","SpanId":"…","Properties":{"SourceContext":"McpEdge.Access",
/// "RequestId":"…","Server":"…","Method":"tools/call","Tool":"…","Replica":"…","Session":"…",…}}</c>
/// (see <see cref="RequestLogScope"/> for the request properties). <c>TraceId</c> and <c>SpanId</c>
/// are there when traces are on (an OTLP export or another listener of the <c>McpEdge</c> or
/// <c>Microsoft.AspNetCore</c> activity sources): that is when requests get an <c>Activity</c>.
/// </para>
/// <para>
/// ASP.NET Core's request diagnostics logger (<see cref="HostingDiagnosticsCategory"/>) is off
/// unless <c>Logging:LogLevel</c> names that category: while it is enabled at any level, ASP.NET
/// Core opens a log scope and starts an <c>Activity</c> for every request, and HttpClient then
/// starts a child <c>Activity</c> for the upstream exchange, about 2 KiB and several microseconds
/// per request (docs/benchmarks.md) to repeat what the access log and
/// <see cref="RequestLogScope"/> already say (<c>RequestId</c>, <c>ConnectionId</c>).
/// </para>
/// </remarks>
public static class EdgeLogging
{
    /// <summary>The setting choosing the format: <c>json</c> (default) or <c>text</c> (default in Development).</summary>
    public const string FormatKey = "Logging:Format";

    /// <summary>The category of the access log: one line per request to an MCP server, when it ends.</summary>
    public const string AccessCategory = "McpEdge.Access";

    /// <summary>The text format's line: time, level, category, message, then the properties as JSON.</summary>
    public const string TextTemplate = "[{Timestamp:HH:mm:ss.fff} {Level:u3}] {SourceContext}: {Message:lj} {Properties:j}{NewLine}{Exception}";

    /// <summary>ASP.NET Core's per-request logger ("Request starting", "Request finished"); off unless configured.</summary>
    public const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    /// <summary>Log lines waiting to be written at most; past it, new lines are dropped (never the request slowed).</summary>
    public const int AsyncBufferSize = 10_000;

    /// <summary>Replaces the default logging providers with Serilog to the console.</summary>
    /// <exception cref="McpEdgeConfigurationException"><see cref="FormatKey"/> is neither <c>json</c> nor <c>text</c>.</exception>
    public static void Configure(WebApplicationBuilder builder)
    {
        var format = builder.Configuration[FormatKey];
        var json = string.IsNullOrEmpty(format) ? !builder.Environment.IsDevelopment()
            : format.Equals("json", StringComparison.OrdinalIgnoreCase) ? true
            : format.Equals("text", StringComparison.OrdinalIgnoreCase) ? false
            : throw new McpEdgeConfigurationException([$"{FormatKey}: '{format}' is not a log format; use json or text."]);
        // Formatting and console writes happen on Serilog.Sinks.Async's worker, not on the request's thread;
        // past AsyncBufferSize waiting lines, new ones are dropped rather than slowing requests down.
        var logger = new LoggerConfiguration().MinimumLevel.Verbose()
            .WriteTo.Async(sink =>
            {
                if (json)
                {
                    sink.Console(new JsonFormatter(renderMessage: true));
                }
                else
                {
                    sink.Console(outputTemplate: TextTemplate, formatProvider: System.Globalization.CultureInfo.InvariantCulture);
                }
            }, bufferSize: AsyncBufferSize, blockWhenFull: false)
            .CreateLogger();
        builder.Logging.ClearProviders();
        // Not AddSerilog(): it adds a Trace-level filter rule for its provider, which would override Logging:LogLevel.
        builder.Logging.AddProvider(new SerilogLoggerProvider(logger, dispose: true));
        if (builder.Configuration[$"Logging:LogLevel:{HostingDiagnosticsCategory}"] is null)
        {
            builder.Logging.AddFilter(HostingDiagnosticsCategory, LogLevel.None);
        }
    }
}
