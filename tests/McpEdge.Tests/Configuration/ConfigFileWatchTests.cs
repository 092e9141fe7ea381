using System.Text.Json;
using McpEdge.Configuration;
using McpEdge.Hosting;
using McpEdge.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace McpEdge.Tests.Configuration;

/// <summary>The start-up warning about a configuration file whose directory is costly to watch recursively.</summary>
public sealed class ConfigFileWatchTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mcpedge-watch-").FullName;

    [Fact]
    public void A_directory_of_its_own_is_fine()
    {
        Directory.CreateDirectory(Path.Combine(_directory, "..data")); // a ConfigMap mount's few entries
        Assert.Null(McpEdgeApplication.RecursiveWatchConcern(Path.Combine(_directory, "mcpedge.json"), polling: false));
    }

    [Fact]
    public void The_temporary_directory_and_a_large_tree_are_named()
    {
        var inTemp = McpEdgeApplication.RecursiveWatchConcern(Path.Combine(Path.GetTempPath(), "mcpedge.json"), polling: false);
        Assert.Contains("temporary directory", inTemp);

        MakeNestedDirectories(McpEdgeApplication.WatchedDirectoryLimit);
        var large = McpEdgeApplication.RecursiveWatchConcern(Path.Combine(_directory, "mcpedge.json"), polling: false);
        Assert.Equal($"{_directory} holds {McpEdgeApplication.WatchedDirectoryLimit} or more subdirectories", large);
        // 91 is still fine; polling watches no directory at all.
        Directory.Delete(Path.Combine(_directory, "d0", "d0"), recursive: true);
        Assert.Null(McpEdgeApplication.RecursiveWatchConcern(Path.Combine(_directory, "mcpedge.json"), polling: false));
        Assert.Null(McpEdgeApplication.RecursiveWatchConcern(Path.Combine(Path.GetTempPath(), "mcpedge.json"), polling: true));
    }

    [Fact]
    public async Task The_edge_warns_at_start_up_and_still_starts()
    {
        MakeNestedDirectories(McpEdgeApplication.WatchedDirectoryLimit);
        var configFile = Path.Combine(_directory, "mcpedge.json");
        await File.WriteAllTextAsync(configFile, JsonSerializer.Serialize(new { McpEdge = new { Servers = new { s = new { Upstreams = new[] { "http://127.0.0.1:9/mcp" } } } } }));
        var logs = new LogCollector(LogLevel.Warning);
        await using var app = McpEdgeApplication.Build(["--config", configFile, "--urls", "http://127.0.0.1:0"],
            builder => builder.Services.AddSingleton<ILoggerProvider>(logs));
        await app.StartAsync();

        var warning = Assert.Single(logs.Entries.Select(e => e.Message), w => w.Contains(configFile, StringComparison.Ordinal));
        Assert.Contains("or more subdirectories", warning);
        Assert.Contains("DOTNET_USE_POLLING_FILE_WATCHER", warning);
        await app.StopAsync();
    }

    [Theory]
    [InlineData("", "does not contain any JSON tokens")]
    [InlineData("""{"McpEdge": {"Servers": {""", "an open JSON object or array that should be closed. LineNumber: 0")]
    [InlineData("[1]", "Top-level JSON element must be an object")]
    public void A_file_that_does_not_parse_is_a_configuration_error_at_start_up(string text, string reason)
    {
        var configFile = Path.Combine(_directory, "mcpedge.json");
        File.WriteAllText(configFile, text);

        var ex = Assert.Throws<McpEdgeConfigurationException>(() => McpEdgeApplication.Build(["--config", configFile, "--urls", "http://127.0.0.1:0"]));

        Assert.StartsWith($"Invalid McpEdge configuration:", ex.Message);
        Assert.Contains($"config: the configuration file '{configFile}' is not a JSON object: ", ex.Message);
        Assert.Contains(reason, ex.Message);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary><paramref name="count"/> directories: ten branches of a chain each.</summary>
    private void MakeNestedDirectories(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var branch = i % 10;
            var depth = i / 10;
            Directory.CreateDirectory(Path.Combine([_directory, .. Enumerable.Repeat($"d{branch}", depth + 1)]));
        }
    }
}
