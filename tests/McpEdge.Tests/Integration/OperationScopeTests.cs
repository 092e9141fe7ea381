using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace McpEdge.Tests.Integration;

/// <summary>
/// Per-operation scopes (Servers:{name}:Authentication:OperationScopes and ImpliedScopes): a token
/// that lacks a tool's scope gets the runtime scope challenge of MCP 2026-07-28
/// basic/authorization/index.mdx, "Scope Challenge Handling" (403, <c>insufficient_scope</c>, every
/// scope the operation needs in one challenge), and nothing reaches the replica; other operations
/// of the same token go through; a broader scope implies narrower ones.
/// </summary>
public class OperationScopeTests
{
    private const string Resource = "https://mcp.example.com/mcp/s";
    private const string Metadata = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp/s";

    private sealed record Setup(TestAuthorizationServer Issuer, TestUpstream Upstream, TestEdge Edge, LogCollector Logs) : IAsyncDisposable
    {
        public string Token(string scope) => Issuer.Issue(Resource, subject: "alice", scope: scope);

        public async ValueTask DisposeAsync()
        {
            await Edge.DisposeAsync();
            await Upstream.DisposeAsync();
            await Issuer.DisposeAsync();
        }
    }

    /// <summary>
    /// Server <c>s</c> needs <c>mcp:tools</c> for everything, <c>files:write</c> for the tools
    /// <c>write_*</c>, <c>secrets:read</c> for resources under <c>file:///secret/</c>; <c>files:admin</c>
    /// implies <c>files:write</c>, which implies <c>files:read</c>; <c>mcp:all</c> implies <c>mcp:tools</c>.
    /// </summary>
    private static async Task<Setup> StartAsync(string batchMode = "split")
    {
        var issuer = await TestAuthorizationServer.StartAsync();
        var upstream = await TestUpstream.StartAsync((context, body) =>
        {
            // One response per request; a batch gets an array (passthrough) or one POST per element (split).
            using var request = JsonDocument.Parse(body);
            var ids = request.RootElement.ValueKind == JsonValueKind.Array
                ? request.RootElement.EnumerateArray().Select(e => e.GetProperty("id").GetInt32()).ToArray()
                : [request.RootElement.GetProperty("id").GetInt32()];
            object answer = request.RootElement.ValueKind == JsonValueKind.Array
                ? ids.Select(id => new { jsonrpc = "2.0", id, result = new { } }).ToArray()
                : new { jsonrpc = "2.0", id = ids[0], result = new { } };
            return context.Response.WriteAsJsonAsync(answer);
        });
        var logs = new LogCollector(LogLevel.Information);
        var authentication = new Dictionary<string, object?>
        {
            ["Issuer"] = issuer.Issuer,
            ["Resource"] = Resource,
            ["Scopes"] = new[] { "mcp:tools" },
            ["RequireHttpsMetadata"] = false,
            ["OperationScopes"] = new object[]
            {
                new { Tool = "write_*", Scopes = new[] { "files:write" } },
                new { Method = "resources/read", Tool = "file:///secret/*", Scopes = new[] { "secrets:read" } },
                new { Tool = "read_*", Scopes = new[] { "files:read" } },
            },
            ["ImpliedScopes"] = new object[]
            {
                new { Scope = "files:admin", Implies = new[] { "files:write" } },
                new { Scope = "files:write", Implies = new[] { "files:read" } },
                new { Scope = "mcp:all", Implies = new[] { "mcp:tools" } },
            },
        };
        var edge = await TestEdge.StartAsync(
            new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp", batches: new { Mode = batchMode }, authentication: authentication) } },
            builder =>
            {
                builder.Services.AddSingleton<ILoggerProvider>(logs);
                builder.Logging.AddFilter<LogCollector>(null, LogLevel.Information); // the edge's tests log from Warning up
            });
        return new Setup(issuer, upstream, edge, logs);
    }

    private static string ToolCall(int id, string tool) =>
        "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"tools/call\",\"params\":{\"name\":\"" + tool + "\",\"arguments\":{}}}";

    private static string ResourceRead(int id, string uri) =>
        "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"resources/read\",\"params\":{\"uri\":\"" + uri + "\"}}";

    private static Task<HttpResponseMessage> SendAsync(Setup s, string json, string token)
    {
        var request = Mcp.Post("/mcp/s", json);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return s.Edge.Client.SendAsync(request);
    }

    [Fact]
    public async Task ToolWithoutItsScope_403StepUpChallenge_NamingEveryScopeTheCallNeeds_AndNothingReachesTheReplica()
    {
        await using var s = await StartAsync();

        using var response = await SendAsync(s, ToolCall(7, "write_file"), s.Token("mcp:tools"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        // RFC 6750 §3.1 and MCP 2026-07-28 "Scope Challenge Handling": the server's scope and the tool's, in one challenge.
        Assert.Equal(
            $"Bearer error=\"insufficient_scope\", error_description=\"This operation needs a scope the access token lacks.\", resource_metadata=\"{Metadata}\", scope=\"mcp:tools files:write\"",
            response.Headers.WwwAuthenticate.ToString());
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(7, body.RootElement.GetProperty("id").GetInt32()); // the body was read: the error answers the request
        var error = body.RootElement.GetProperty("error");
        Assert.Equal(-32000, error.GetProperty("code").GetInt32());
        Assert.Contains("files:write", error.GetProperty("message").GetString());
        Assert.Equal(["mcp:tools", "files:write"], error.GetProperty("data").GetProperty("requiredScopes").EnumerateArray().Select(e => e.GetString()));
        Assert.Empty(s.Upstream.Requests);

        var metrics = await s.Edge.Client.GetStringAsync("/metrics");
        var counted = metrics.Split('\n').Single(line => line.StartsWith("mcpedge_auth_rejections_total{", StringComparison.Ordinal));
        Assert.Contains("reason=\"operation_scope\"", counted);
        Assert.EndsWith(" 1", counted);
        var logged = Assert.Single(s.Logs.Entries, e => e.Category.EndsWith("OperationScopeMiddleware", StringComparison.Ordinal));
        Assert.Equal("Request for server s refused with 403 (operation_scope): principal alice lacks files:write for tools/call write_file", logged.Message);
    }

    [Fact]
    public async Task SameToken_OtherOperationsGoThrough_AndTheToolGoesThroughWithItsScope()
    {
        await using var s = await StartAsync();
        var basic = s.Token("mcp:tools");

        using (var list = await SendAsync(s, Mcp.Call(1, "tools/list"), basic))
        using (var other = await SendAsync(s, ToolCall(2, "echo"), basic))
        using (var publicResource = await SendAsync(s, ResourceRead(3, "file:///public/readme"), basic))
        {
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
            Assert.Equal(HttpStatusCode.OK, publicResource.StatusCode);
        }
        using (var secret = await SendAsync(s, ResourceRead(4, "file:///secret/key"), basic))
        {
            Assert.Equal(HttpStatusCode.Forbidden, secret.StatusCode);
            Assert.EndsWith("scope=\"mcp:tools secrets:read\"", secret.Headers.WwwAuthenticate.ToString());
        }
        using (var stepped = await SendAsync(s, ToolCall(5, "write_file"), s.Token("mcp:tools files:write")))
        {
            Assert.Equal(HttpStatusCode.OK, stepped.StatusCode);
        }
        Assert.Equal(4, s.Upstream.Requests.Count);
    }

    [Theory]
    [InlineData("mcp:tools files:admin", "write_file", HttpStatusCode.OK)]       // admin implies write
    [InlineData("mcp:tools files:admin", "read_file", HttpStatusCode.OK)]        // … and, through write, read
    [InlineData("mcp:tools files:read", "write_file", HttpStatusCode.Forbidden)] // never the other way
    [InlineData("mcp:all files:write", "write_file", HttpStatusCode.OK)]         // the server's own scope, implied
    [InlineData("files:write", "write_file", HttpStatusCode.Forbidden)]          // without the server's scope: refused at authentication
    public async Task BroaderScopes_ImplyNarrowerOnes(string granted, string tool, HttpStatusCode expected)
    {
        await using var s = await StartAsync();

        using var response = await SendAsync(s, ToolCall(1, tool), s.Token(granted));

        Assert.Equal(expected, response.StatusCode);
    }

    [Theory]
    [InlineData("split")]
    [InlineData("passthrough")]
    public async Task Batch_IsRefusedAsAWhole_WithTheScopesOfEveryElement(string mode)
    {
        await using var s = await StartAsync(mode);
        var batch = $"[{ToolCall(1, "echo")},{ToolCall(2, "write_file")},{ResourceRead(3, "file:///secret/key")}]";

        using (var refused = await SendAsync(s, batch, s.Token("mcp:tools files:write")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.EndsWith("scope=\"mcp:tools files:write secrets:read\"", refused.Headers.WwwAuthenticate.ToString());
            using var body = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            Assert.Equal(JsonValueKind.Null, body.RootElement.GetProperty("id").ValueKind);
            Assert.Contains("secrets:read", body.RootElement.GetProperty("error").GetProperty("message").GetString());
            Assert.DoesNotContain("files:write", body.RootElement.GetProperty("error").GetProperty("message").GetString()); // held: not missing
        }
        Assert.Empty(s.Upstream.Requests);

        using var allowed = await SendAsync(s, batch, s.Token("mcp:tools files:write secrets:read"));
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        using var answers = JsonDocument.Parse(await allowed.Content.ReadAsStringAsync());
        Assert.Equal([1, 2, 3], answers.RootElement.EnumerateArray().Select(e => e.GetProperty("id").GetInt32()));
    }

    [Fact]
    public async Task Reload_ChangesTheRules()
    {
        await using var s = await StartAsync();
        var token = s.Token("mcp:tools");
        using (var before = await SendAsync(s, ToolCall(1, "write_file"), token))
        {
            Assert.Equal(HttpStatusCode.Forbidden, before.StatusCode);
        }

        await s.Edge.ReloadAsync(new
        {
            Servers = new
            {
                s = Mcp.Server(upstreams: s.Upstream.Url + "/mcp", authentication: new
                {
                    Issuer = s.Issuer.Issuer, Resource, Scopes = new[] { "mcp:tools" }, RequireHttpsMetadata = false,
                }),
            },
        });

        using var after = await SendAsync(s, ToolCall(2, "write_file"), token);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }
}
