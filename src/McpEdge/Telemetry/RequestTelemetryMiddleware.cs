using McpEdge.Protocol;
using Yarp.ReverseProxy;

namespace McpEdge.Telemetry;

/// <summary>
/// First step of the proxy pipeline: counts and times every request to an MCP server
/// (<see cref="EdgeMetrics"/>), opens the request's log scope (<see cref="RequestLogScope"/>: server,
/// method, tool, replica, session) around the rest of the pipeline, and writes one access-log line
/// per request (category <see cref="EdgeLogging.AccessCategory"/>, level Information) when it ends.
/// It also counts the request for the shutdown report (<see cref="Hosting.DrainReporter"/>), and gives
/// YARP's bodiless 502/503/504 a JSON-RPC error (<see cref="Forwarder.UpstreamFailures.WriteErrorBodyAsync"/>).
/// </summary>
internal sealed partial class RequestTelemetryMiddleware(RequestDelegate next, EdgeMetrics metrics, Hosting.DrainReporter drain, TimeProvider time, ILoggerFactory loggers)
{
    private readonly ILogger _scopes = loggers.CreateLogger("McpEdge");
    private readonly ILogger _access = loggers.CreateLogger(EdgeLogging.AccessCategory);

    /// <summary>Runs the step.</summary>
    public async Task InvokeAsync(HttpContext context)
    {
        var server = context.GetReverseProxyFeature().Cluster.Config.ClusterId;
        var started = time.GetTimestamp();
        metrics.Started(server);
        drain.RequestStarted();
        // No scope when nothing logs at all; a scope costs one small object per request otherwise.
        var scope = _scopes.IsEnabled(LogLevel.Critical) ? new RequestLogScope(context, server) : null;
        using var logScope = scope is null ? null : _scopes.BeginScope(scope);
        try
        {
            await next(context);
            await Forwarder.UpstreamFailures.WriteErrorBodyAsync(context, server);
        }
        finally
        {
            drain.RequestEnded();
            var message = context.Features.Get<JsonRpcMessageFeature>();
            var method = EdgeMetrics.MethodLabel(context.Request, message);
            var status = context.Response.StatusCode;
            var outcome = EdgeMetrics.Outcome(context);
            var elapsed = time.GetElapsedTime(started);
            metrics.Ended(server, method, status, outcome, elapsed.TotalSeconds);
            var accessLog = _access.IsEnabled(LogLevel.Information);
            scope?.Complete(keepValues: accessLog);
            if (accessLog)
            {
                LogAccess(_access, context.Request.Method, scope?.Method ?? method, server, status, outcome, Math.Round(elapsed.TotalMilliseconds, 3));
            }
        }
    }

    [LoggerMessage(EventId = 150, Level = LogLevel.Information, Message = "{HttpMethod} {Method} to server {Server} answered {StatusCode} ({Outcome}) in {ElapsedMs} ms")]
    private static partial void LogAccess(ILogger logger, string httpMethod, string method, string server, int statusCode, string outcome, double elapsedMs);
}
