using System.Text.Json;
using McpEdge.Configuration;
using McpEdge.Health;
using McpEdge.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Tests.Infrastructure;

/// <summary>The edge on real Kestrel (127.0.0.1, ephemeral port), configured from a JSON file the test can rewrite (hot reload).</summary>
public sealed class TestEdge : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _configFile;
    private readonly ReloadListener _listener;

    private TestEdge(WebApplication app, string configFile, ReloadListener listener, Uri baseAddress)
    {
        _app = app;
        _configFile = configFile;
        _listener = listener;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary><c>http://127.0.0.1:{port}/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>A client for the edge.</summary>
    public HttpClient Client { get; }

    /// <summary>The edge's services.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>Starts the edge with <paramref name="mcpEdgeSection"/> as the <c>McpEdge</c> section.</summary>
    public static Task<TestEdge> StartAsync(object mcpEdgeSection, params string[] extraArgs) => StartAsync(mcpEdgeSection, null, extraArgs);

    /// <summary>As above, with <paramref name="configure"/> applied to the builder (e.g. a test clock as <see cref="TimeProvider"/>).</summary>
    public static async Task<TestEdge> StartAsync(object mcpEdgeSection, Action<WebApplicationBuilder>? configure, params string[] extraArgs)
    {
        // In a directory of its own: the edge watches its configuration file's directory, subdirectories included.
        var directory = Directory.CreateTempSubdirectory("mcpedge-test-").FullName;
        var configFile = Path.Combine(directory, "mcpedge.json");
        WebApplication? app = null;
        try
        {
            await WriteConfigAsync(configFile, mcpEdgeSection);
            var listener = new ReloadListener();
            app = McpEdgeApplication.Build(["--config", configFile, "--urls", "http://127.0.0.1:0", .. extraArgs], builder =>
            {
                builder.Logging.SetMinimumLevel(LogLevel.Warning);
                builder.Services.AddSingleton<IConfigChangeListener>(listener);
                configure?.Invoke(builder);
            });
            await app.StartAsync();
            var adminPort = app.Services.GetRequiredService<AdminListener>().Port;
            var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single(a => new Uri(a).Port != adminPort);
            return new TestEdge(app, configFile, listener, new Uri(url + "/"));
        }
        catch
        {
            // The tests of start-up errors end here: leave no directory (or started host) behind.
            if (app is not null)
            {
                await app.DisposeAsync();
            }
            Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    /// <summary>Completes when YARP has next applied a configuration (from any cause: a reload, changed upstream TLS files).</summary>
    public Task NextConfigApplied() => _listener.NextApplied();

    /// <summary>Rewrites the configuration file and waits (at most 20 s) until YARP has applied the new routes and clusters.</summary>
    public async Task ReloadAsync(object mcpEdgeSection)
    {
        var applied = _listener.NextApplied();
        await WriteConfigAsync(_configFile, mcpEdgeSection);
        await applied.WaitAsync(TimeSpan.FromSeconds(20));
    }

    /// <summary>Completes when a replica's active (probe) health is <paramref name="health"/>, at once if it already is; fails after 15 s.</summary>
    public async Task WaitForActiveHealthAsync(string server, string destinationUrl, DestinationHealth health)
    {
        var probes = Services.GetRequiredService<McpHealthProbeService>();
        var id = McpProxyConfigBuilder.DestinationId(new Uri(destinationUrl));
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(string changedServer, string destination, DestinationHealth now)
        {
            if (changedServer == server && destination == id && now == health)
            {
                reached.TrySetResult();
            }
        }
        probes.HealthChanged += OnChanged;
        try
        {
            if (probes.Find(server, id)?.Health != health)
            {
                await reached.Task.WaitAsync(TimeSpan.FromSeconds(15));
            }
        }
        finally
        {
            probes.HealthChanged -= OnChanged;
        }
    }

    /// <summary>Stops the edge as SIGTERM would (graceful: ApplicationStopping, then the host's shutdown timeout).</summary>
    public Task StopAsync() => _app.StopAsync();

    /// <summary>Rewrites the configuration file without waiting (for changes that must be rejected).</summary>
    public Task WriteConfigAsync(object mcpEdgeSection) => WriteConfigAsync(_configFile, mcpEdgeSection);

    /// <summary>Writes <paramref name="text"/> as the configuration file, as it is (for files that do not parse).</summary>
    public Task WriteConfigTextAsync(string text) => WriteAtomicallyAsync(_configFile, text);

    private static Task WriteConfigAsync(string file, object section) =>
        WriteAtomicallyAsync(file, JsonSerializer.Serialize(new { McpEdge = section }));

    /// <summary>
    /// Writes a new file beside <paramref name="file"/> and renames it over it, as a Kubernetes
    /// ConfigMap update does: the edge's watcher never reads a file truncated but not yet written
    /// (which it would rightly reject as not JSON).
    /// </summary>
    private static async Task WriteAtomicallyAsync(string file, string text)
    {
        var next = file + ".next";
        await File.WriteAllTextAsync(next, text);
        File.Move(next, file, overwrite: true);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(2)).Token);
        await _app.DisposeAsync();
        Directory.Delete(Path.GetDirectoryName(_configFile)!, recursive: true);
    }

    private sealed class ReloadListener : IConfigChangeListener
    {
        private TaskCompletionSource _applied = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task NextApplied()
        {
            _applied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _applied.Task;
        }

        public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs) => _applied.TrySetResult();
        public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception) => _applied.TrySetException(exception);
        public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs) { }
        public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception) => _applied.TrySetException(exception);
    }
}
