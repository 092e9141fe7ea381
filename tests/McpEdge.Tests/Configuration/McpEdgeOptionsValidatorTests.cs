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
