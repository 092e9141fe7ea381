using System.Net;
using System.Security.Claims;
using System.Text;
using McpEdge.Configuration;
using McpEdge.Protocol;
using McpEdge.RateLimiting;
using Microsoft.AspNetCore.Http;

namespace McpEdge.Tests.RateLimiting;

public class RateLimitRuleTests
{
    private static JsonRpcMessageFeature Message(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        Assert.Equal(JsonRpcParseStatus.Ok, JsonRpcEnvelope.Parse(body, 64, out var envelope, out _));
        return new JsonRpcMessageFeature(body, body.Length, envelope);
    }

    private static JsonRpcMessageFeature Call(string tool) => Message("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":""" + "\"" + tool + "\"}}");

    private static HttpContext Client(string ip, string? user = null, string? apiKey = null)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(ip);
        if (user is not null)
        {
            context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user)], "test"));
        }
        if (apiKey is not null)
        {
            context.Request.Headers["X-Api-Key-Id"] = apiKey;
        }
        context.Request.Headers[McpHeaders.SessionId] = Guid.NewGuid().ToString();
        return context;
    }

    [Fact]
    public void Client_IsPrincipal_ElseHeader_ElseIp_NeverSession()
    {
        var rule = new RateLimitRule(new RateLimitRuleOptions { Name = "r", ClientHeader = "X-Api-Key-Id" });

        Assert.Equal("user:alice", rule.ClientOf(Client("10.0.0.1", user: "alice", apiKey: "k1")));
        Assert.Equal("key:k1", rule.ClientOf(Client("10.0.0.1", apiKey: "k1")));
        Assert.Equal("ip:10.0.0.1", rule.ClientOf(Client("10.0.0.1")));
        // Two sessions of one client share its partition.
        Assert.Equal(rule.ClientOf(Client("10.0.0.2")), rule.ClientOf(Client("10.0.0.2")));
    }

    [Fact]
    public void Partitions_AreIndependent_PerClient()
    {
        var rule = new RateLimitRule(new RateLimitRuleOptions { Name = "r", Limiter = "FixedWindow", PermitLimit = 2, Window = TimeSpan.FromHours(1) });

        Assert.True(rule.Limiter.AttemptAcquire("ip:a").IsAcquired);
        Assert.True(rule.Limiter.AttemptAcquire("ip:a").IsAcquired);
        Assert.False(rule.Limiter.AttemptAcquire("ip:a").IsAcquired);
        Assert.True(rule.Limiter.AttemptAcquire("ip:b").IsAcquired);
    }

    [Theory]
    [InlineData("TokenBucket")]
    [InlineData("SlidingWindow")]
    [InlineData("FixedWindow")]
    [InlineData("Concurrency")]
    public void EveryLimiterKind_RefusesPastItsLimit(string kind)
    {
        var rule = new RateLimitRule(new RateLimitRuleOptions { Name = "r", Limiter = kind, PermitLimit = 3, Window = TimeSpan.FromHours(1) });

        var leases = Enumerable.Range(0, 3).Select(_ => rule.Limiter.AttemptAcquire("c")).ToList();

        Assert.All(leases, l => Assert.True(l.IsAcquired));
        Assert.False(rule.Limiter.AttemptAcquire("c").IsAcquired);
    }

    [Theory]
    [InlineData("*", "*", "*", "github", true)]
    [InlineData("git*", "tools/call", "search_*", "github", true)]
    [InlineData("gitlab", "tools/call", "search_*", "github", false)]
    [InlineData("*", "tools/list", "*", "github", false)]
    [InlineData("*", "tools/*", "search_?ode", "github", true)]
    [InlineData("*", "*", "Search_*", "github", false)] // names are case-sensitive
    public void Globs_MatchServerMethodTool(string server, string method, string tool, string actualServer, bool expected)
    {
        var rule = new RateLimitRule(new RateLimitRuleOptions { Name = "r", Server = server, Method = method, Tool = tool });

        Assert.Equal(expected, rule.Matches(actualServer, Call("search_code")));
    }

    [Fact]
    public void ToolGlob_DoesNotMatchMessagesWithoutName_StarDoes()
    {
        var list = Message("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""");

        Assert.False(new RateLimitRule(new RateLimitRuleOptions { Name = "r", Tool = "a*" }).Matches("s", list));
        Assert.True(new RateLimitRule(new RateLimitRuleOptions { Name = "r" }).Matches("s", list));
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}""", true)]
    [InlineData("""{"jsonrpc":"2.0","id":3,"method":"ping"}""", true)]
    [InlineData("""{"jsonrpc":"2.0","id":"srv-1","result":{}}""", true)]
    [InlineData("""{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}}""", false)]
    [InlineData("""{"jsonrpc":"2.0","method":"notifications/initialized"}""", false)]
    public void Exemptions_CancelledPingAndResponses(string json, bool exempt)
    {
        Assert.Equal(exempt, RateLimitMiddleware.IsExempt(Message(json)));
    }
}
