using System.Text.Json;
using System.Text.RegularExpressions;
using McpEdge.Tests.EndToEnd;
using McpEdge.Tests.Infrastructure;
using Xunit.Abstractions;

namespace McpEdge.Tests.Deployment;

/// <summary>The Dockerfile and the Helm chart, checked without Docker, helm or a cluster (see <see cref="ChartCheck"/>).</summary>
public class DeploymentTests(ITestOutputHelper output)
{
    private static string Dockerfile => Path.Combine(ChartCheck.Root, "Dockerfile");

    [Fact]
    public async Task Dockerfile_PassesDockerfilelintAndDockerfileUtils()
    {
        var bin = Path.Combine(ChartCheck.DeployDirectory, "node_modules", ".bin");
        var (lintExit, lint) = await Tool.RunAsync(Path.Combine(bin, "dockerfilelint"), [Dockerfile]);
        Assert.True(lintExit == 0, "dockerfilelint: " + lint);
        var (utilsExit, utils) = await Tool.RunAsync(Path.Combine(bin, "dockerfile-utils"), ["lint", Dockerfile]);
        Assert.True(utilsExit == 0 && utils.Trim().Length == 0, "dockerfile-utils lint: " + utils);
    }

    [Fact]
    public async Task Dockerfile_BuildsInStages_RestoresLikeTheBuild_RunsAsNonRoot_On8080_AndStopsWithSigterm()
    {
        var lines = (await File.ReadAllLinesAsync(Dockerfile)).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        var stages = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith("FROM ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(2, stages.Length);
        Assert.Matches(@"^FROM mcr\.microsoft\.com/dotnet/sdk:\S+ AS build$", stages[0].l);
        Assert.Matches(@"^FROM mcr\.microsoft\.com/dotnet/aspnet:\S+ AS runtime$", stages[1].l);
        var build = lines[stages[0].i..stages[1].i];
        var runtime = lines[stages[1].i..];

        // YARP comes from Directory.Build.targets (PackageDownload), copied before the restore.
        var copyTargets = Array.FindIndex(build, l => l.Contains("Directory.Build.targets", StringComparison.Ordinal) && l.StartsWith("COPY", StringComparison.Ordinal));
        var restore = Array.FindIndex(build, l => l.StartsWith("RUN dotnet restore", StringComparison.Ordinal));
        Assert.InRange(copyTargets, 0, restore - 1);
        Assert.Contains(build, l => l.StartsWith("RUN dotnet publish", StringComparison.Ordinal) && l.Contains("--no-restore", StringComparison.Ordinal));

        var user = Assert.Single(runtime, l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.DoesNotMatch(@"^USER\s+(root|0)(:|$)", user);
        Assert.Contains("EXPOSE 8080 9090", runtime); // 9090: the admin listener, off unless McpEdge__Admin__Url is set
        Assert.Contains("STOPSIGNAL SIGTERM", runtime);
        Assert.Contains(runtime, l => l.Contains("ASPNETCORE_URLS=http://+:8080", StringComparison.Ordinal));
        Assert.Contains(runtime, l => l.Contains("MCPEDGE_CONFIG=/etc/mcpedge/mcpedge.json", StringComparison.Ordinal));
        Assert.Equal("""ENTRYPOINT ["dotnet", "McpEdge.dll"]""", runtime[^1]);
    }

    [Fact]
    public async Task Chart_Defaults_RenderValidateLintAndStartAnEdge()
    {
        var result = await ChartCheck.RunAsync();
        output.WriteLine(result.Output);
        Assert.True(result.FailedStage is null, $"{result.FailedStage}: {result.Output}");

        foreach (var kind in new[] { "Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceAccount" })
        {
            Assert.Contains($"\nkind: {kind}\n", result.Manifest);
        }
        Assert.DoesNotContain("kind: ServiceMonitor", result.Manifest);
        // Liveness, readiness and start-up on the admin listener, a container port of its own and not the Service's.
        Assert.Equal(3, Regex.Matches(result.Manifest, @"httpGet:\n\s+path: /(healthz|readyz)\n\s+port: admin\n").Count);
        Assert.Contains("- name: admin\n              containerPort: 9090", result.Manifest);
        Assert.DoesNotContain("port: 9090", result.Manifest);
        Assert.Contains("readOnlyRootFilesystem: true", result.Manifest);
        Assert.Contains("runAsNonRoot: true", result.Manifest);
        // preStop (5 s) + drain (25 s) + 5 s of margin; the drain is the edge's ShutdownGracePeriod.
        Assert.Contains("terminationGracePeriodSeconds: 35", result.Manifest);
        // threadPoolSpin: false (values.yaml): workers sleep when out of work instead of spinning.
        Assert.Contains("- name: DOTNET_ThreadPool_UnfairSemaphoreSpinLimit\n              value: \"0\"", result.Manifest);
        // Changed session keys reach the pods in place (Sessions:KeyFile is reloaded): no checksum that would roll them.
        Assert.DoesNotContain("checksum/", result.Manifest);
        using var config = JsonDocument.Parse(await File.ReadAllTextAsync(result.ConfigFile));
        var edge = config.RootElement.GetProperty("McpEdge");
        Assert.Equal("00:00:25", edge.GetProperty("Streaming").GetProperty("ShutdownGracePeriod").GetString());
        Assert.Equal("/etc/mcpedge/session-keys/keys", edge.GetProperty("Sessions").GetProperty("KeyFile").GetString());
        Assert.Contains("edge-mcpedge.mcp.svc.cluster.local", edge.GetProperty("Security").GetProperty("AllowedHosts").EnumerateArray().Select(h => h.GetString()));
        Assert.Equal("json", config.RootElement.GetProperty("Logging").GetProperty("Format").GetString());
        Assert.Equal("http://+:9090", edge.GetProperty("Admin").GetProperty("Url").GetString());
    }

    [Fact]
    public async Task Chart_WithMonitoringAndAnExistingSecret_IsValid_AndItsAlertRulesPassPromtool()
    {
        var result = await ChartCheck.RunAsync("""
            autoscaling: { enabled: false }
            replicaCount: 3
            threadPoolSpin: true
            podAnnotations: { team: edge }
            extraEnv:
              - name: McpEdge__Servers__github__UpstreamHeaders__Authorization
                valueFrom: { secretKeyRef: { name: github-mcp-token, key: header } }
            sessionKeys: { existingSecret: mcpedge-keys }
            metrics:
              serviceMonitor: { enabled: true, labels: { release: prometheus } }
              prometheusRule: { enabled: true, upstreamErrorRatio: 0.1 }
            drain: { gracePeriodSeconds: 90, preStopSeconds: 10 }
            servers:
              github:
                Upstreams: [ "http://github-mcp.mcp:3001/mcp", "http://github-mcp-2.mcp:3001/mcp" ]
                LoadBalancingPolicy: ConsistentHash
                LoadBalancing: { HashKey: "header:X-Tenant-Id" }
                UpstreamHeaders: { Cookie: "" }
              legacy:
                Transport: sse
                Upstreams: [ "http://legacy-mcp.mcp:3001/sse" ]
            """);
        Assert.True(result.FailedStage is null, $"{result.FailedStage}: {result.Output}");
        Assert.Contains("kind: ServiceMonitor", result.Manifest);
        // Prometheus scrapes the admin port, through a Service that carries only that port and that only the monitor selects.
        Assert.Matches(@"name: edge-mcpedge-admin\n(.*\n)+?\s+app.kubernetes.io/component: admin\n", result.Manifest);
        Assert.Matches(@"- name: admin\n\s+port: 9090\n\s+targetPort: admin", result.Manifest);
        Assert.Matches(@"endpoints:\n\s+- port: admin\n\s+path: /metrics\n\s+interval: 30s", result.Manifest);
        Assert.Contains("kind: PrometheusRule", result.Manifest);
        Assert.DoesNotContain("kind: Secret", result.Manifest);
        Assert.DoesNotContain("kind: HorizontalPodAutoscaler", result.Manifest);
        Assert.Contains("replicas: 3", result.Manifest);
        Assert.DoesNotContain("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit", result.Manifest);
        Assert.Contains("secretName: mcpedge-keys", result.Manifest);
        Assert.Matches(@"template:\n\s+metadata:\n(.*\n)*?\s+annotations:\n\s+team: edge\n", result.Manifest);
        Assert.Matches(@"- name: McpEdge__Servers__github__UpstreamHeaders__Authorization\n\s+valueFrom:\n\s+secretKeyRef:\n", result.Manifest);
        Assert.Contains("terminationGracePeriodSeconds: 105", result.Manifest);
        Assert.Contains("\"ShutdownGracePeriod\": \"00:01:30\"", await File.ReadAllTextAsync(result.ConfigFile));
        Assert.Single(Directory.GetFiles(result.Directory, "*.rules.yaml"));
    }

    [Fact]
    public async Task Chart_WithATlsSecret_ListensOnHttps_ProbesAndScrapesTheAdminPort_MountsTheSecret_AndTheEdgeLoadsThePair()
    {
        var result = await ChartCheck.RunAsync("""
            tls: { secretName: edge-tls }
            service: { port: 443 }
            admin: { port: 9901 }
            metrics:
              serviceMonitor: { enabled: true }
            """);
        Assert.True(result.FailedStage is null, $"{result.FailedStage}: {result.Output}");
        Assert.Contains("- name: ASPNETCORE_URLS\n              value: \"https://+:8443\"", result.Manifest);
        Assert.Contains("- name: https\n              containerPort: 8443", result.Manifest);
        Assert.DoesNotContain("containerPort: 8080", result.Manifest);
        // liveness, readiness and start-up probes in plain HTTP on the admin port
        Assert.Equal(3, Regex.Matches(result.Manifest, @"httpGet:\n\s+path: /(healthz|readyz)\n\s+port: admin\n").Count);
        Assert.DoesNotContain("scheme: HTTPS", result.Manifest);
        Assert.Contains("- name: admin\n              containerPort: 9901", result.Manifest);
        Assert.Contains("secretName: edge-tls", result.Manifest);
        Assert.Contains("mountPath: /etc/mcpedge/tls", result.Manifest);
        Assert.Contains("targetPort: https", result.Manifest);
        Assert.Matches(@"- port: admin\n\s+path: /metrics\n\s+interval", result.Manifest);
        var tls = await RenderedTlsAsync(result);
        Assert.Equal("/etc/mcpedge/tls/tls.crt", tls.GetProperty("CertificateFile").GetString());
        Assert.Equal("/etc/mcpedge/tls/tls.key", tls.GetProperty("KeyFile").GetString());
    }

    [Fact]
    public async Task Chart_RequiringClientCertificates_MountsTheCa_ConfiguresTheEdge_AndProbesTheAdminPort()
    {
        var result = await ChartCheck.RunAsync("""
            tls: { secretName: edge-tls, clientCertificates: { mode: Require, caSecretName: agents-ca } }
            """);

        Assert.True(result.FailedStage is null, $"{result.FailedStage}: {result.Output}");
        Assert.Matches(@"- name: client-ca\n\s+mountPath: /etc/mcpedge/client-ca\n\s+readOnly: true", result.Manifest);
        Assert.Matches(@"- name: client-ca\n\s+secret:\n\s+secretName: agents-ca", result.Manifest);
        // Kubelet presents no client certificate: liveness, readiness and start-up ask the admin listener, which wants none.
        Assert.Equal(3, Regex.Matches(result.Manifest, @"httpGet:\n\s+path: /(healthz|readyz)\n\s+port: admin\n").Count);
        Assert.DoesNotContain("tcpSocket", result.Manifest);
        var tls = await RenderedTlsAsync(result);
        Assert.Equal("Require", tls.GetProperty("ClientCertificateMode").GetString());
        Assert.Equal("/etc/mcpedge/client-ca/ca.crt", tls.GetProperty("ClientCaFile").GetString());
        Assert.False(tls.TryGetProperty("ClientCrlFile", out _));
        Assert.DoesNotContain("client-crl", result.Manifest);
    }

    [Fact]
    public async Task Chart_WithClientCrls_MountsTheirSecret_AndConfiguresTheRevocationCheck()
    {
        var result = await ChartCheck.RunAsync("""
            tls: { secretName: edge-tls, clientCertificates: { mode: Require, caSecretName: agents-ca, crlSecretName: agents-crl, crlCheck: Leaf } }
            """);

        Assert.True(result.FailedStage is null, $"{result.FailedStage}: {result.Output}");
        Assert.Matches(@"- name: client-crl\n\s+mountPath: /etc/mcpedge/client-crl\n\s+readOnly: true", result.Manifest);
        Assert.Matches(@"- name: client-crl\n\s+secret:\n\s+secretName: agents-crl", result.Manifest);
        var tls = await RenderedTlsAsync(result);
        Assert.Equal("/etc/mcpedge/client-crl/crl.pem", tls.GetProperty("ClientCrlFile").GetString());
        Assert.Equal("Leaf", tls.GetProperty("ClientCrlCheck").GetString());
    }

    /// <summary>The <c>McpEdge:Tls</c> section of the edge configuration the chart rendered.</summary>
    private static async Task<JsonElement> RenderedTlsAsync(ChartCheck.Result result)
    {
        using var config = JsonDocument.Parse(await File.ReadAllTextAsync(result.ConfigFile));
        return config.RootElement.GetProperty("McpEdge").GetProperty("Tls").Clone();
    }

    [Fact]
    public async Task Chart_WithAnUpstreamTlsSecret_MountsItReadOnly_ForTheServersToReference()
    {
        var result = await ChartCheck.RunAsync("upstreamTls: { secretName: replicas-tls }");

        Assert.True(result.FailedStage is null, $"{result.FailedStage}: {result.Output}");
        Assert.Matches(@"- name: upstream-tls\n\s+mountPath: /etc/mcpedge/upstream-tls\n\s+readOnly: true", result.Manifest);
        Assert.Matches(@"- name: upstream-tls\n\s+secret:\n\s+secretName: replicas-tls", result.Manifest);
        Assert.DoesNotContain("mountPath: /etc/mcpedge/tls\n", result.Manifest); // the listener stays plain
    }

    [Fact]
    public async Task Chart_WithExtraVolumes_MountsThemForTheFilesTheConfigurationNames()
    {
        var result = await ChartCheck.RunAsync("""
            extraVolumes: [ { name: introspection-key, secret: { secretName: mcpedge-introspection } } ]
            extraVolumeMounts: [ { name: introspection-key, mountPath: /etc/mcpedge/introspection, readOnly: true } ]
            """);

        Assert.True(result.FailedStage is null, $"{result.FailedStage}: {result.Output}");
        Assert.Matches(@"- mountPath: /etc/mcpedge/introspection\n\s+name: introspection-key\n\s+readOnly: true", result.Manifest);
        Assert.Matches(@"- name: introspection-key\n\s+secret:\n\s+secretName: mcpedge-introspection", result.Manifest);
    }

    /// <summary>A broken value fails the check, at the stage that catches it.</summary>
    [Theory]
    [InlineData("service: { port: http }", "schema", "values.service.port: must be integer")]
    [InlineData("servers: null", "schema", "must have required property 'servers'")]
    [InlineData("servers: { s: { Upstreams: [ \"ftp://x/mcp\" ] } }", "schema", "must match pattern")]
    [InlineData("servers: { s: { Upstreams: [ \"http://x/mcp\" ], Discovery: Consul } }", "schema", "must be equal to one of the allowed values")]
    [InlineData("sessionKeys: { keys: [ short ] }", "schema", "must NOT have fewer than 32 characters")]
    [InlineData("resources: { limits: { memory: lots } }", "schema", "values.resources.limits.memory")]
    [InlineData("logging: { format: xml }", "schema", "must be equal to one of the allowed values")]
    [InlineData("threadPoolSpin: sometimes", "schema", "values.threadPoolSpin: must be boolean")]
    [InlineData("tls: { secretName: Edge_TLS }", "schema", "values.tls.secretName: must match pattern")]
    [InlineData("upstreamTls: { secret: x }", "schema", "must NOT have additional properties")]
    [InlineData("admin: { port: 8080 }", "schema", "values.admin.port: must NOT be valid")]
    [InlineData("extraVolumeMounts: [ { name: x } ]", "schema", "must have required property 'mountPath'")]
    [InlineData("metrics: { serviceMonitor: { tlsConfig: { insecureSkipVerify: true } } }", "schema", "must NOT have additional properties")]
    [InlineData("tls: { secretName: edge-tls, clientCertificates: { mode: Always } }", "schema", "must be equal to one of the allowed values")]
    [InlineData("tls: { secretName: edge-tls, clientCertificates: { mode: Require } }", "render", "tls.clientCertificates.caSecretName")]
    [InlineData("tls: { clientCertificates: { mode: Allow, caSecretName: agents-ca } }", "render", "need TLS on the listener")]
    [InlineData("tls: { secretName: edge-tls, clientCertificates: { crlSecretName: agents-crl } }", "render", "tls.clientCertificates.crlSecretName: revocation lists apply to client certificates")]
    [InlineData("tls: { secretName: edge-tls, clientCertificates: { mode: Require, caSecretName: agents-ca, crlCheck: Root } }", "schema", "must be equal to one of the allowed values")]
    [InlineData("autoscaling: { minReplicas: 5, maxReplicas: 2 }", "kubernetes", "minReplicas > maxReplicas")]
    [InlineData("securityContext: { runAsUser: root }", "kubernetes", "runAsUser must be integer")]
    [InlineData("podSecurityContext: { seccompProfile: { type: Sometimes } }", "kubernetes", "seccompProfile/type must be equal to one of the allowed values")]
    [InlineData("servers: { s: { Upstreams: [ \"http://x/mcp\" ], LoadBalancingPolicy: Fastest } }", "edge", "LoadBalancingPolicy")]
    [InlineData("edge: { Streaming: { KeepAliveInterval: \"-00:00:01\" } }", "edge", "KeepAliveInterval")]
    public async Task Chart_BrokenValue_FailsTheCheck(string values, string stage, string expected)
    {
        var result = await ChartCheck.RunAsync(values);
        output.WriteLine($"{result.FailedStage}: {result.Output}");
        Assert.Equal(stage, result.FailedStage);
        Assert.Contains(expected, result.Output);
    }

    [Fact]
    public async Task Readme_ValuesReference_NamesEveryTopLevelValue()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(ChartCheck.Root, "README.md"));
        var values = await File.ReadAllLinesAsync(Path.Combine(ChartCheck.Chart, "values.yaml"));
        var keys = values.Select(l => Regex.Match(l, @"^([A-Za-z]+):")).Where(m => m.Success).Select(m => m.Groups[1].Value).ToArray();
        Assert.NotEmpty(keys);
        Assert.All(keys, key => Assert.Contains($"`{key}", readme));
    }

    [Fact]
    public void TheEdgesRuntimeConfiguration_TurnsOffHillClimbingAndTheTieringDelay_AndKeepsServerGc()
    {
        // The file `dotnet McpEdge.dll` reads, in the image and in the benchmarks alike (docs/benchmarks.md,
        // "Long idle" and "Warm-up: a cold edge under load").
        using var runtimeConfig = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "McpEdge.runtimeconfig.json")));
        var properties = runtimeConfig.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.True(properties.GetProperty("System.Threading.ThreadPool.HillClimbing.Disable").GetBoolean());
        Assert.True(properties.GetProperty("System.GC.Server").GetBoolean());
        Assert.Equal(0, properties.GetProperty("System.Runtime.TieredCompilation.CallCountingDelayMs").GetInt32());
    }

    [Fact]
    public void TheSampleServersRuntimeConfiguration_HasNoTieringDelay()
    {
        // The replicas share a core with the proxy in the benchmarks and load tests: with the runtime's
        // tiering delay they compiled in the seconds after each load and stalled every target
        // (docs/benchmarks.md, "The upstream's deferred compilation").
        using var runtimeConfig = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "McpEdge.SampleServer.runtimeconfig.json")));
        var properties = runtimeConfig.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.Equal(0, properties.GetProperty("System.Runtime.TieredCompilation.CallCountingDelayMs").GetInt32());
    }
}
