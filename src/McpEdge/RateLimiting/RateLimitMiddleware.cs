using System.Diagnostics.Metrics;
using System.Threading.RateLimiting;
using McpEdge.Configuration;
using McpEdge.Protocol;

namespace McpEdge.RateLimiting;

/// <summary>
/// Proxy-pipeline step (after <see cref="JsonRpcMessageMiddleware"/>) that applies
/// <c>McpEdge:RateLimits</c>: every rule matching the message must grant a permit, or the client
/// gets HTTP 429 with <c>Retry-After</c> (seconds, RFC 9110 §10.2.3) and a JSON-RPC error (-32000)
/// carrying the request's id and <c>data: {"limit": rule, "retryAfterMs": n}</c>.
/// </summary>
/// <remarks>
/// Never counted: responses to server requests, <c>notifications/cancelled</c> and <c>ping</c>
/// (throttling them would break cancellation and liveness). A 2025-03-26 batch takes one permit
/// per element from rules whose method and tool are <c>*</c> (the elements are not looked into).
/// Concurrency permits are held until the response ends. Rules are rebuilt (counts start afresh)
/// when the configuration changes.
/// </remarks>
internal sealed partial class RateLimitMiddleware : IAsyncDisposable
{
    private readonly RequestDelegate _next;
    private readonly McpEdgeConfigState _config;
    private readonly ILogger<RateLimitMiddleware> _logger;
    private readonly Counter<long> _rejections;
    private RuleSet _rules;

    public RateLimitMiddleware(RequestDelegate next, McpEdgeConfigState config, IMeterFactory meters, ILogger<RateLimitMiddleware> logger)
    {
        _next = next;
        _config = config;
        _logger = logger;
        _rejections = meters.Create("McpEdge.RateLimiting").CreateCounter<long>("mcpedge.ratelimit.rejections", "{request}", "Messages refused with 429 by a rate-limit rule.");
        _rules = Build(config.Current.RateLimits);
    }

    private sealed record RuleSet(List<RateLimitRuleOptions> Source, RateLimitRule[] Rules);

    private static RuleSet Build(List<RateLimitRuleOptions> source) => new(source, source.Select(r => new RateLimitRule(r)).ToArray());

    private static void DisposeLater(RateLimitRule[] rules) => _ = Task.Run(async () =>
    {
        foreach (var rule in rules)
        {
            await rule.DisposeAsync();
        }
    });

    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var rules = CurrentRules();
        return rules.Length == 0 || context.Features.Get<JsonRpcMessageFeature>() is not { } message || IsExempt(message)
            ? _next(context)
            : LimitAsync(context, rules, message);
    }

    private async Task LimitAsync(HttpContext context, RateLimitRule[] rules, JsonRpcMessageFeature message)
    {
        var server = context.GetReverseProxyFeature().Cluster.Config.ClusterId;
        List<RateLimitLease>? leases = null;
        try
        {
            foreach (var rule in rules)
            {
                int permits;
                if (message.Kind == JsonRpcKind.Batch)
                {
                    if (!rule.CountsEverything || !rule.MatchesServer(server))
                    {
                        continue;
                    }
                    permits = Math.Min(message.Envelope.BatchCount, rule.Options.PermitLimit);
                }
                else if (rule.Matches(server, message))
                {
                    permits = 1;
                }
                else
                {
                    continue;
                }
                var client = rule.ClientOf(context);
                var lease = rule.Limiter.AttemptAcquire(client, permits);
                (leases ??= []).Add(lease);
                if (!lease.IsAcquired)
                {
                    await RejectAsync(context, message, server, rule, client, lease);
                    return;
                }
            }
            await _next(context);
        }
        finally
        {
            if (leases is not null)
            {
                foreach (var lease in leases)
                {
                    try
                    {
                        lease.Dispose();
                    }
                    catch (ObjectDisposedException)
                    {
                        // Its rule set was replaced by a reload meanwhile.
                    }
                }
            }
        }
    }

    /// <summary>Messages no rule may throttle.</summary>
    internal static bool IsExempt(JsonRpcMessageFeature message) =>
        message.Kind == JsonRpcKind.Response || message.Method is McpMethods.Cancelled or McpMethods.Ping;

    private RateLimitRule[] CurrentRules()
    {
        var current = _config.Current.RateLimits;
        var rules = _rules;
        if (!ReferenceEquals(rules.Source, current))
        {
            // One winner per reload; the loser's set and the replaced one are disposed (which stops
            // their timers; leases in flight from them are released harmlessly).
            var built = Build(current);
            if (ReferenceEquals(Interlocked.CompareExchange(ref _rules, built, rules), rules))
            {
                DisposeLater(rules.Rules);
                rules = built;
            }
            else
            {
                DisposeLater(built.Rules);
                rules = _rules;
            }
        }
        return rules.Rules;
    }

    private Task RejectAsync(HttpContext context, JsonRpcMessageFeature message, string server, RateLimitRule rule, string client, RateLimitLease lease)
    {
        var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        _rejections.Add(1, new KeyValuePair<string, object?>("mcp.server", server), new KeyValuePair<string, object?>("mcpedge.rate_limit", rule.Options.Name));
        LogRejected(_logger, server, message.Method ?? "batch", rule.Options.Name, client, seconds);
        var name = rule.Options.Name;
        var retryMs = (long)Math.Ceiling(retryAfter.TotalMilliseconds);
        return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status429TooManyRequests, McpErrorCodes.LimitExceeded,
            $"Rate limit '{name}' exceeded; retry after {seconds} s.", message.RawId, seconds, writer =>
            {
                writer.WriteStartObject();
                writer.WriteString("limit", name);
                writer.WriteNumber("retryAfterMs", retryMs);
                writer.WriteEndObject();
            });
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var rule in _rules.Rules)
        {
            await rule.DisposeAsync();
        }
    }

    [LoggerMessage(EventId = 80, Level = LogLevel.Information, Message = "Rate limit: {Method} for server {Server} refused by rule {Rule} for client {Client} (retry after {Seconds} s).")]
    private static partial void LogRejected(ILogger logger, string server, string method, string rule, string client, int seconds);
}
