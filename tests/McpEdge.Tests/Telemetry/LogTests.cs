using System.Net;
using System.Text.Json;
using McpEdge.Configuration;
using McpEdge.Sessions;
using McpEdge.Telemetry;
using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.Telemetry;

/// <summary>The edge's JSON logs, read from the standard output of a real edge process.</summary>
public class LogTests
{
    private const string SessionSecret = "log-test session secret, 32+ characters long";

    /// <summary>
    /// Every log event of the edge has an id of its own, so that a log pipeline can filter or alert on
    /// one (event 109: a revoked client certificate) without catching another class's event.
    /// </summary>
    [Fact]
    public void EveryLoggerMessage_HasAnEventIdOfItsOwn()
    {
        var sources = Directory.EnumerateFiles(Path.Combine(McpEdge.Tests.Deployment.ChartCheck.Root, "src", "McpEdge"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
        var ids = sources
            .SelectMany(file => System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(file), @"\[LoggerMessage\(EventId = (\d+)")
                .Select(m => (Id: int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), File: Path.GetFileName(file))))
            .ToList();

        Assert.True(ids.Count > 50, $"only {ids.Count} [LoggerMessage] declarations found");
        Assert.Empty(ids.GroupBy(i => i.Id).Where(g => g.Count() > 1).Select(g => $"event {g.Key}: {string.Join(", ", g.Select(i => i.File))}"));
    }

    [Fact]
    public async Task JsonLogLines_OfARequest_CarryRequestServerReplicaSessionMethodTool_AndNoSecret()
    {
        await using var sample = await TestSampleServer.StartAsync();
        await using var edge = await EdgeProcess.StartAsync(
            new { Servers = new { s = Mcp.Server(upstreams: sample.Url) }, Sessions = new { Keys = new[] { SessionSecret } } },
            new { Format = "json", LogLevel = new Dictionary<string, string> { ["Default"] = "Warning", [EdgeLogging.AccessCategory] = "Information" } });
        using var client = new HttpClient { BaseAddress = edge.BaseAddress };
        const string bearer = "Bearer sk-live-0123456789abcdef";
        const string argument = "the-secret-argument-4242";

        using var initialize = Mcp.Post("/mcp/s", Mcp.Initialize);
        initialize.Headers.TryAddWithoutValidation("Authorization", bearer);
        using var initialized = await client.SendAsync(initialize);
        var token = initialized.Headers.GetValues("Mcp-Session-Id").Single();
        using var call = Mcp.Post("/mcp/s", $$$$"""{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"{{{{argument}}}}"}}}""", token);
        call.Headers.TryAddWithoutValidation("Authorization", bearer);
        using var answered = await client.SendAsync(call);
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        Assert.Contains(argument, await answered.Content.ReadAsStringAsync()); // it did reach the upstream and back

        var line = await edge.WaitForOutputAsync(l => l.Contains("\"tools/call\"", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        await edge.WaitForOutputAsync(l => l.Contains("\"initialize\"", StringComparison.Ordinal), TimeSpan.FromSeconds(10));

        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        Assert.Equal("Information", root.GetProperty("Level").GetString());
        var properties = root.GetProperty("Properties");
        Assert.Equal(EdgeLogging.AccessCategory, properties.GetProperty("SourceContext").GetString());
        Assert.False(string.IsNullOrEmpty(properties.GetProperty("RequestId").GetString()));
        Assert.False(string.IsNullOrEmpty(properties.GetProperty("ConnectionId").GetString()));
        Assert.Equal("s", properties.GetProperty("Server").GetString());
        Assert.Equal("tools/call", properties.GetProperty("Method").GetString());
        Assert.Equal("echo", properties.GetProperty("Tool").GetString());
        Assert.Equal(McpProxyConfigBuilder.DestinationId(new Uri(sample.Url)), properties.GetProperty("Replica").GetString());
        Assert.Equal(200, properties.GetProperty("StatusCode").GetInt32());
        Assert.Equal(RequestLogScope.Hash(token), properties.GetProperty("Session").GetString());

        // The initialize line names the session the edge issued, by the same hash.
        var initializeLine = JsonDocument.Parse(edge.Output.First(l => l.Contains("\"initialize\"", StringComparison.Ordinal))).RootElement;
        Assert.Equal(RequestLogScope.Hash(token), initializeLine.GetProperty("Properties").GetProperty("Session").GetString());

        // Every line is one JSON object; levels come from the configuration (no Information from ASP.NET Core).
        var lines = edge.Output.ToArray();
        Assert.All(lines, l => Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(l).RootElement.ValueKind));
        Assert.DoesNotContain(lines, l => l.Contains("Microsoft.AspNetCore.Hosting.Diagnostics", StringComparison.Ordinal));

        // No secrets: the bearer token, the tool's arguments, the sealed token, the upstream's own session id.
        using var sealer = new SessionTokenSealer(SessionKeyRing.FromOptions(new McpSessionOptions { Keys = [SessionSecret] }));
        Assert.True(sealer.TryOpen(SessionTokenKind.StreamableHttp, "s", token, out var target));
        foreach (var secret in new[] { "sk-live-0123456789abcdef", argument, token, target.UpstreamValue })
        {
            Assert.DoesNotContain(lines, l => l.Contains(secret, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task AccessLogLine_NamesTheAuthenticatedPrincipal_NeverTheToken()
    {
        await using var issuer = await TestAuthorizationServer.StartAsync();
        await using var sample = await TestSampleServer.StartAsync();
        const string resource = "https://mcp.example.com/mcp/s";
        await using var edge = await EdgeProcess.StartAsync(
            new
            {
                Servers = new
                {
                    s = Mcp.Server(upstreams: sample.Url, authentication: new { Issuer = issuer.Issuer, Resource = resource, RequireHttpsMetadata = false }),
                },
            },
            new { Format = "json", LogLevel = new Dictionary<string, string> { ["Default"] = "Warning", [EdgeLogging.AccessCategory] = "Information" } });
        using var client = new HttpClient { BaseAddress = edge.BaseAddress };
        var token = issuer.Issue(resource, subject: "user-4711");

        using var request = Mcp.Post("/mcp/s", Mcp.Initialize);
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var response = await client.SendAsync(request);
        using var anonymous = await client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        var line = await edge.WaitForOutputAsync(l => l.Contains("\"initialize\"", StringComparison.Ordinal) && l.Contains("\"StatusCode\":200", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        var refused = await edge.WaitForOutputAsync(l => l.Contains("\"StatusCode\":401", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        Assert.Equal("user-4711", JsonDocument.Parse(line).RootElement.GetProperty("Properties").GetProperty("Principal").GetString());
        Assert.False(JsonDocument.Parse(refused).RootElement.GetProperty("Properties").TryGetProperty("Principal", out _));
        Assert.DoesNotContain(edge.Output, l => l.Contains(token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnknownLogFormat_IsAConfigurationError()
    {
        var error = await Assert.ThrowsAsync<McpEdgeConfigurationException>(() =>
            TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: "http://127.0.0.1:9/mcp") } }, "--Logging:Format=xml"));
        Assert.Contains("Logging:Format", error.Message);
    }
}
