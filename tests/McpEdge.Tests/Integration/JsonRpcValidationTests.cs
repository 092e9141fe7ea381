using System.Net;
using System.Text;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace McpEdge.Tests.Integration;

/// <summary>The edge reads each POST once and refuses what is not a JSON-RPC message, before the upstream sees it.</summary>
public class JsonRpcValidationTests
{
    private static async Task<(TestUpstream Upstream, TestEdge Edge)> StartAsync(object? messages = null)
    {
        var upstream = await TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } }));
        var edge = await TestEdge.StartAsync(messages is null
            ? new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } }
            : new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") }, Messages = messages });
        return (upstream, edge);
    }

    private static async Task<JsonElement> ErrorAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    private static HttpRequestMessage Stateless(string json, string? method, string? name)
    {
        var request = Mcp.Post("/mcp/s", json);
        request.Headers.Add("MCP-Protocol-Version", "2026-07-28");
        if (method is not null)
        {
            request.Headers.Add("Mcp-Method", method);
        }
        if (name is not null)
        {
            request.Headers.Add("Mcp-Name", name);
        }
        return request;
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list""", -32700, "null")]
    [InlineData("not json", -32700, "null")]
    [InlineData("""{"jsonrpc":"2.0","id":"abc","method":7}""", -32600, "\"abc\"")]
    [InlineData("""{"jsonrpc":"1.0","id":5,"method":"ping"}""", -32600, "5")]
    [InlineData("""{"jsonrpc":"2.0","id":6,"method":"tools/list","method":"tools/call","params":{"name":"echo"}}""", -32600, "6")]
    [InlineData("""{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{},"name":"delete_all"}}""", -32600, "7")]
    [InlineData("""{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":["echo"]}}""", -32602, "8")]
    [InlineData("""{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{"cursor":2}}""", -32602, "9")]
    public async Task BadMessage_400_WithCodeAndId_UpstreamNotCalled(string body, int code, string id)
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;

        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorAsync(response);
        Assert.Equal(code, error.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(id, error.GetProperty("id").GetRawText());
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task TooLarge_413_ByContentLengthAndByChunkedBody()
    {
        var (upstream, edge) = await StartAsync(new { MaxBytes = 2048 });
        await using var _ = upstream;
        await using var __ = edge;
        var big = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":" """ + new string('x', 4000) + "\"}}}";

        using var declared = await edge.Client.SendAsync(Mcp.Post("/mcp/s", big));
        var chunkedRequest = Mcp.Post("/mcp/s", "");
        chunkedRequest.Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big))); // no Content-Length: chunked
        chunkedRequest.Content.Headers.ContentType = new("application/json");
        using var chunked = await edge.Client.SendAsync(chunkedRequest);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunked.StatusCode);
        Assert.Equal(-32600, (await ErrorAsync(chunked)).GetProperty("error").GetProperty("code").GetInt32());
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task ChunkedBody_ForwardedWhole_WithContentLength()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;
        var json = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":" """ + new string('y', 100_000) + "\"}}}";
        var request = Mcp.Post("/mcp/s", "");
        request.Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(json)), 1000);
        request.Content.Headers.ContentType = new("application/json");

        using var response = await edge.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(upstream.Requests);
        Assert.Equal(json, received.Body);
        Assert.Equal(Encoding.UTF8.GetByteCount(json).ToString(System.Globalization.CultureInfo.InvariantCulture), received.Headers["Content-Length"]);
    }

    [Theory]
    [InlineData("tools/list", null, null)] // Mcp-Name only for tools/call, prompts/get, resources/read
    [InlineData("tools/call", "get_weather", null)]
    [InlineData("tools/call", "=?base64?Z2V0X3dlYXRoZXI=?=", null)]
    [InlineData("tools/call", null, "Mcp-Name header is required")]
    [InlineData(null, "get_weather", "Mcp-Method header is required")]
    [InlineData("tools/list", "get_weather", "Mcp-Method header value 'tools/list' does not match body value 'tools/call'")]
    [InlineData("tools/call", "get_forecast", "Mcp-Name header value 'get_forecast' does not match body value 'get_weather'")]
    [InlineData("tools/call", "=?base64?!!!?=", "malformed")]
    public async Task StatelessHeaders_MustMatchBody_Else400HeaderMismatch(string? method, string? name, string? mismatch)
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;
        var body = method == "tools/list" && name is null
            ? """{"jsonrpc":"2.0","id":"r1","method":"tools/list"}"""
            : """{"jsonrpc":"2.0","id":"r1","method":"tools/call","params":{"name":"get_weather","arguments":{}}}""";

        using var response = await edge.Client.SendAsync(Stateless(body, method, name));

        if (mismatch is null)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Single(upstream.Requests);
            return;
        }
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorAsync(response);
        Assert.Equal(-32020, error.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains(mismatch, error.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("\"r1\"", error.GetProperty("id").GetRawText());
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task OlderRevision_WithoutStandardHeaders_Passes_ButAMismatchingHeaderIsStillRefused()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;
        const string body = """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_weather"}}""";

        using var plain = await edge.Client.SendAsync(Mcp.Post("/mcp/s", body));
        var lying = Mcp.Post("/mcp/s", body);
        lying.Headers.Add("Mcp-Name", "delete_everything");
        using var refused = await edge.Client.SendAsync(lying);

        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Single(upstream.Requests);
    }

    /// <summary>
    /// A seeded sweep of damaged messages (bytes replaced, inserted, deleted, the tail cut), with and
    /// without the 2026-07-28 headers: every one is answered below 500, every refusal carries a
    /// JSON-RPC error the README lists, and what reaches the upstream is JSON that a strict parser
    /// (no duplicate member names anywhere) reads as one JSON-RPC message.
    /// </summary>
    [Fact]
    public async Task DamagedMessages_NeverA5xx_AndOnlyUnambiguousJsonGoesUpstream()
    {
        var (upstream, edge) = await StartAsync();
        await using var _ = upstream;
        await using var __ = edge;
        var valid = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi","n":[1,2.5e3,null,true]},"_meta":{"progressToken":"p"}}}""");
        var alphabet = "{}[]\",:\\0123456789-+.eE nulltrue\u0000\u00e9"u8.ToArray().Append((byte)0xff).ToArray();
        var random = new Random(7);
        var failures = new List<string>();
        int[] refusals = [-32700, -32600, -32602, -32020];

        for (var i = 0; i < 400; i++)
        {
            var body = valid.ToList();
            for (var edits = random.Next(1, 6); edits > 0; edits--)
            {
                var at = random.Next(body.Count + 1);
                switch (random.Next(4))
                {
                    case 0 when body.Count > 0: body[Math.Min(at, body.Count - 1)] = alphabet[random.Next(alphabet.Length)]; break;
                    case 1: body.Insert(at, alphabet[random.Next(alphabet.Length)]); break;
                    case 2 when body.Count > 0: body.RemoveAt(Math.Min(at, body.Count - 1)); break;
                    default: body.RemoveRange(at, body.Count - at); break;
                }
            }
            var request = new HttpRequestMessage(HttpMethod.Post, "/mcp/s") { Content = new ByteArrayContent(body.ToArray()) };
            request.Content.Headers.ContentType = new("application/json");
            request.Headers.Accept.ParseAdd("application/json, text/event-stream");
            if (i % 2 == 1)
            {
                request.Headers.Add("MCP-Protocol-Version", "2026-07-28");
                request.Headers.Add("Mcp-Method", "tools/call");
                request.Headers.Add("Mcp-Name", "echo");
            }

            using var response = await edge.Client.SendAsync(request);

            var text = await response.Content.ReadAsStringAsync();
            var shown = Encoding.UTF8.GetString(body.ToArray());
            if ((int)response.StatusCode >= 500)
            {
                failures.Add($"{(int)response.StatusCode} for {shown}");
            }
            else if (response.StatusCode != HttpStatusCode.OK)
            {
                using var error = JsonDocument.Parse(text);
                var code = error.RootElement.GetProperty("error").GetProperty("code").GetInt32();
                if (response.StatusCode != HttpStatusCode.BadRequest || !refusals.Contains(code))
                {
                    failures.Add($"{(int)response.StatusCode} with {code} for {shown}");
                }
            }
        }

        Assert.Empty(failures);
        Assert.NotEmpty(upstream.Requests); // some damage leaves a valid message (a digit changed in the id, say)
        foreach (var received in upstream.Requests)
        {
            using var strict = JsonDocument.Parse(received.Body, new JsonDocumentOptions { AllowDuplicateProperties = false });
            Assert.Equal(JsonValueKind.Object, strict.RootElement.ValueKind);
            Assert.Equal("2.0", strict.RootElement.GetProperty("jsonrpc").GetString());
        }
    }

    /// <summary>
    /// A body whose HTTP framing is broken is the client's mistake: a JSON-RPC parse error with
    /// Kestrel's status, or (the client gone before its body ended) an information line, never an
    /// application error in the log, and the upstream sees nothing (real socket, raw bytes).
    /// </summary>
    [Fact]
    public async Task UnreadableBody_ParseErrorOrClientGone_NotAnApplicationError()
    {
        var upstream = await TestUpstream.StartAsync((context, _) => context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } }));
        await using var _ = upstream;
        var logs = new LogCollector(LogLevel.Information);
        await using var edge = await TestEdge.StartAsync(new { Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") } },
            builder =>
            {
                builder.Services.AddSingleton<ILoggerProvider>(logs);
                builder.Logging.AddFilter<LogCollector>(null, LogLevel.Information); // the edge's tests log from Warning up
            });
        const string Head = "POST /mcp/s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n";

        var badChunk = await RawExchangeAsync(edge.BaseAddress, Head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", halfClose: false);
        var shortBody = await RawExchangeAsync(edge.BaseAddress, Head + "Content-Length: 100\r\n\r\n{\"jsonrpc\":\"2.0\",", halfClose: true);

        Assert.StartsWith("HTTP/1.1 400 ", badChunk);
        using (var error = JsonDocument.Parse(badChunk[(badChunk.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]))
        {
            Assert.Equal(-32700, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
            Assert.Contains("could not be read", error.RootElement.GetProperty("error").GetProperty("message").GetString());
        }
        // Kestrel sees the early end either as the body ending short (a 400 is still written to the
        // half-closed connection) or as the client aborting (nothing to answer): both are the client's doing.
        Assert.True(shortBody == "" || shortBody.StartsWith("HTTP/1.1 400 ", StringComparison.Ordinal), shortBody);
        await edge.StopAsync(); // waits for both requests' pipelines, so their log lines are written
        Assert.Empty(upstream.Requests);
        Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Error);
        var lines = logs.Entries.Where(e => e.Category == "McpEdge.Protocol.JsonRpcMessageMiddleware").Select(e => e.Message).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Contains("rejected with 400 (-32700): the request body could not be read (Bad chunk size data.)", lines[0]);
        Assert.True(lines[1].Contains("could not be read (Unexpected end of request content.)", StringComparison.Ordinal)
            || lines[1].Contains("the client closed the connection while sending it", StringComparison.Ordinal), lines[1]);
    }

    /// <summary>Sends <paramref name="request"/> as bytes and returns everything the edge sends back until it closes or a Content-Length body is complete (10 s at most).</summary>
    private static async Task<string> RawExchangeAsync(Uri edge, string request, bool halfClose)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(edge.Host, edge.Port, timeout.Token);
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), timeout.Token);
        if (halfClose)
        {
            socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        }
        var received = new MemoryStream();
        var buffer = new byte[4096];
        while (true)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, timeout.Token);
            }
            catch (System.Net.Sockets.SocketException)
            {
                break; // reset: what arrived before it is the answer
            }
            if (read == 0)
            {
                break;
            }
            received.Write(buffer, 0, read);
            var text = Encoding.UTF8.GetString(received.ToArray());
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            var length = System.Text.RegularExpressions.Regex.Match(text, "(?im)^Content-Length: *([0-9]+)");
            if (end >= 0 && length.Success && Encoding.UTF8.GetByteCount(text[(end + 4)..]) >= int.Parse(length.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
            {
                break;
            }
        }
        return Encoding.UTF8.GetString(received.ToArray());
    }
}
