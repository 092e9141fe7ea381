using McpEdge.Tests.EndToEnd;
using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.Deployment;

/// <summary>
/// The offline stand-in for <c>helm install --dry-run</c> (there is no helm, cluster or Docker here):
/// values against <c>values.schema.json</c>, render with <c>tests/deploy/render</c> (Go text/template +
/// sprig), rendered objects against Kubernetes schemas and cross-references (<c>tests/deploy/validate.mjs</c>),
/// yamllint, the edge's own validation of the configuration file the chart renders, and promtool on the
/// PrometheusRule's rules.
/// </summary>
public static class ChartCheck
{
    /// <summary>The repository root.</summary>
    public static string Root { get; } = Path.GetFullPath(Path.Combine(PeerProcess.PeersDirectory, "../.."));

    /// <summary>The chart.</summary>
    public static string Chart => Path.Combine(Root, "helm", "mcpedge");

    /// <summary><c>tests/deploy</c>: the npm tools (scripts/test installs them) and the renderer's source.</summary>
    public static string DeployDirectory => Path.Combine(Root, "tests", "deploy");

    private static readonly Lazy<Task<string>> Renderer = new(BuildRendererAsync);

    /// <summary>
    /// One directory per test run for the renderer (7.5 MB) and every check's files, which tests read
    /// after <see cref="RunAsync"/> returns; deleted when the test host exits.
    /// </summary>
    private static readonly Lazy<string> Scratch = new(() =>
    {
        var path = Directory.CreateTempSubdirectory("mcpedge-chart-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (IOException)
            {
                // A file still in use: the directory stays, the test run's result does not change.
            }
        };
        return path;
    });

    /// <summary>Go in GOPATH mode over Debian's Go source packages (sprig, yaml.v3).</summary>
    private static readonly Dictionary<string, string> GoEnvironment = new()
    {
        ["GO111MODULE"] = "off",
        ["GOPATH"] = "/usr/share/gocode",
        ["GOCACHE"] = Path.Combine(Path.GetTempPath(), "mcpedge-gocache"),
        ["GOFLAGS"] = "",
    };

    private static async Task<string> BuildRendererAsync()
    {
        var output = Path.Combine(Scratch.Value, "render");
        var (exit, text) = await Tool.RunAsync("go", ["build", "-o", output, "."], workingDirectory: Path.Combine(DeployDirectory, "render"),
            environment: GoEnvironment, patience: TimeSpan.FromMinutes(5));
        return exit == 0 ? output : throw new InvalidOperationException("go build of tests/deploy/render failed (needs golang-go and golang-github-masterminds-sprig-dev): " + text);
    }

    /// <summary>The outcome: the stage that failed (null when all passed), its output, and what was produced.</summary>
    public sealed record Result(string? FailedStage, string Output, string Manifest, string Directory)
    {
        /// <summary>The configuration file the chart's ConfigMap carries.</summary>
        public string ConfigFile => Path.Combine(Directory, "mcpedge.json");
    }

    /// <summary>
    /// Runs every stage in Helm's order with <paramref name="valuesYaml"/> as extra values files
    /// (<c>-f</c>, later wins), stopping at the first that fails: <c>schema</c>, <c>render</c>,
    /// <c>kubernetes</c>, <c>yamllint</c>, <c>edge</c> (the edge refuses the rendered configuration),
    /// <c>promtool</c>.
    /// </summary>
    public static async Task<Result> RunAsync(params string[] valuesYaml)
    {
        var renderer = await Renderer.Value;
        var directory = Directory.CreateDirectory(Path.Combine(Scratch.Value, Guid.NewGuid().ToString("N"))).FullName;
        var args = new List<string> { "-chart", Chart, "-name", "edge", "-namespace", "mcp", "-values-out", Path.Combine(directory, "values.json") };
        for (var i = 0; i < valuesYaml.Length; i++)
        {
            var file = Path.Combine(directory, $"values-{i}.yaml");
            await File.WriteAllTextAsync(file, valuesYaml[i]);
            args.AddRange(["-f", file]);
        }
        var manifest = Path.Combine(directory, "manifest.yaml");
        var (renderExit, rendered) = await Tool.RunAsync(renderer, args);
        await File.WriteAllTextAsync(manifest, renderExit == 0 ? rendered : "");

        if (File.Exists(Path.Combine(directory, "values.json")))
        {
            var (exit, output) = await NodeAsync("values", Path.Combine(directory, "values.json"), Path.Combine(Chart, "values.schema.json"));
            if (exit != 0)
            {
                return new("schema", output, "", directory);
            }
        }
        if (renderExit != 0)
        {
            return new("render", rendered, "", directory);
        }
        var (kubernetesExit, kubernetes) = await NodeAsync("manifest", manifest, directory);
        if (kubernetesExit != 0)
        {
            return new("kubernetes", kubernetes, rendered, directory);
        }
        var (lintExit, lint) = await Tool.RunAsync("yamllint", ["-c", Path.Combine(DeployDirectory, "yamllint.yaml"), "-f", "parsable",
            Path.Combine(Chart, "Chart.yaml"), Path.Combine(Chart, "values.yaml"), manifest]);
        if (lintExit != 0)
        {
            return new("yamllint", lint, rendered, directory);
        }
        var edge = await EdgeRefusesAsync(Path.Combine(directory, "mcpedge.json"), directory);
        if (edge is not null)
        {
            return new("edge", edge, rendered, directory);
        }
        foreach (var rules in Directory.GetFiles(directory, "*.rules.yaml"))
        {
            var (exit, output) = await Tool.RunAsync("promtool", ["check", "rules", rules]);
            if (exit != 0)
            {
                return new("promtool", output, rendered, directory);
            }
        }
        return new(null, kubernetes, rendered, directory);
    }

    private static Task<(int Exit, string Output)> NodeAsync(params string[] args) =>
        Tool.RunAsync(PeerProcess.Node22, [Path.Combine(DeployDirectory, "validate.mjs"), .. args], workingDirectory: DeployDirectory);

    /// <summary>
    /// Builds (not starts) the edge on the rendered file, with the mounted files (session keys, and
    /// the TLS secret's pair, the client CA bundle and the client CRLs when the file names them) replaced by local ones; the error, or null.
    /// </summary>
    private static async Task<string?> EdgeRefusesAsync(string configFile, string directory)
    {
        var keyFile = Path.Combine(directory, "session-keys");
        await File.WriteAllTextAsync(keyFile, "a session key of the chart check, 32+ characters\n");
        List<string> args = ["--config", configFile, "--McpEdge:Sessions:KeyFile=" + keyFile, "--urls", "http://127.0.0.1:0"];
        TestCertificates? certificates = null;
        using (var rendered = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(configFile)))
        {
            if (rendered.RootElement.GetProperty("McpEdge").TryGetProperty("Tls", out var tls))
            {
                certificates = new TestCertificates();
                certificates.IssueAndWrite("chart-check");
                args.AddRange(["--McpEdge:Tls:CertificateFile=" + certificates.CertificateFile, "--McpEdge:Tls:KeyFile=" + certificates.KeyFile]);
                if (tls.TryGetProperty("ClientCaFile", out _))
                {
                    args.Add("--McpEdge:Tls:ClientCaFile=" + certificates.WriteCaBundle());
                }
                if (tls.TryGetProperty("ClientCrlFile", out _))
                {
                    args.Add("--McpEdge:Tls:ClientCrlFile=" + certificates.WriteCrlFile(certificates.Crl(ofRoot: true, []) + certificates.Crl(ofRoot: false, [])));
                }
            }
        }
        try
        {
            await using var app = McpEdge.Hosting.McpEdgeApplication.Build([.. args]);
            return null;
        }
        catch (McpEdge.Configuration.McpEdgeConfigurationException error)
        {
            return error.Message;
        }
        finally
        {
            certificates?.Dispose();
        }
    }
}
