using System.Net;
using System.Text.RegularExpressions;
using System.Threading.RateLimiting;
using McpEdge.Configuration;
using McpEdge.Protocol;

namespace McpEdge.RateLimiting;

/// <summary>
/// A compiled <see cref="RateLimitRuleOptions"/>: its globs and one
/// <see cref="PartitionedRateLimiter{TResource}"/> partitioned by client (System.Threading.RateLimiting).
/// </summary>
internal sealed class RateLimitRule : IAsyncDisposable
{
    /// <summary>The limiter kinds a rule may name.</summary>
    public static readonly IReadOnlyList<string> Limiters = ["TokenBucket", "SlidingWindow", "FixedWindow", "Concurrency"];

    private readonly Regex _server;
    private readonly Regex _method;
    private readonly Regex? _tool;

    public RateLimitRule(RateLimitRuleOptions options)
    {
        Options = options;
        _server = Glob.Compile(options.Server);
        _method = Glob.Compile(options.Method);
        _tool = options.Tool == "*" ? null : Glob.Compile(options.Tool);
        Limiter = PartitionedRateLimiter.Create<string, string>(client => Partition(client, options), StringComparer.Ordinal);
    }

    public RateLimitRuleOptions Options { get; }

    public PartitionedRateLimiter<string> Limiter { get; }

    /// <summary>True when the rule applies to <paramref name="server"/>.</summary>
    public bool MatchesServer(string server) => _server.IsMatch(server);

    /// <summary>True when the rule counts every message of a server (method and tool <c>*</c>), so it can count a batch's elements unseen.</summary>
    public bool CountsEverything => Options.Method == "*" && _tool is null;

    /// <summary>True when the rule counts <paramref name="message"/> sent to <paramref name="server"/>.</summary>
    public bool Matches(string server, JsonRpcMessageFeature message) =>
        _server.IsMatch(server) && _method.IsMatch(message.Method ?? "") && (_tool is null || (message.Name is { } name && _tool.IsMatch(name)));

    /// <summary>
    /// The client a rule counts against: the authenticated principal's name, else the value of
    /// <see cref="RateLimitRuleOptions.ClientHeader"/>, else the client IP. Never the session.
    /// </summary>
    public string ClientOf(HttpContext context)
    {
        if (Security.BearerAuthentication.PrincipalOf(context) is { } user)
        {
            return "user:" + user;
        }
        if (Options.ClientHeader is { } header && context.Request.Headers.TryGetValue(header, out var value) && value.Count > 0 && !string.IsNullOrEmpty(value[0]))
        {
            return "key:" + value[0];
        }
        return "ip:" + (context.Connection.RemoteIpAddress ?? IPAddress.None);
    }

    private static RateLimitPartition<string> Partition(string client, RateLimitRuleOptions options) => options.Limiter.ToUpperInvariant() switch
    {
        "SLIDINGWINDOW" => RateLimitPartition.GetSlidingWindowLimiter(client, _ => new SlidingWindowRateLimiterOptions
        {
            PermitLimit = options.PermitLimit, Window = options.Window, SegmentsPerWindow = options.SegmentsPerWindow, QueueLimit = 0,
        }),
        "FIXEDWINDOW" => RateLimitPartition.GetFixedWindowLimiter(client, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.PermitLimit, Window = options.Window, QueueLimit = 0,
        }),
        "CONCURRENCY" => RateLimitPartition.GetConcurrencyLimiter(client, _ => new ConcurrencyLimiterOptions
        {
            PermitLimit = options.PermitLimit, QueueLimit = 0,
        }),
        _ => RateLimitPartition.GetTokenBucketLimiter(client, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.PermitLimit, TokensPerPeriod = options.TokensPerWindow ?? options.PermitLimit, ReplenishmentPeriod = options.Window, QueueLimit = 0,
        }),
    };

    public ValueTask DisposeAsync() => Limiter.DisposeAsync();
}
