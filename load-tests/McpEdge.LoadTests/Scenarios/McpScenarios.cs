using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using McpEdge.LoadTests.Engine;
using McpEdge.LoadTests.Targets;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpEdge.LoadTests.Scenarios;

/// <summary>The scenarios' settings: where, how hard, how long.</summary>
/// <param name="Endpoint">The MCP server URL under test (through the edge, or direct).</param>
/// <param name="Limited">The rate-limited server's URL (the rate-limit scenario).</param>
/// <param name="Rate">Requests (for <c>sessions</c>: sessions) per second of the open models.</param>
/// <param name="Duration">How long each scenario runs.</param>
/// <param name="SelfHosted">The in-process target, when the run owns it (the failover scenario needs it).</param>
/// <param name="Load">Replaces every scenario's own load simulation when given (<c>--load</c>).</param>
public sealed record ScenarioOptions(Uri Endpoint, Uri? Limited, double Rate, TimeSpan Duration, SelfHosted? SelfHosted, LoadSimulation? Load = null);

/// <summary>
/// The named scenarios: <c>stateless-call</c>, <c>sessions</c>, <c>long-streams</c>,
/// <c>cached-list</c>, <c>rate-limit-burst</c>, <c>failover</c>. Each one's XML doc says what it
/// sends and what its check expects.
/// </summary>
public static class McpScenarios
{
    /// <summary>Every scenario's name, in the order <c>all</c> runs them.</summary>
    public static readonly string[] Names = ["stateless-call", "session-call", "sessions", "long-streams", "cached-list", "rate-limit-burst", "failover"];

    /// <summary>The scenario named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No such scenario.</exception>
    public static Scenario Create(string name, ScenarioOptions options, McpHttp http) => name switch
    {
        "stateless-call" => StatelessCall(options, http),
        "session-call" => SessionCall(options, http),
        "sessions" => Sessions(options),
        "long-streams" => LongStreams(options, http),
        "cached-list" => CachedList(options, http),
        "rate-limit-burst" => RateLimitBurst(options, http),
        "failover" => Failover(options, http),
        _ => throw new ArgumentException($"unknown scenario '{name}'; known: {string.Join(", ", Names)}"),
    };

    /// <summary>
    /// 2026-07-28 style: one stateless <c>tools/call</c> (<c>echo</c>) per request, no session,
    /// <c>MCP-Protocol-Version</c>/<c>Mcp-Method</c>/<c>Mcp-Name</c> headers. Open model at the rate.
    /// </summary>
    public static Scenario StatelessCall(ScenarioOptions options, McpHttp http) => new()
    {
        Name = "stateless-call",
        Description = "2026-07-28 stateless tools/call (echo), no session, HttpClient",
        Simulation = options.Load ?? new LoadSimulation.Inject(options.Rate, options.Duration),
        StepAsync = async context =>
        {
            using var request = http.Post($$$$"""{"jsonrpc":"2.0","id":{{{{context.Invocation}}}},"method":"tools/call","params":{"name":"echo","arguments":{"text":"load {{{{context.Invocation}}}}"}}}""",
                "tools/call", "echo");
            return await http.SendAsync(request, context.Cancellation);
        },
    };

    /// <summary>
    /// Session traffic without the session set-up: 32 sessions (2025-11-25) opened before the load,
    /// then one <c>tools/call</c> (<c>echo</c>) per request on one of them, with <c>Mcp-Session-Id</c>.
    /// Through the edge every request opens the sealed token and is pinned to its replica.
    /// </summary>
    public static Scenario SessionCall(ScenarioOptions options, McpHttp http)
    {
        var sessions = new SessionPool(http, 32);
        return new()
        {
            Name = "session-call",
            Description = "tools/call (echo) on 32 open sessions, HttpClient",
            Simulation = options.Load ?? new LoadSimulation.Inject(options.Rate, options.Duration),
            InitAsync = sessions.InitAsync,
            CleanAsync = sessions.CleanAsync,
            StepAsync = async context =>
            {
                using var request = http.Post($$$$"""{"jsonrpc":"2.0","id":{{{{context.Invocation}}}},"method":"tools/call","params":{"name":"echo","arguments":{"text":"load"}}}""",
                    "tools/call", "echo", sessions.For(context.Invocation));
                return await http.SendAsync(request, context.Cancellation);
            },
        };
    }

    /// <summary>
    /// Whole sessions with the official C# SDK client (ModelContextProtocol.Core, pinned to
    /// 2025-11-25): connect (<c>initialize</c>), <c>tools/list</c>, three <c>tools/call</c>, dispose
    /// (DELETE). One step is one session; the rate is sessions per second (a fifth of the request rate).
    /// </summary>
    public static Scenario Sessions(ScenarioOptions options) => new()
    {
        Name = "sessions",
        Description = "official C# SDK client: initialize, tools/list, 3 × tools/call, DELETE",
        Simulation = options.Load ?? new LoadSimulation.Inject(Math.Max(1, options.Rate / 5), options.Duration),
        StepAsync = async context =>
        {
            var transport = new HttpClientTransport(new HttpClientTransportOptions { Endpoint = options.Endpoint, TransportMode = HttpTransportMode.StreamableHttp, EnableStandaloneGetStream = false });
            await using var client = await McpClient.CreateAsync(transport, new McpClientOptions
            {
                ClientInfo = new Implementation { Name = "mcpedge-load", Version = "1" },
                ProtocolVersion = "2025-11-25",
            }, cancellationToken: context.Cancellation);
            var tools = await client.ListToolsAsync(cancellationToken: context.Cancellation);
            if (tools.Count == 0)
            {
                return StepResult.Fail("no tools");
            }
            for (var i = 0; i < 3; i++)
            {
                var result = await client.CallToolAsync("add", new Dictionary<string, object?> { ["a"] = context.Invocation, ["b"] = i }, cancellationToken: context.Cancellation);
                var expected = (context.Invocation + i).ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (result.IsError == true || result.Content.OfType<TextContentBlock>().FirstOrDefault()?.Text != expected)
                {
                    return StepResult.Fail("wrong tool result");
                }
            }
            return StepResult.Success;
        },
    };

    /// <summary>
    /// Long streams: the sample's <c>progress</c> tool (20 <c>notifications/progress</c>, 25 ms apart,
    /// then the result) on one of 8 sessions; every other request reads the SSE answer slowly (64
    /// bytes every 10 ms). Ok only when all 20 progress events and the result arrived, in order.
    /// </summary>
    public static Scenario LongStreams(ScenarioOptions options, McpHttp http)
    {
        const int steps = 20;
        var sessions = new SessionPool(http, 8);
        return new()
        {
            Name = "long-streams",
            Description = $"progress tool: {steps} SSE progress events 25 ms apart per call, half the readers slow (64 B / 10 ms)",
            Simulation = options.Load ?? new LoadSimulation.Inject(Math.Max(1, options.Rate / 20), options.Duration),
            InitAsync = sessions.InitAsync,
            CleanAsync = sessions.CleanAsync,
            StepAsync = async context =>
            {
                var json = $$$$"""{"jsonrpc":"2.0","id":{{{{context.Invocation}}}},"method":"tools/call","params":{"name":"progress","arguments":{"steps":{{{{steps}}}},"delayMs":25},"_meta":{"progressToken":"p{{{{context.Invocation}}}}"}}}""";
                using var request = http.Post(json, "tools/call", "progress", sessions.For(context.Invocation));
                using var response = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.Cancellation);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    return StepResult.Fail($"http {(int)response.StatusCode}");
                }
                await using var body = await response.Content.ReadAsStreamAsync(context.Cancellation);
                var text = await ReadAllAsync(body, slow: context.Invocation % 2 == 1, context.Cancellation);
                var progress = text.Split('\n').Where(l => l.StartsWith("data:", StringComparison.Ordinal) && l.Contains("notifications/progress", StringComparison.Ordinal))
                    .Select(l => JsonNode.Parse(l[5..])?["params"]?["progress"]?.GetValue<double>() ?? -1).ToArray();
                if (!progress.SequenceEqual(Enumerable.Range(1, steps).Select(i => (double)i)))
                {
                    return StepResult.Fail($"progress events: {progress.Length} of {steps} or out of order");
                }
                return McpHttp.Classify(text);
            },
        };
    }

    private static async Task<string> ReadAllAsync(Stream body, bool slow, CancellationToken cancellation)
    {
        var text = new System.Text.StringBuilder();
        var buffer = new byte[slow ? 64 : 16 * 1024];
        var decoder = System.Text.Encoding.UTF8.GetDecoder();
        var chars = new char[buffer.Length];
        int read;
        while ((read = await body.ReadAsync(buffer, cancellation)) > 0)
        {
            text.Append(chars, 0, decoder.GetChars(buffer, 0, read, chars, 0));
            if (slow)
            {
                await Task.Delay(10, cancellation); // the slow reader itself, not synchronisation
            }
        }
        return text.ToString();
    }

    /// <summary>
    /// <c>tools/list</c> on one of 8 sessions: after the first per session the edge answers from its
    /// list cache (<c>X-Cache: HIT</c>). The check wants most answers to be hits.
    /// </summary>
    public static Scenario CachedList(ScenarioOptions options, McpHttp http)
    {
        var sessions = new SessionPool(http, 8);
        long hits = 0;
        return new()
        {
            Name = "cached-list",
            Description = "tools/list on 8 sessions (the edge's list cache answers all but the first of each)",
            Simulation = options.Load ?? new LoadSimulation.Inject(options.Rate, options.Duration),
            InitAsync = sessions.InitAsync,
            CleanAsync = sessions.CleanAsync,
            StepAsync = async context =>
            {
                using var request = http.Post($$"""{"jsonrpc":"2.0","id":{{context.Invocation}},"method":"tools/list"}""", "tools/list", session: sessions.For(context.Invocation));
                using var response = await http.Client.SendAsync(request, context.Cancellation);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    return StepResult.Fail($"http {(int)response.StatusCode}");
                }
                if (response.Headers.TryGetValues("X-Cache", out var cache) && cache.Contains("HIT"))
                {
                    Interlocked.Increment(ref hits);
                }
                return McpHttp.Classify(await response.Content.ReadAsStringAsync(context.Cancellation));
            },
            Notes = summary => $"cache hits: {Interlocked.Read(ref hits)} of {summary.Ok}",
            Check = summary =>
                summary.Failed > 0 ? $"{summary.Failed} failed"
                : summary.Ok < 16 ? "too few requests to judge the cache"
                : Interlocked.Read(ref hits) < summary.Ok / 2 ? $"only {Interlocked.Read(ref hits)} of {summary.Ok} answers were cache hits"
                : null,
        };
    }

    /// <summary>
    /// Bursts over the <c>limited</c> server's rate limit: every 500 ms, a burst of requests at
    /// once, more than the bucket holds. Refusals must be 429 with <c>Retry-After</c> and a JSON-RPC
    /// error carrying the request's id (counted as <c>http 429</c>); anything else is a failure.
    /// The check wants both successes and 429s, and no other failure.
    /// </summary>
    public static Scenario RateLimitBurst(ScenarioOptions options, McpHttp http)
    {
        var limited = new McpHttp(http.Client, options.Limited ?? throw new ArgumentException("rate-limit-burst needs the rate-limited server's URL (--limited)"));
        return new()
        {
            Name = "rate-limit-burst",
            Description = "stateless tools/call in bursts over the limited server's token bucket",
            // Bursts: the ramp from 0 to 8× the limit packs requests together (an open model, so a burst is not smoothed away).
            Simulation = options.Load ?? new LoadSimulation.RampingInject(SelfHosted.RateLimit, SelfHosted.RateLimit * 8, options.Duration),
            StepAsync = async context =>
            {
                using var request = limited.Post($$$$"""{"jsonrpc":"2.0","id":{{{{context.Invocation}}}},"method":"tools/call","params":{"name":"echo","arguments":{"text":"burst"}}}""",
                    "tools/call", "echo");
                using var response = await limited.Client.SendAsync(request, context.Cancellation);
                var body = await response.Content.ReadAsStringAsync(context.Cancellation);
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    var node = JsonNode.Parse(body);
                    var wellFormed = response.Headers.RetryAfter is not null && node?["error"]?["code"] is not null
                        && node["id"]?.GetValue<long>() == context.Invocation;
                    return StepResult.Fail(wellFormed ? "http 429" : "429 without Retry-After or id");
                }
                return response.StatusCode == HttpStatusCode.OK ? McpHttp.Classify(body) : StepResult.Fail($"http {(int)response.StatusCode}");
            },
            Notes = summary => $"{summary.Ok} passed, {summary.Failures.GetValueOrDefault("http 429")} refused with 429 (limit {SelfHosted.RateLimit}/s)",
            Check = summary =>
                summary.Ok == 0 ? "nothing passed the limit"
                : !summary.Failures.ContainsKey("http 429") ? "the limit refused nothing"
                : summary.Failures.Keys.Any(k => k != "http 429") ? "failures other than 429: " + string.Join(", ", summary.Failures.Keys)
                : null,
        };
    }

    /// <summary>
    /// Stateless calls at the rate while replica 0 of the self-hosted target is stopped half-way:
    /// counts the failures and the time from the stop to the start of the last request that failed
    /// (recovery: the edge stopped sending to the stopped replica). The check wants no failure
    /// before the stop, successes after the last failure, and no failed request started in the
    /// second half of the time after the stop (the edge kept away from the stopped replica).
    /// </summary>
    /// <remarks>
    /// <para>
    /// The edge retries on another replica a session-less call whose connect is refused (its
    /// <c>Failover</c>: nothing reached the stopped replica), and the stopped replica finishes the
    /// calls it had received (a graceful shutdown), so a run normally has no failure at all; the
    /// notes give the retries (the edge's <c>mcpedge_failover_retries_total</c>, read from its
    /// <c>/metrics</c> before and after the run): none in a run where load balancing did not pick
    /// the stopped replica before the probes took it out. What can still fail is a
    /// call sent on a connection the replica was closing (502: it may have run, so it is not
    /// retried). How many of those depends on how many the generator started at that moment, so
    /// the check does not bound their number, only when they started.
    /// </para>
    /// <para>
    /// A failed request is timed by its start (on the generator's clock, when its step began), not
    /// by its end: a request sent at the stop whose failure is reported late, because the process
    /// (generator, edge and replicas share it) was busy, still counts at the stop. Its end is in the
    /// notes.
    /// </para>
    /// </remarks>
    public static Scenario Failover(ScenarioOptions options, McpHttp http)
    {
        var target = options.SelfHosted ?? throw new ArgumentException("failover needs the self-hosted target (it stops one of its replicas)");
        var stopped = -1L;
        var stopEnded = -1L;
        long firstFailureEnd = -1;
        long lastFailureStart = -1;
        long lastFailureEnd = -1;
        long okStartedAfterLastFailure = 0;
        var clock = Stopwatch.StartNew();
        var stopper = default(Task);
        (long Ok, long Failed) retriesBefore = default, retries = default;
        string Ms(long ticks) => $"{ticks * 1000.0 / Stopwatch.Frequency:0}";
        return new()
        {
            Name = "failover",
            Description = "stateless tools/call while one of three replicas is stopped half-way",
            Simulation = options.Load ?? new LoadSimulation.Inject(options.Rate, options.Duration),
            InitAsync = async cancellation =>
            {
                retriesBefore = await target.FailoverRetriesAsync(http.Client, "sample", cancellation);
                clock.Restart();
                stopper = Task.Run(async () =>
                {
                    await Task.Delay(options.Duration / 2); // the fault is injected at a time, by design
                    Interlocked.Exchange(ref stopped, clock.ElapsedTicks);
                    await target.StopReplicaAsync(0);
                    Interlocked.Exchange(ref stopEnded, clock.ElapsedTicks);
                });
            },
            CleanAsync = async () =>
            {
                await (stopper ?? Task.CompletedTask);
                var after = await target.FailoverRetriesAsync(http.Client, "sample");
                retries = (after.Ok - retriesBefore.Ok, after.Failed - retriesBefore.Failed);
            },
            StepAsync = async context =>
            {
                var started = clock.ElapsedTicks;
                using var request = http.Post($$$"""{"jsonrpc":"2.0","id":{{{context.Invocation}}},"method":"tools/call","params":{"name":"whoami"}}""", "tools/call", "whoami");
                var result = await http.SendAsync(request, context.Cancellation);
                lock (clock)
                {
                    if (result.Ok)
                    {
                        if (started > lastFailureStart)
                        {
                            okStartedAfterLastFailure++;
                        }
                    }
                    else
                    {
                        var ended = clock.ElapsedTicks;
                        if (firstFailureEnd < 0)
                        {
                            firstFailureEnd = ended;
                        }
                        if (started > lastFailureStart)
                        {
                            lastFailureStart = started;
                            lastFailureEnd = ended;
                            okStartedAfterLastFailure = 0;
                        }
                    }
                }
                return result;
            },
            Check = summary =>
            {
                // The check runs once the run is over: the time after the stop is now − stop.
                var stop = Interlocked.Read(ref stopped);
                var afterStop = clock.ElapsedTicks - stop;
                lock (clock)
                {
                    return stop < 0 ? "the replica was never stopped"
                        : firstFailureEnd >= 0 && firstFailureEnd < stop ? $"a request failed {Ms(stop - firstFailureEnd)} ms before the stop"
                        : summary.Failed > 0 && okStartedAfterLastFailure == 0 ? "no request started after the last failed one succeeded"
                        : lastFailureStart >= 0 && lastFailureStart - stop > afterStop / 2
                            ? $"a request started {Ms(lastFailureStart - stop)} ms after the stop failed, past half of the {Ms(afterStop)} ms after it"
                        : null;
                }
            },
            Notes = summary =>
            {
                var stop = Interlocked.Read(ref stopped);
                var ended = Interlocked.Read(ref stopEnded);
                lock (clock)
                {
                    return stop < 0 ? "replica not stopped"
                        : $"replica 0 stopped at {stop / (double)Stopwatch.Frequency:0.0} s ({(ended < 0 ? "its shutdown did not end" : $"its shutdown took {Ms(ended - stop)} ms")}); "
                          + $"the edge retried {retries.Ok + retries.Failed} refused call(s) on another replica ({retries.Failed} of the retries failed); {summary.Failed} failed; "
                          + (lastFailureStart < 0 ? "no failure"
                              : $"the last failed request started {Ms(lastFailureStart - stop)} ms after the stop (time to recover) and failed {Ms(lastFailureEnd - stop)} ms after it");
                }
            },
        };
    }
}

/// <summary>Sessions opened before a scenario's load and ended after it; requests take them in turn.</summary>
internal sealed class SessionPool(McpHttp http, int size)
{
    private readonly string[] _sessions = new string[size];

    /// <summary>Opens the sessions (2025-11-25 initialize).</summary>
    public async Task InitAsync(CancellationToken cancellation)
    {
        for (var i = 0; i < _sessions.Length; i++)
        {
            _sessions[i] = await http.InitializeAsync(cancellation);
        }
    }

    /// <summary>The session for request <paramref name="invocation"/>.</summary>
    public string For(long invocation) => _sessions[invocation % _sessions.Length];

    /// <summary>Ends the sessions (DELETE).</summary>
    public Task CleanAsync() => Task.WhenAll(_sessions.Where(s => s is not null).Select(http.DeleteAsync));
}
