using System.Diagnostics;
using System.Text.RegularExpressions;

namespace McpEdge.Tests.EndToEnd;

/// <summary>
/// The official conformance suite (<c>@modelcontextprotocol/conformance</c> 0.1.16, Node 22) run
/// against a server-everything replica directly and through the edge: every scenario must give
/// the same result, except <c>dns-rebinding-protection</c>, which the edge must pass.
/// </summary>
[Collection(EverythingCollection.Name)]
public partial class ConformanceTests(EverythingFixture fixture)
{
    private const string DnsRebinding = "dns-rebinding-protection";

    [Fact]
    public async Task ThroughTheEdge_SameResultsAsDirect_AndDnsRebindingPasses()
    {
        var direct = await RunAsync($"http://127.0.0.1:{fixture.Replicas[0].Port}/mcp");
        var edge = await RunAsync(fixture.EverythingUrl.ToString());

        Assert.True(direct.Count >= 20, $"only {direct.Count} scenarios parsed");
        Assert.Equal(direct.Keys.Order(), edge.Keys.Order());
        foreach (var (scenario, result) in direct.Where(d => d.Key != DnsRebinding))
        {
            Assert.True(result == edge[scenario], $"{scenario}: direct {result}, through the edge {edge[scenario]}");
        }
        Assert.True(edge[DnsRebinding].Failed == 0 && edge[DnsRebinding].Passed > 0, $"{DnsRebinding} through the edge: {edge[DnsRebinding]}");
    }

    private static async Task<Dictionary<string, (int Passed, int Failed)>> RunAsync(string url)
    {
        var output = Path.Combine(Path.GetTempPath(), "mcpedge-conformance-" + Guid.NewGuid().ToString("N"));
        var start = new ProcessStartInfo(PeerProcess.Node22) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = PeerProcess.PeersDirectory };
        foreach (var arg in new[] { PeerProcess.NodeModule("@modelcontextprotocol/conformance/dist/index.js"), "server", "--url", url, "--suite", "all", "-o", output })
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
        var results = new Dictionary<string, (int, int)>();
        foreach (Match match in SummaryLine().Matches(await stdout))
        {
            results[match.Groups["name"].Value] = (int.Parse(match.Groups["passed"].Value), int.Parse(match.Groups["failed"].Value));
        }
        Assert.True(results.Count > 0, $"no summary from the conformance suite against {url}: {await stderr}");
        return results;
    }

    [GeneratedRegex(@"^[✓✗] (?<name>[\w-]+): (?<passed>\d+) passed, (?<failed>\d+) failed", RegexOptions.Multiline)]
    private static partial Regex SummaryLine();
}
