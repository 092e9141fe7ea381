using System.Net;
using System.Net.Sockets;
using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.Configuration;

/// <summary>
/// Listeners that cannot start end the real process with exit code 2 and one line naming the cause,
/// as an invalid configuration does, not with an unhandled exception and an aborted runtime (134).
/// </summary>
public class StartupFailureTests
{
    private static readonly object Section = new { Servers = new { s = Mcp.Server(upstreams: "http://127.0.0.1:9/mcp") } };

    [Fact]
    public async Task An_address_in_use_is_exit_code_2_with_one_line()
    {
        using var occupied = new TcpListener(IPAddress.Loopback, 0);
        occupied.Start();
        var urls = $"http://127.0.0.1:{((IPEndPoint)occupied.LocalEndpoint).Port}";
        await using var edge = await EdgeProcess.LaunchAsync(Section, urls);

        var exitCode = await edge.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, exitCode);
        var line = Assert.Single(edge.Output, l => l.StartsWith("McpEdge could not start", StringComparison.Ordinal));
        Assert.StartsWith($"McpEdge could not start (urls: {urls}): Failed to bind to address {urls}", line);
        Assert.Contains("address already in use", line);
        Assert.DoesNotContain(edge.Output, l => l.Contains("Unhandled exception", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("banana", "Invalid url: 'banana'")]
    [InlineData("ftp://127.0.0.1:1", "Unrecognized scheme in server address 'ftp://127.0.0.1:1'")]
    public async Task A_listener_address_Kestrel_cannot_use_is_exit_code_2_with_one_line(string urls, string reason)
    {
        await using var edge = await EdgeProcess.LaunchAsync(Section, urls);

        var exitCode = await edge.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, exitCode);
        Assert.Contains(edge.Output, l => l.StartsWith($"McpEdge could not start (urls: {urls}): ", StringComparison.Ordinal) && l.Contains(reason, StringComparison.Ordinal));
        Assert.DoesNotContain(edge.Output, l => l.Contains("Unhandled exception", StringComparison.Ordinal));
    }
}
