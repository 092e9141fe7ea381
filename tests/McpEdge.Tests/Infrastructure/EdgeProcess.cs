using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using McpEdge.Tests.EndToEnd;

namespace McpEdge.Tests.Infrastructure;

/// <summary>
/// The edge as its own OS process (<c>dotnet McpEdge.dll</c> from the test output), on a free
/// 127.0.0.1 port, for what only a real process shows: SIGTERM handling and drain. Ended by its
/// PID on dispose if it is still running.
/// </summary>
public sealed class EdgeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _configFile;

    private EdgeProcess(Process process, string configFile, Uri baseAddress)
    {
        _process = process;
        _configFile = configFile;
        BaseAddress = baseAddress;
    }

    /// <summary><c>http://127.0.0.1:{port}/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Everything the process wrote to stdout and stderr, in order.</summary>
    public ConcurrentQueue<string> Output { get; } = new();

    /// <summary>
    /// Starts the edge with <paramref name="mcpEdgeSection"/> as the <c>McpEdge</c> section and
    /// <paramref name="logging"/> as the <c>Logging</c> section (default: Warning, McpEdge's own
    /// categories at Information), and waits (≤ 30 s) until <c>/healthz</c> answers.
    /// </summary>
    public static async Task<EdgeProcess> StartAsync(object mcpEdgeSection, object? logging = null)
    {
        var port = PeerProcess.FreePort();
        var edge = await LaunchAsync(mcpEdgeSection, logging, $"http://127.0.0.1:{port}");
        try
        {
            await edge.WaitHealthyAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            await edge.DisposeAsync();
            throw;
        }
        return edge;
    }

    /// <summary>
    /// Starts the edge listening on <paramref name="urls"/> (as given to <c>--urls</c>) without waiting for
    /// it, for start-ups that must fail: then <see cref="WaitForExitAsync"/> and <see cref="Output"/>.
    /// </summary>
    public static Task<EdgeProcess> LaunchAsync(object mcpEdgeSection, string urls, params string[] extraArgs) => LaunchAsync(mcpEdgeSection, null, urls, extraArgs);

    private static async Task<EdgeProcess> LaunchAsync(object mcpEdgeSection, object? logging, string urls, params string[] extraArgs)
    {
        // In a directory of its own: the edge watches its configuration file's directory, subdirectories included.
        var configFile = Path.Combine(Directory.CreateTempSubdirectory("mcpedge-process-").FullName, "mcpedge.json");
        await File.WriteAllTextAsync(configFile, JsonSerializer.Serialize(new
        {
            Logging = logging ?? new { LogLevel = new { Default = "Warning", McpEdge = "Information" } },
            McpEdge = mcpEdgeSection,
        }));
        var baseAddress = Uri.TryCreate(urls, UriKind.Absolute, out var uri) ? uri : new Uri("http://127.0.0.1/");
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "McpEdge.dll"), "--config", configFile, "--urls", urls, .. extraArgs])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // No diagnostic IPC: a runtime ended by SIGKILL (DisposeAsync) leaves its socket and debug pipes in /tmp.
        start.Environment["DOTNET_EnableDiagnostics"] = "0";
        var process = Process.Start(start)!;
        var edge = new EdgeProcess(process, configFile, new Uri(baseAddress.GetLeftPart(UriPartial.Authority) + "/"));
        process.OutputDataReceived += (_, e) => edge.Received(e.Data);
        process.ErrorDataReceived += (_, e) => edge.Received(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return edge;
    }

    private readonly Lock _outputLock = new();
    private TaskCompletionSource _outputArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Received(string? line)
    {
        if (line is null)
        {
            return;
        }
        Output.Enqueue(line);
        TaskCompletionSource arrived;
        lock (_outputLock)
        {
            arrived = _outputArrived;
            _outputArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        arrived.TrySetResult();
    }

    /// <summary>The first output line matching <paramref name="match"/>, as soon as the process has written it; fails after <paramref name="patience"/>.</summary>
    public async Task<string> WaitForOutputAsync(Func<string, bool> match, TimeSpan patience)
    {
        using var deadline = new CancellationTokenSource(patience);
        while (true)
        {
            Task arrived;
            lock (_outputLock)
            {
                arrived = _outputArrived.Task;
            }
            if (Output.FirstOrDefault(match) is { } line)
            {
                return line;
            }
            try
            {
                await arrived.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no matching output line within {patience}; the process wrote:{Environment.NewLine}{string.Join(Environment.NewLine, Output)}");
            }
        }
    }

    private async Task WaitHealthyAsync(TimeSpan patience)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        using var deadline = new CancellationTokenSource(patience);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the edge exited with {_process.ExitCode}: {string.Join(Environment.NewLine, Output)}");
            }
            try
            {
                using var response = await client.GetAsync(new Uri(BaseAddress, "healthz"), deadline.Token);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            // Bounded by the deadline; the process gives no other readiness signal.
            await Task.Delay(50, deadline.Token);
        }
    }

    /// <summary>Sends SIGTERM, as Kubernetes does when it ends a pod.</summary>
    public void Terminate()
    {
        if (!McpEdge.LoadTests.Targets.ProcessStop.Terminate(_process.Id))
        {
            throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>The exit code once the process has ended by itself (and its output has been read); fails after <paramref name="patience"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan patience)
    {
        await _process.WaitForExitAsync().WaitAsync(patience);
        _process.WaitForExit(); // the redirected output, to its end
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        Directory.Delete(Path.GetDirectoryName(_configFile)!, recursive: true);
    }
}
