using System.Net;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.EndToEnd;

/// <summary>SSE through the edge at the wire level, and a cut POST stream resumed with <c>GET</c> + <c>Last-Event-ID</c> (MCP 2025-11-25 basic/transports.mdx, "Resumability and Redelivery"), raw HTTP through the edge.</summary>
[Collection(EverythingCollection.Name)]
public class SseWireTests(EverythingFixture fixture)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private static HttpRequestMessage Versioned(HttpRequestMessage request)
    {
        request.Headers.Add("MCP-Protocol-Version", "2025-11-25");
        return request;
    }

    private static string LongRun(int id, double seconds, int steps) =>
        $$$$"""{"jsonrpc":"2.0","id":{{{{id}}}},"method":"tools/call","params":{"name":"trigger-long-running-operation","arguments":{"duration":{{{{seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}},"steps":{{{{steps}}}}},"_meta":{"progressToken":"p{{{{id}}}}"}}}""";

    [Fact]
    public async Task ProgressStream_EveryEventReachesTheClientBeforeTheResult()
    {
        var session = await InitializeAsync(fixture.Edge.Client);

        using var stream = await fixture.Edge.Client.SendAsync(Versioned(Mcp.Post("/mcp/everything", LongRun(5, 0.4, 4), session)), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new SseReader(await stream.Content.ReadAsStreamAsync());
        var methods = new List<string>();
        while (await reader.NextDataAsync(Patience) is { } data)
        {
            if (data.Length > 0)
            {
                using var message = JsonDocument.Parse(data);
                methods.Add(message.RootElement.TryGetProperty("method", out var method) ? method.GetString()! : "result");
            }
        }

        Assert.Equal(["notifications/progress", "notifications/progress", "notifications/progress", "notifications/progress", "result"], methods);
    }

    private static async Task<string> InitializeAsync(HttpClient client)
    {
        string session;
        using (var init = await client.SendAsync(Mcp.Post("/mcp/everything",
            """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"resume-test","version":"1"}}}""")))
        {
            Assert.Equal(HttpStatusCode.OK, init.StatusCode);
            session = init.Headers.GetValues("Mcp-Session-Id").Single();
        }
        using (var initialized = await client.SendAsync(Versioned(Mcp.Post("/mcp/everything", """{"jsonrpc":"2.0","method":"notifications/initialized"}""", session))))
        {
            Assert.Equal(HttpStatusCode.Accepted, initialized.StatusCode);
        }
        return session;
    }

    [Fact]
    public async Task CutPostStream_ResumesWithLastEventId_OnTheSameReplica()
    {
        var client = fixture.Edge.Client;
        var session = await InitializeAsync(client);

        // Start a 1 s operation, read until its first progress event, remember its id, cut the stream.
        string? lastEventId = null;
        using (var stream = await client.SendAsync(Versioned(Mcp.Post("/mcp/everything", LongRun(3, 1, 4), session)), HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal("text/event-stream", stream.Content.Headers.ContentType!.MediaType);
            using var reader = new SseReader(await stream.Content.ReadAsStreamAsync());
            while (true)
            {
                var sseEvent = await reader.NextAsync(Patience) ?? throw new Xunit.Sdk.XunitException("stream ended before any progress");
                lastEventId = sseEvent.FirstOrDefault(l => l.StartsWith("id:"))?[3..].Trim() ?? lastEventId;
                if (sseEvent.Any(l => l.Contains("notifications/progress")))
                {
                    break;
                }
            }
        }
        Assert.NotNull(lastEventId);

        // server-everything replays only stored events: a longer operation started later on the same
        // session finishes after the cut one, so once it answers, the cut one is complete.
        using (var later = await client.SendAsync(Versioned(Mcp.Post("/mcp/everything", LongRun(4, 1.5, 1), session))))
        {
            Assert.Equal(HttpStatusCode.OK, later.StatusCode);
            Assert.Contains("Long running operation completed", await later.Content.ReadAsStringAsync());
        }

        var resume = Versioned(new HttpRequestMessage(HttpMethod.Get, "/mcp/everything"));
        resume.Headers.Add("Mcp-Session-Id", session);
        resume.Headers.Add("Last-Event-ID", lastEventId);
        resume.Headers.Add("Accept", "text/event-stream");
        using var resumed = await client.SendAsync(resume, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, resumed.StatusCode);
        using var replay = new SseReader(await resumed.Content.ReadAsStreamAsync());
        var progressAfterCut = 0;
        while (true)
        {
            var data = await replay.NextDataAsync(Patience) ?? throw new Xunit.Sdk.XunitException("replay ended without the result");
            if (data.Length == 0)
            {
                continue;
            }
            using var message = JsonDocument.Parse(data);
            if (message.RootElement.TryGetProperty("method", out var method) && method.GetString() == "notifications/progress")
            {
                progressAfterCut++;
                continue;
            }
            if (message.RootElement.TryGetProperty("id", out var id) && id.GetInt32() == 3)
            {
                Assert.Contains("Long running operation completed", message.RootElement.GetProperty("result").GetRawText());
                break;
            }
        }
        Assert.Equal(3, progressAfterCut);
    }
}
