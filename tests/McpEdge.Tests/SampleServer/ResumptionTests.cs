using System.Net;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.SampleServer;

/// <summary>
/// The sample server's resumable streams (2025-11-25 basic/transports.mdx, "Resumability and
/// Redelivery"), talked to directly: what the edge's drain test relies on.
/// </summary>
public class ResumptionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private static string Initialize(string version) =>
        $$$$"""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"{{{{version}}}}","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}""";

    private static string Progress(int id, int steps, int delayMs) =>
        $$$$"""{"jsonrpc":"2.0","id":{{{{id}}}},"method":"tools/call","params":{"name":"progress","arguments":{"steps":{{{{steps}}}},"delayMs":{{{{delayMs}}}}},"_meta":{"progressToken":"p{{{{id}}}}"}}}""";

    private static async Task<string> SessionAsync(HttpClient client, string url, string version)
    {
        using var response = await client.SendAsync(Mcp.Post(url, Initialize(version)));
        response.EnsureSuccessStatusCode();
        return response.Headers.GetValues("Mcp-Session-Id").Single();
    }

    private static string Field(IReadOnlyList<string> lines, string name) =>
        lines.Single(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..].TrimStart();

    private static HttpRequestMessage Resume(string url, string session, string lastEventId)
    {
        var get = new HttpRequestMessage(HttpMethod.Get, url);
        get.Headers.Add("Mcp-Session-Id", session);
        get.Headers.Add("Last-Event-ID", lastEventId);
        get.Headers.Accept.ParseAdd("text/event-stream");
        return get;
    }

    [Fact]
    public async Task ProgressStream_DroppedConnection_ResumedWithLastEventId_EveryEventOnceInOrder()
    {
        await using var server = await TestSampleServer.StartAsync();
        using var client = new HttpClient();
        var session = await SessionAsync(client, server.Url, "2025-11-25");

        var seen = new List<(string Id, string Data)>();
        using (var post = await client.SendAsync(Mcp.Post(server.Url, Progress(7, steps: 6, delayMs: 40), session), HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new SseReader(await post.Content.ReadAsStreamAsync());
            var priming = (await reader.NextAsync(Patience))!;
            Assert.Equal("1000", Field(priming, "retry"));
            Assert.Equal("", Field(priming, "data"));
            seen.Add((Field(priming, "id"), ""));
            for (var i = 0; i < 2; i++)
            {
                var lines = (await reader.NextAsync(Patience))!;
                seen.Add((Field(lines, "id"), Field(lines, "data")));
            }
        } // the connection drops mid-operation: not a cancel

        using (var get = await client.SendAsync(Resume(server.Url, session, seen[^1].Id), HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            using var reader = new SseReader(await get.Content.ReadAsStreamAsync());
            while (await reader.NextAsync(Patience) is { } lines)
            {
                seen.Add((Field(lines, "id"), Field(lines, "data")));
            }
        }

        var stream = seen[0].Id.Split('-')[0];
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"{stream}-{i}"), seen.Select(e => e.Id));
        var messages = seen.Skip(1).Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        Assert.Equal([1, 2, 3, 4, 5, 6], messages.Take(6).Select(m => m.GetProperty("params").GetProperty("progress").GetInt32()));
        Assert.Equal(7, messages[6].GetProperty("id").GetInt32());
        Assert.Contains("6 steps done", messages[6].GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task OlderRevision_NoPrimingEvent_ButIdsStillResumable()
    {
        await using var server = await TestSampleServer.StartAsync();
        using var client = new HttpClient();
        var session = await SessionAsync(client, server.Url, "2025-06-18");

        using var post = await client.SendAsync(Mcp.Post(server.Url, Progress(3, steps: 1, delayMs: 0), session), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new SseReader(await post.Content.ReadAsStreamAsync());
        var first = (await reader.NextAsync(Patience))!;

        Assert.EndsWith("-1", Field(first, "id"));
        Assert.Contains("notifications/progress", Field(first, "data"));
    }

    [Fact]
    public async Task UnknownLastEventId_400_NotSessionGone()
    {
        await using var server = await TestSampleServer.StartAsync();
        using var client = new HttpClient();
        var session = await SessionAsync(client, server.Url, "2025-11-25");

        using var unknown = await client.SendAsync(Resume(server.Url, session, "99-3"));
        using var garbage = await client.SendAsync(Resume(server.Url, session, "no-dash-number"));

        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
    }

    [Fact]
    public async Task Cancelled_StopsTheTool_StreamEndsWithoutResponse()
    {
        await using var server = await TestSampleServer.StartAsync();
        using var client = new HttpClient();
        var session = await SessionAsync(client, server.Url, "2025-11-25");

        using var post = await client.SendAsync(Mcp.Post(server.Url, Progress(5, steps: 10_000, delayMs: 10), session), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new SseReader(await post.Content.ReadAsStreamAsync());
        await reader.NextAsync(Patience); // priming
        await reader.NextAsync(Patience); // step 1
        using var cancel = await client.SendAsync(Mcp.Post(server.Url, """{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}""", session));
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);

        var rest = new List<string>();
        while (await reader.NextDataAsync(Patience) is { } data)
        {
            rest.Add(data);
        }
        Assert.True(rest.Count < 9_999, $"{rest.Count} events after the cancel");
        Assert.DoesNotContain(rest, d => d.Contains("\"result\"", StringComparison.Ordinal));
    }
}
