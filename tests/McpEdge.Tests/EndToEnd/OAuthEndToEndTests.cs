using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using ModelContextProtocol.Authentication;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpEdge.Tests.EndToEnd;

/// <summary>
/// The MCP authorization flow of the official C# SDK client (ModelContextProtocol.Core 2.3.1), with
/// nothing configured but a client id, against the edge in front of the bundled sample server: the
/// edge's 401 challenge → its Protected Resource Metadata → the authorization server's RFC 8414
/// metadata → authorization code with PKCE and the resource indicator → token → the MCP calls.
/// </summary>
public class OAuthEndToEndTests
{
    private const string Scope = "mcp:tools";
    private const string ClientId = "edge-e2e";
    private static readonly Uri RedirectUri = new("http://127.0.0.1:1/callback");

    /// <summary>With <paramref name="opaque"/>, the authorization server issues opaque tokens and the edge introspects them (RFC 7662).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task OfficialClient_DiscoversAndAuthorizesThroughTheEdge_ThenCallsTools(bool opaque)
    {
        await using var issuer = await TestAuthorizationServer.StartAsync();
        var flow = new AuthorizationCodeFlow(issuer) { Opaque = opaque };
        await using var sample = await TestSampleServer.StartAsync();
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: sample.Url) } });
        var endpoint = await ProtectAsync(edge, sample, resource => new
        {
            Issuer = issuer.Issuer, Resource = resource, Scopes = new[] { Scope }, RequireHttpsMetadata = false,
            Introspection = opaque ? new { ClientId = issuer.IntrospectionClient.Id, ClientSecret = issuer.IntrospectionClient.Secret } : null,
        });
        await using var client = await ConnectAsync(endpoint, flow);

        var tools = await client.ListToolsAsync();
        var echo = await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = "through the edge" });

        Assert.Equal(opaque ? 1 : 0, issuer.Introspections); // one introspection, then the remembered answer
        Assert.NotEmpty(tools);
        Assert.Contains("through the edge", Assert.IsType<TextContentBlock>(echo.Content.Single()).Text);
        // One authorization, for this server (RFC 8707 resource) and the scope the challenge named.
        var grant = Assert.Single(flow.Grants);
        Assert.Equal(endpoint.ToString(), grant.Resource);
        Assert.Equal(Scope, grant.Scope);
    }

    /// <summary>
    /// Step-up authorization (MCP 2026-07-28 basic/authorization/index.mdx, "Step-Up Authorization
    /// Flow"): the client authorizes with the server's scope, lists tools and calls <c>echo</c>; its
    /// call to <c>add</c>, which needs <c>math:add</c>, gets the edge's 403 <c>insufficient_scope</c>
    /// challenge; the client authorizes again for every scope the challenge names and the retried
    /// call goes through, without the application seeing the refusal.
    /// </summary>
    [Fact]
    public async Task OfficialClient_StepsUpOnTheEdgesScopeChallenge_ForAToolThatNeedsMore()
    {
        await using var issuer = await TestAuthorizationServer.StartAsync();
        var flow = new AuthorizationCodeFlow(issuer);
        await using var sample = await TestSampleServer.StartAsync();
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: sample.Url) } });
        var endpoint = await ProtectAsync(edge, sample, resource => new
        {
            Issuer = issuer.Issuer, Resource = resource, Scopes = new[] { Scope }, RequireHttpsMetadata = false,
            OperationScopes = new[] { new { Tool = "add", Scopes = new[] { "math:add" } } },
        });
        await using var client = await ConnectAsync(endpoint, flow);

        await client.ListToolsAsync();
        await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = "basic scope" });
        Assert.Single(flow.Grants);
        var sum = await client.CallToolAsync("add", new Dictionary<string, object?> { ["a"] = 2, ["b"] = 3 });

        Assert.Equal("5", Assert.IsType<TextContentBlock>(sum.Content.Single()).Text);
        var grants = flow.Grants.ToArray();
        Assert.Equal(2, grants.Length);
        Assert.Equal(Scope, grants[0].Scope);
        Assert.Equal(["math:add", Scope], grants[1].Scope.Split(' ').Order(StringComparer.Ordinal)); // the union: nothing granted before is lost
        Assert.All(grants, grant => Assert.Equal(endpoint.ToString(), grant.Resource));
    }

    /// <summary>
    /// Turns authentication on for server <c>s</c> by a reload: the resource is the URL clients use,
    /// which holds the edge's ephemeral port. Returns that URL.
    /// </summary>
    private static async Task<Uri> ProtectAsync(TestEdge edge, TestSampleServer sample, Func<string, object> authentication)
    {
        var endpoint = new Uri(edge.BaseAddress, "mcp/s");
        var applied = edge.NextConfigApplied();
        await edge.WriteConfigAsync(new { Servers = new { s = Mcp.Server(upstreams: sample.Url, authentication: authentication(endpoint.ToString())) } });
        await applied;
        return endpoint;
    }

    /// <summary>The official client, given only a client id and the authorization step of <paramref name="flow"/>.</summary>
    private static async Task<McpClient> ConnectAsync(Uri endpoint, AuthorizationCodeFlow flow)
    {
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = endpoint,
            TransportMode = HttpTransportMode.StreamableHttp,
            OAuth = new ClientOAuthOptions { ClientId = ClientId, RedirectUri = RedirectUri, AuthorizationCallbackHandler = flow.AuthorizeAsync },
        });
        return await McpClient.CreateAsync(transport, new McpClientOptions { ClientInfo = new Implementation { Name = "oauth-e2e", Version = "1.0.0" } });
    }

    /// <summary>An authorization endpoint that approves at once and a token endpoint that checks PKCE (S256) and the resource.</summary>
    private sealed class AuthorizationCodeFlow
    {
        private readonly ConcurrentDictionary<string, Grant> _codes = new();
        private readonly TestAuthorizationServer _issuer;

        public AuthorizationCodeFlow(TestAuthorizationServer issuer)
        {
            _issuer = issuer;
            issuer.Endpoints["/authorize"] = Authorize;
            issuer.Endpoints["/token"] = Token;
        }

        public sealed record Grant(string Challenge, string Resource, string Scope, string RedirectUri);

        /// <summary>Issue opaque access tokens (for introspection) instead of JWTs.</summary>
        public bool Opaque { get; init; }

        public ConcurrentQueue<Grant> Grants { get; } = new();

        /// <summary>The client's browser step: follow the authorization URL to its redirect and hand back code, state and iss.</summary>
        public async Task<AuthorizationResult?> AuthorizeAsync(AuthorizationCallbackContext context, CancellationToken cancellationToken)
        {
            using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
            using var response = await browser.GetAsync(context.AuthorizationUri, cancellationToken);
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            var query = QueryHelpers.ParseQuery(response.Headers.Location!.Query);
            return new AuthorizationResult { Code = query["code"], State = query["state"] };
        }

        private Task Authorize(HttpContext context, string body)
        {
            var q = context.Request.Query;
            Assert.Equal("code", q["response_type"]);
            Assert.Equal("S256", q["code_challenge_method"]);
            Assert.Equal(ClientId, q["client_id"]);
            var grant = new Grant(q["code_challenge"]!, q["resource"]!, q["scope"]!, q["redirect_uri"]!);
            var code = Guid.NewGuid().ToString("N");
            _codes[code] = grant;
            context.Response.Redirect(QueryHelpers.AddQueryString(grant.RedirectUri, new Dictionary<string, string?> { ["code"] = code, ["state"] = q["state"] }));
            return Task.CompletedTask;
        }

        private Task Token(HttpContext context, string body)
        {
            var form = QueryHelpers.ParseQuery(body);
            Assert.Equal("authorization_code", form["grant_type"]);
            Assert.True(_codes.TryRemove(form["code"]!, out var grant)); // a code is used once
            var verifier = Encoding.ASCII.GetBytes(form["code_verifier"]!);
            Assert.Equal(grant.Challenge, Base64UrlTextEncoder.Encode(SHA256.HashData(verifier)));
            Assert.Equal(grant.Resource, form["resource"]);
            Grants.Enqueue(grant);
            return context.Response.WriteAsJsonAsync(new
            {
                access_token = Opaque ? _issuer.IssueOpaque(grant.Resource, subject: "alice", scope: grant.Scope) : _issuer.Issue(grant.Resource, subject: "alice", scope: grant.Scope),
                token_type = "Bearer",
                expires_in = 3600,
                scope = grant.Scope,
            });
        }
    }
}
