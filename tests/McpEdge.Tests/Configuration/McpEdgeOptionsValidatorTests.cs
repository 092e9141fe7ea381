using McpEdge.Configuration;

namespace McpEdge.Tests.Configuration;

public class McpEdgeOptionsValidatorTests
{
    private static IReadOnlyList<string> Validate(McpEdgeOptions options) =>
        McpEdgeOptionsValidator.Validate(options, McpEdgeOptionsValidator.KnownPolicies);

    private static McpEdgeOptions WithServer(string name, McpServerOptions server)
    {
        var options = new McpEdgeOptions();
        options.Servers[name] = server;
        return options;
    }

    [Fact]
    public void Validate_ValidServer_NoErrors()
    {
        Assert.Empty(Validate(WithServer("ok", new McpServerOptions { Upstreams = ["http://127.0.0.1:1/mcp"] })));
    }

    [Theory]
    [InlineData("10.0.3.7", true)]
    [InlineData("10.0.0.0/8", true)]
    [InlineData("fd00::/8", true)]
    [InlineData("::1", true)]
    [InlineData("10", false)] // IPAddress.TryParse alone reads this as 0.0.0.10
    [InlineData("10.0.0.1/8", false)] // bits set past the prefix
    [InlineData("10.0.0.0/33", false)]
    [InlineData("proxy.internal", false)]
    [InlineData("", false)]
    public void Validate_TrustedProxies_AddressesOrCidrNetworks(string entry, bool valid)
    {
        var options = WithServer("s", new McpServerOptions { Upstreams = ["http://127.0.0.1:1/mcp"] });
        options.Security.TrustedProxies.Add(entry);

        var errors = Validate(options);

        if (valid)
        {
            Assert.Empty(errors);
        }
        else
        {
            Assert.Equal($"McpEdge:Security:TrustedProxies:0: '{entry}' is not an IP address or a CIDR network such as 10.0.0.0/8.", Assert.Single(errors));
        }
    }

    [Fact]
    public void Validate_DnsDiscovery_NeedsHostNamesAKnownModeAndASaneInterval()
    {
        var options = new McpEdgeOptions();
        options.Servers["fine"] = new McpServerOptions { Upstreams = ["http://mcp-headless.mcp.svc.cluster.local:3001/mcp"], Discovery = "dns" };
        options.Servers["literal"] = new McpServerOptions { Upstreams = ["http://10.0.0.5:3001/mcp", "http://[fd00::5]:3001/mcp"], Discovery = "Dns" };
        options.Servers["mode"] = new McpServerOptions { Upstreams = ["http://mcp:3001/mcp"], Discovery = "Consul" };
        options.Servers["fast"] = new McpServerOptions { Upstreams = ["http://mcp:3001/mcp"], Discovery = "Dns", DnsRefreshInterval = TimeSpan.FromMilliseconds(100) };
        options.Servers["static"] = new McpServerOptions { Upstreams = ["http://10.0.0.5:3001/mcp"] };

        Assert.Equal(
        [
            "McpEdge:Servers:fast:DnsRefreshInterval: '00:00:00.1000000' must be at least 00:00:01 (default 00:00:05).",
            "McpEdge:Servers:literal:Upstreams:0: 'http://10.0.0.5:3001/mcp' names no host to resolve; with Discovery Dns each URL names a DNS name (a headless Service), or set Discovery to Static.",
            "McpEdge:Servers:literal:Upstreams:1: 'http://[fd00::5]:3001/mcp' names no host to resolve; with Discovery Dns each URL names a DNS name (a headless Service), or set Discovery to Static.",
            "McpEdge:Servers:mode:Discovery: 'Consul' is not a mode; use Static (each URL is a replica) or Dns (each URL's host name resolves to the replicas).",
        ], Validate(options).Order());
    }

    [Fact]
    public void Validate_UpstreamHeaders_NamesTheEdgeDoesNotOwn_OneLineValues_NoClashWithForwardedTokens()
    {
        var options = new McpEdgeOptions();
        options.Servers["fine"] = new McpServerOptions
        {
            Upstreams = ["http://10.0.0.5:3001/mcp"],
            UpstreamHeaders = new(StringComparer.OrdinalIgnoreCase) { ["Authorization"] = "Bearer service-token", ["X-Api-Key"] = "k", ["Cookie"] = "" },
        };
        options.Servers["bad"] = new McpServerOptions
        {
            Upstreams = ["http://10.0.0.6:3001/mcp"],
            UpstreamHeaders = new(StringComparer.OrdinalIgnoreCase) { ["Mcp-Session-Id"] = "x", ["X-Forwarded-For"] = "1.2.3.4", ["Host"] = "h", ["bad header"] = "v", ["X-Two-Lines"] = "a\r\nInjected: 1" },
        };
        options.Servers["authed"] = new McpServerOptions
        {
            Upstreams = ["http://10.0.0.7:3001/mcp"],
            Authentication = new ServerAuthenticationOptions { Issuer = "https://auth.example.com", Resource = "https://mcp.example.com/mcp/authed", PrincipalHeader = "X-User" },
            UpstreamHeaders = new(StringComparer.OrdinalIgnoreCase) { ["Authorization"] = "Bearer service-token", ["X-User"] = "someone" },
        };

        Assert.Equal(
        [
            "McpEdge:Servers:authed:UpstreamHeaders:Authorization: would replace the client's bearer token, which Authentication:ForwardAuthorization (true by default) forwards to the replicas; set ForwardAuthorization to false to send this credential instead.",
            "McpEdge:Servers:authed:UpstreamHeaders:X-User: is the Authentication:PrincipalHeader too; give each its own header.",
            "McpEdge:Servers:bad:UpstreamHeaders: 'bad header' is not a header name (RFC 9110 §5.1 token).",
            "McpEdge:Servers:bad:UpstreamHeaders:Host: the edge sets or relays this header itself; it cannot be given.",
            "McpEdge:Servers:bad:UpstreamHeaders:Mcp-Session-Id: the edge sets or relays this header itself; it cannot be given.",
            "McpEdge:Servers:bad:UpstreamHeaders:X-Forwarded-For: the edge sets or relays this header itself; it cannot be given.",
            "McpEdge:Servers:bad:UpstreamHeaders:X-Two-Lines: the value must be one line (no CR, LF or NUL).",
        ], Validate(options).Order(StringComparer.Ordinal));

        // With ForwardAuthorization off, the edge sends its own credential instead of the client's token.
        options.Servers.Remove("bad");
        options.Servers["authed"] = options.Servers["authed"] with
        {
            Authentication = options.Servers["authed"].Authentication with { ForwardAuthorization = false, PrincipalHeader = null },
        };
        Assert.Empty(Validate(options));
    }

    [Fact]
    public void Validate_SessionKeyCheckInterval_AtLeastOneSecond()
    {
        var options = new McpEdgeOptions { Sessions = new McpSessionOptions { CheckInterval = TimeSpan.FromMilliseconds(500) } };
        options.Servers["s"] = new McpServerOptions { Upstreams = ["http://10.0.0.5:3001/mcp"] };

        Assert.Equal("McpEdge:Sessions:CheckInterval: '00:00:00.5000000' must be at least 1 s, such as 00:00:30.", Assert.Single(Validate(options)));
        Assert.Empty(Validate(options with { Sessions = new McpSessionOptions { CheckInterval = TimeSpan.FromSeconds(1) } }));
    }

    [Fact]
    public void Validate_UpstreamTls_FilesExistPairUpAndNeedAnHttpsReplica()
    {
        var options = new McpEdgeOptions();
        options.Servers["plain"] = new McpServerOptions { Upstreams = ["http://127.0.0.1:1/mcp"], UpstreamTls = new UpstreamTlsOptions { CaFile = "/etc/hosts" } };
        options.Servers["half"] = new McpServerOptions { Upstreams = ["https://127.0.0.1:1/mcp"], UpstreamTls = new UpstreamTlsOptions { CertificateFile = "/etc/hosts" } };
        options.Servers["missing"] = new McpServerOptions { Upstreams = ["https://127.0.0.1:1/mcp"], UpstreamTls = new UpstreamTlsOptions { CaFile = "/no/such/ca.crt" } };
        options.Servers["fine"] = new McpServerOptions { Upstreams = ["https://127.0.0.1:1/mcp"], UpstreamTls = new UpstreamTlsOptions { CaFile = "/etc/hosts" } };

        var errors = Validate(options);

        Assert.Equal(
        [
            "McpEdge:Servers:half:UpstreamTls: CertificateFile and KeyFile go together; set both (the client certificate and its key, PEM) or neither.",
            "McpEdge:Servers:missing:UpstreamTls:CaFile: the file '/no/such/ca.crt' does not exist.",
            "McpEdge:Servers:plain:UpstreamTls: applies to https:// replicas, and this server has none.",
        ], errors.Order());
    }

    [Theory]
    [InlineData("Sometimes", "/etc/hosts", true, "McpEdge:Tls:ClientCertificateMode: 'Sometimes' is not a mode; use one of None, Allow, Require.")]
    [InlineData("Require", null, true, "McpEdge:Tls:ClientCaFile: required with ClientCertificateMode Require: the PEM bundle of the CAs client certificates must chain to.")]
    [InlineData("Allow", "/no/such/ca.crt", true, "McpEdge:Tls:ClientCaFile: the file '/no/such/ca.crt' does not exist.")]
    [InlineData("Require", "/etc/hosts", false, "McpEdge:Tls:ClientCertificateMode: client certificates need the listener's own certificate from McpEdge:Tls (CertificateFile and KeyFile).")]
    [InlineData("None", null, true, "McpEdge:Tls:ClientCrlFile: revocation lists apply to client certificates; set ClientCertificateMode to Allow or Require with a ClientCaFile, or remove ClientCrlFile.", "/etc/hosts")]
    [InlineData("Require", "/etc/hosts", true, "McpEdge:Tls:ClientCrlFile: the file '/no/such.crl' does not exist.", "/no/such.crl")]
    [InlineData("Require", "/etc/hosts", true, "McpEdge:Tls:ClientCrlCheck: 'Intermediates' is not a choice; use Chain (every certificate of the client's chain needs its issuer's CRL) or Leaf (the client certificate only).", "/etc/hosts", "Intermediates")]
    public void Validate_ClientCertificates_NeedAModeACaFileAndTheListenersCertificate(string mode, string? caFile, bool withCertificate, string expected, string? crlFile = null, string crlCheck = "leaf")
    {
        var options = WithServer("s", new McpServerOptions { Upstreams = ["http://127.0.0.1:1/mcp"] }) with
        {
            Tls = new TlsOptions
            {
                CertificateFile = withCertificate ? "/etc/hosts" : null, KeyFile = withCertificate ? "/etc/hosts" : null,
                ClientCertificateMode = mode, ClientCaFile = caFile, ClientCrlFile = crlFile, ClientCrlCheck = crlCheck,
            },
        };

        Assert.Equal([expected], Validate(options));
    }

    [Fact]
    public void Validate_Authentication_NeedsAnIssuerAResourceAndHttpsMetadata()
    {
        static McpServerOptions With(ServerAuthenticationOptions auth) => new() { Upstreams = ["http://127.0.0.1:1/mcp"], Authentication = auth };
        var options = new McpEdgeOptions();
        options.Servers["fine"] = With(new() { Issuer = "https://auth.example.com", Resource = "https://mcp.example.com/mcp/fine", Scopes = ["mcp:tools"] });
        options.Servers["test"] = With(new() { Issuer = "http://127.0.0.1:9000", Resource = "http://127.0.0.1:8080/mcp/test", RequireHttpsMetadata = false });
        options.Servers["noissuer"] = With(new() { Resource = "https://mcp.example.com/mcp/noissuer" });
        options.Servers["noresource"] = With(new() { Issuer = "https://auth.example.com" });
        options.Servers["http"] = With(new() { Issuer = "http://auth.internal", Resource = "https://mcp.example.com/mcp/http" });
        options.Servers["scope"] = With(new() { Issuer = "https://auth.example.com", Resource = "https://mcp.example.com/mcp/scope", Scopes = ["two words"] });
        options.Servers["both"] = With(new() { Issuer = "https://auth.example.com", Resource = "https://mcp.example.com/mcp/both", MetadataAddress = "https://auth.example.com/m", JwksUri = "https://auth.example.com/k" });
        options.Servers["skew"] = With(new() { Issuer = "https://auth.example.com", Resource = "https://mcp.example.com/mcp/skew", ClockSkew = TimeSpan.FromHours(1) });

        var errors = Validate(options);

        Assert.Equal(
        [
            "McpEdge:Servers:both:Authentication:JwksUri: give MetadataAddress or JwksUri, not both.",
            "McpEdge:Servers:http:Authentication:Issuer: 'http://auth.internal' is not an absolute URL without query or fragment (https://, or set RequireHttpsMetadata to false for an http authorization server).",
            "McpEdge:Servers:noissuer:Authentication:Issuer: authentication is on only with an Issuer (the authorization server whose tokens are accepted); set it, or remove the other Authentication settings.",
            "McpEdge:Servers:noresource:Authentication:Resource: required with Issuer: this server's URL as clients see it, e.g. https://mcp.example.com/mcp/github (the tokens' audience, RFC 8707).",
            "McpEdge:Servers:scope:Authentication:Scopes:0: 'two words' is not a scope (printable ASCII without space, '\"' or '\\', RFC 6749 §3.3).",
            "McpEdge:Servers:skew:Authentication:ClockSkew: '01:00:00' must be between 00:00:00 and 00:10:00 (default 00:01:00).",
        ], errors.Order());
    }

    [Fact]
    public void Validate_OperationScopes_NeedScopeTokens_AndEveryRuleAScope()
    {
        static McpServerOptions With(ServerAuthenticationOptions auth) => new() { Upstreams = ["http://127.0.0.1:1/mcp"], Authentication = auth };
        var options = new McpEdgeOptions();
        options.Servers["fine"] = With(new()
        {
            Issuer = "https://auth.example.com", Resource = "https://mcp.example.com/mcp/fine",
            OperationScopes = [new() { Tool = "write_*", Scopes = ["files:write"] }],
            ImpliedScopes = [new() { Scope = "files:admin", Implies = ["files:write"] }],
        });
        options.Servers["bad"] = With(new()
        {
            Issuer = "https://auth.example.com", Resource = "https://mcp.example.com/mcp/bad",
            OperationScopes = [new() { Method = "", Scopes = [] }, new() { Tool = "", Scopes = ["a\"b"] }],
            ImpliedScopes = [new() { Scope = "x y", Implies = [] }],
        });
        options.Servers["off"] = With(new() { OperationScopes = [new() { Scopes = ["files:write"] }] });
        options.Servers["headers"] = With(new()
        {
            Issuer = "https://auth.example.com", Resource = "https://mcp.example.com/mcp/headers", PrincipalHeader = "Authorization", ScopesHeader = "X Scopes",
        });
        options.Servers["same"] = With(new()
        {
            Issuer = "https://auth.example.com", Resource = "https://mcp.example.com/mcp/same", PrincipalHeader = "X-Who", ScopesHeader = "x-who",
        });

        var errors = Validate(options);

        Assert.Equal(
        [
            "McpEdge:Servers:bad:Authentication:ImpliedScopes:0:Implies: name at least one scope that 'x y' implies.",
            "McpEdge:Servers:bad:Authentication:ImpliedScopes:0:Scope: 'x y' is not a scope (printable ASCII without space, '\"' or '\\', RFC 6749 §3.3).",
            "McpEdge:Servers:bad:Authentication:OperationScopes:0:Method: must be a JSON-RPC method or a glob (default tools/call).",
            "McpEdge:Servers:bad:Authentication:OperationScopes:0:Scopes: name at least one scope the operation needs.",
            "McpEdge:Servers:bad:Authentication:OperationScopes:1:Scopes:0: 'a\"b' is not a scope (printable ASCII without space, '\"' or '\\', RFC 6749 §3.3).",
            "McpEdge:Servers:bad:Authentication:OperationScopes:1:Tool: must be a tool, prompt or resource URI, or a glob (default *).",
            "McpEdge:Servers:headers:Authentication:PrincipalHeader: 'Authorization' is a header the edge or HTTP itself uses; choose another, e.g. X-Auth-Principal.",
            "McpEdge:Servers:headers:Authentication:ScopesHeader: 'X Scopes' is not a header name (RFC 9110 §5.1 token).",
            "McpEdge:Servers:off:Authentication:Issuer: authentication is on only with an Issuer (the authorization server whose tokens are accepted); set it, or remove the other Authentication settings.",
            "McpEdge:Servers:same:Authentication:ScopesHeader: 'x-who' is the PrincipalHeader too; give each its own.",
        ], errors.Order());
    }

    [Theory]
    [InlineData("https://auth.example.com", new[] { "https://auth.example.com/.well-known/oauth-authorization-server", "https://auth.example.com/.well-known/openid-configuration" })]
    [InlineData("https://auth.example.com/tenant1", new[] { "https://auth.example.com/.well-known/oauth-authorization-server/tenant1", "https://auth.example.com/.well-known/openid-configuration/tenant1", "https://auth.example.com/tenant1/.well-known/openid-configuration" })]
    public void AuthorizationServerMetadata_IsLookedForInTheMcpDiscoveryOrder(string issuer, string[] expected)
    {
        // MCP 2026-07-28 basic/authorization/authorization-server-discovery.mdx, "Authorization Server Metadata Discovery".
        Assert.Equal(expected, global::McpEdge.Security.AuthorizationServerMetadataRetriever.MetadataCandidates(new ServerAuthenticationOptions { Issuer = issuer }));
    }

    [Fact]
    public void Validate_NoServers_NamesServersSection()
    {
        var error = Assert.Single(Validate(new McpEdgeOptions()));
        Assert.StartsWith("McpEdge:Servers:", error);
    }

    [Theory]
    [InlineData("ftp://host/mcp")]
    [InlineData("not a url")]
    [InlineData("/relative")]
    [InlineData("http://user:pw@host/mcp")]
    public void Validate_BadUpstream_NamesIndexedSetting(string url)
    {
        var error = Assert.Single(Validate(WithServer("s", new McpServerOptions { Upstreams = ["http://127.0.0.1:1/mcp", url] })));
        Assert.StartsWith("McpEdge:Servers:s:Upstreams:1:", error);
    }

    [Theory]
    [InlineData(4095, true)]
    [InlineData(4096, false)]
    [InlineData(1048576, false)]
    [InlineData(1048577, true)]
    public void Validate_RelayBufferBytes_From4KiBTo1MiB(int bytes, bool error)
    {
        var options = WithServer("s", new McpServerOptions { Upstreams = ["http://127.0.0.1:1/mcp"] }) with
        {
            Streaming = new StreamingOptions { RelayBufferBytes = bytes },
        };

        var errors = Validate(options);

        if (error)
        {
            Assert.Equal($"McpEdge:Streaming:RelayBufferBytes: '{bytes}' must be between 4096 and 1048576 bytes (default 16384).", Assert.Single(errors));
        }
        else
        {
            Assert.Empty(errors);
        }
    }

    [Fact]
    public void Validate_EachProblem_OneMessageNamingItsSetting()
    {
        var options = WithServer("bad name", new McpServerOptions
        {
            Path = "mcp/no-slash",
            Transport = "websocket",
            UpstreamHttpVersion = "h2c",
            Upstreams = [],
            LoadBalancingPolicy = "Fastest",
            Timeouts = new TimeoutOptions { Connect = TimeSpan.Zero, Response = TimeSpan.FromSeconds(-1) },
        });
        options.Sessions.Keys.Add("short");
        options.Security.AllowedOrigins.Add("https://app.example.com/path");

        var errors = Validate(options);

        string[] expected =
        [
            "McpEdge:Servers:bad name:",
            "McpEdge:Servers:bad name:Path:",
            "McpEdge:Servers:bad name:Transport:",
            "McpEdge:Servers:bad name:UpstreamHttpVersion:",
            "McpEdge:Servers:bad name:Upstreams:",
            "McpEdge:Servers:bad name:LoadBalancingPolicy:",
            "McpEdge:Servers:bad name:Timeouts:Connect:",
            "McpEdge:Servers:bad name:Timeouts:Response:",
            "McpEdge:Sessions:Keys:0:",
            "McpEdge:Security:AllowedOrigins:0:",
        ];
        Assert.Equal(expected.Length, errors.Count);
        foreach (var prefix in expected)
        {
            Assert.Contains(errors, e => e.StartsWith(prefix, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Validate_DuplicatePathsAndUpstreams_Rejected()
    {
        var options = new McpEdgeOptions();
        options.Servers["a"] = new McpServerOptions { Path = "/mcp/x", Upstreams = ["http://h:1/mcp", "http://H:1/mcp/"] };
        options.Servers["b"] = new McpServerOptions { Path = "/MCP/x", Upstreams = ["http://h:2/mcp"] };

        var errors = Validate(options);

        Assert.Contains(errors, e => e.StartsWith("McpEdge:Servers:a:Upstreams:1:", StringComparison.Ordinal) && e.Contains("twice"));
        Assert.Contains(errors, e => e.StartsWith("McpEdge:Servers:b:Path:", StringComparison.Ordinal) && e.Contains("already"));
    }

    [Fact]
    public void Validate_ReservedPath_Rejected()
    {
        var error = Assert.Single(Validate(WithServer("m", new McpServerOptions { Path = "/metrics", Upstreams = ["http://h/mcp"] })));
        Assert.Contains("reserved", error);
    }

    [Fact]
    public void Validate_BalancingAndHealthSettings_NameEachBadSetting()
    {
        var errors = Validate(WithServer("s", new McpServerOptions
        {
            Upstreams = ["http://127.0.0.1:1/mcp"],
            LoadBalancingPolicy = "ConsistentHash",
            LoadBalancing = new LoadBalancingOptions { HashKey = "cookie:sid", LoadFactor = 0.5, VirtualNodes = 0, LatencyHalfLife = TimeSpan.Zero },
            HealthCheck = new McpHealthCheckOptions
            {
                Active = new ActiveProbeOptions { Probe = "http", Path = null, Interval = TimeSpan.Zero, UnhealthyThreshold = 0 },
                Passive = new PassiveHealthOptions { ConsecutiveFailures = 0 },
            },
        }));
        string[] expected =
        [
            "McpEdge:Servers:s:LoadBalancing:HashKey:", "McpEdge:Servers:s:LoadBalancing:LoadFactor:", "McpEdge:Servers:s:LoadBalancing:VirtualNodes:",
            "McpEdge:Servers:s:LoadBalancing:LatencyHalfLife:", "McpEdge:Servers:s:HealthCheck:Active:Path:", "McpEdge:Servers:s:HealthCheck:Active:Interval:",
            "McpEdge:Servers:s:HealthCheck:Active:UnhealthyThreshold:", "McpEdge:Servers:s:HealthCheck:Passive:ConsecutiveFailures:",
        ];
        Assert.Equal(expected.Length, errors.Count);
        Assert.All(expected, prefix => Assert.Contains(errors, e => e.StartsWith(prefix, StringComparison.Ordinal)));
    }

    [Fact]
    public void Validate_Introspection_NeedsASecret_AndAnEndpointWithoutMetadata()
    {
        static McpServerOptions With(ServerAuthenticationOptions auth) => new() { Upstreams = ["http://127.0.0.1:1/mcp"], Authentication = auth };
        const string issuer = "https://auth.example.com";
        var options = new McpEdgeOptions();
        options.Servers["fine"] = With(new() { Issuer = issuer, Resource = "https://mcp.example.com/mcp/fine", Introspection = new() { ClientId = "edge", ClientSecret = "s" } });
        options.Servers["nosecret"] = With(new() { Issuer = issuer, Resource = "https://mcp.example.com/mcp/nosecret", Introspection = new() { ClientId = "edge" } });
        options.Servers["jwks"] = With(new() { Issuer = issuer, Resource = "https://mcp.example.com/mcp/jwks", JwksUri = issuer + "/jwks", Introspection = new() { ClientId = "edge", ClientSecret = "s" } });
        options.Servers["http"] = With(new() { Issuer = issuer, Resource = "https://mcp.example.com/mcp/http", Introspection = new() { ClientId = "edge", ClientSecret = "s", Endpoint = "http://auth.example.com/introspect" } });
        options.Servers["noid"] = With(new() { Issuer = issuer, Resource = "https://mcp.example.com/mcp/noid", Introspection = new() { ClientSecret = "s" } });
        options.Servers["zero"] = With(new() { Issuer = issuer, Resource = "https://mcp.example.com/mcp/zero", Introspection = new() { ClientId = "edge", ClientSecret = "s", MaxConcurrent = 0 } });

        var errors = Validate(options);

        Assert.Equal(
        [
            "McpEdge:Servers:http:Authentication:Introspection:Endpoint: 'http://auth.example.com/introspect' is not an absolute URL (https://, or set RequireHttpsMetadata to false for an http authorization server).",
            "McpEdge:Servers:jwks:Authentication:Introspection:Endpoint: required with JwksUri (without metadata there is no introspection_endpoint to read).",
            "McpEdge:Servers:noid:Authentication:Introspection:ClientId: introspection is on only with a ClientId; set it, or remove the other Introspection settings.",
            "McpEdge:Servers:nosecret:Authentication:Introspection:ClientSecret: required with ClientId (the edge authenticates to the introspection endpoint with HTTP Basic, RFC 7662 §2.1); or set ClientAuthentication to private_key_jwt with a PrivateKeyFile.",
            "McpEdge:Servers:zero:Authentication:Introspection:MaxConcurrent: 0 must be at least 1.",
        ], errors.Order());
    }

    [Fact]
    public void Validate_ProbeHeaders_AreFieldNamesTheProbeDoesNotSetItself_WithOneLineValues()
    {
        var errors = Validate(WithServer("s", new McpServerOptions
        {
            Upstreams = ["http://127.0.0.1:1/mcp"],
            HealthCheck = new McpHealthCheckOptions
            {
                Active = new ActiveProbeOptions
                {
                    Headers = new(StringComparer.OrdinalIgnoreCase)
                    {
                        ["Authorization"] = "Bearer fine", ["X-Api-Key"] = "fine", ["bad name"] = "x", ["mcp-session-id"] = "x", ["X-Split"] = "a\r\nInjected: 1",
                    },
                },
            },
        }));

        Assert.Equal(
        [
            "McpEdge:Servers:s:HealthCheck:Active:Headers: 'bad name' is not a header name (RFC 9110 §5.1 token).",
            "McpEdge:Servers:s:HealthCheck:Active:Headers:mcp-session-id: the probe sets this header itself.",
            "McpEdge:Servers:s:HealthCheck:Active:Headers:X-Split: the value must be one line (no CR, LF or NUL).",
        ], errors.Order());
    }

    [Fact]
    public void Validate_ExposureFilters_NeedGlobs_AndStreamableHttp()
    {
        var options = new McpEdgeOptions();
        options.Servers["fine"] = new()
        {
            Upstreams = ["http://127.0.0.1:1/mcp"], Tools = new() { Allow = ["search_*"], Deny = ["search_admin"] },
            Prompts = new() { Deny = ["admin_*"] }, Resources = new() { Allow = ["file:///public/*"] },
        };
        options.Servers["empty"] = new()
        {
            Upstreams = ["http://127.0.0.1:2/mcp"], Tools = new() { Deny = [""] }, Prompts = new() { Allow = ["a", ""] }, Resources = new() { Deny = [""] },
        };
        options.Servers["legacy"] = new() { Upstreams = ["http://127.0.0.1:3/sse"], Transport = "sse", Tools = new() { Deny = ["x"] }, Resources = new() { Deny = ["x"] } };

        var errors = Validate(options);

        Assert.Equal(
        [
            "McpEdge:Servers:empty:Prompts:Allow:1: a prompt name or glob must not be empty.",
            "McpEdge:Servers:empty:Resources:Deny:0: a resource URI or glob must not be empty.",
            "McpEdge:Servers:empty:Tools:Deny:0: a tool name or glob must not be empty.",
            "McpEdge:Servers:legacy:Resources: resources are filtered for the streamable-http transport only (an HTTP+SSE server answers lists on its event stream).",
            "McpEdge:Servers:legacy:Tools: tools are filtered for the streamable-http transport only (an HTTP+SSE server answers lists on its event stream).",
        ], errors.Order());
    }

    [Fact]
    public void Validate_UnknownProbe_ListsTheKnownOnes()
    {
        var error = Assert.Single(Validate(WithServer("s", new McpServerOptions
        {
            Upstreams = ["http://127.0.0.1:1/mcp"],
            HealthCheck = new McpHealthCheckOptions { Active = new ActiveProbeOptions { Probe = "tcp" } },
        })));
        Assert.StartsWith("McpEdge:Servers:s:HealthCheck:Active:Probe: 'tcp'", error);
        Assert.Contains("discover", error);
    }
}
