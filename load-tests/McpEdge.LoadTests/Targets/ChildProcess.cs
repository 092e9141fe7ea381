using System.Diagnostics;
using System.Net.Sockets;

namespace McpEdge.LoadTests.Targets;

/// <summary>
/// A server process this program started (sample replicas, the edge, plain YARP, nginx), pinned to
/// CPU 1 with <c>taskset</c> when the machine has two or more cores (the load generator keeps CPU 0),
/// ended by its PID on dispose (SIGTERM, then SIGKILL after 10 s: <see cref="ProcessStop"/>).
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];

    private ChildProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    /// <summary>A label for errors.</summary>
    public string Name { get; }

    /// <summary>The PID.</summary>
    public int Id => _process.Id;

    /// <summary>Starts <paramref name="file"/> with <paramref name="args"/> and waits (≤ 30 s) until <paramref name="readyUrl"/> answers.</summary>
    public static async Task<ChildProcess> StartAsync(string name, string file, IEnumerable<string> args, Uri readyUrl, IReadOnlyDictionary<string, string>? environment = null)
    {
        var pin = ProcessCpu.MachineCores >= 2 && File.Exists("/usr/bin/taskset");
        var start = new ProcessStartInfo(pin ? "/usr/bin/taskset" : file) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (pin)
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("1");
            start.ArgumentList.Add(file);
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        var child = new ChildProcess(name, Process.Start(start) ?? throw new InvalidOperationException($"{name}: {file} did not start"));
        child._process.OutputDataReceived += (_, e) => child.Keep(e.Data);
        child._process.ErrorDataReceived += (_, e) => child.Keep(e.Data);
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (child._process.HasExited)
            {
                break;
            }
            try
            {
                using var _ = await client.GetAsync(readyUrl);
                return child; // any HTTP answer: it is listening
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100); // polling a process that gives no other readiness signal, bounded by the deadline
        }
        var output = child.Output();
        child.Dispose();
        throw new InvalidOperationException($"{name} did not start listening on {readyUrl}:\n{output}");
    }

    /// <summary>A free TCP port on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            if (_output.Count < 200)
            {
                _output.Add(line);
            }
        }
    }

    /// <summary>The first 200 lines the process wrote.</summary>
    public string Output()
    {
        lock (_output)
        {
            return string.Join('\n', _output);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        ProcessStop.End(_process, TimeSpan.FromSeconds(10));
        _process.Dispose();
    }
}
