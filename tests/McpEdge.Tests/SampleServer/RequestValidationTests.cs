using System.Net;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.SampleServer;

/// <summary>
/// The sample server answers a client's malformed message with a JSON-RPC error and a 4xx, never a
/// 500: members of the wrong JSON type are -32602 (Invalid params), a method that is not a string is
/// -32600 (Invalid Request), as JSON-RPC 2.0 §5.1 defines them.
/// </summary>
public class RequestValidationTests
{
    private static async Task<(HttpStatusCode Status, JsonElement Error)> PostAsync(HttpClient client, string url, string body, string? session = null)
    {
        using var response = await client.SendAsync(Mcp.Post(url, body, session));
        var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return (response.StatusCode, answer.GetProperty("error").Clone());
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":20250618,"capabilities":{}}}""", -32602)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":["2025-06-18"]}""", -32602)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":42}""", -32600)]
    public async Task WronglyTypedMembers_Get400WithTheJsonRpcCode(string body, int code)
    {
        await using var server = await TestSampleServer.StartAsync();
        using var client = new HttpClient();

        var (status, error) = await PostAsync(client, server.Url, body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(code, error.GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task ToolArgumentOfTheWrongType_Gets400InvalidParams_AndTheSessionStillWorks()
    {
        await using var server = await TestSampleServer.StartAsync();
        using var client = new HttpClient();
        using var initialize = await client.SendAsync(Mcp.Post(server.Url,
            """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"""));
        var session = initialize.Headers.GetValues("Mcp-Session-Id").Single();

        var (status, error) = await PostAsync(client, server.Url,
            """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":"one","b":2}}}""", session);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(-32602, error.GetProperty("code").GetInt32());

        using var ok = await client.SendAsync(Mcp.Post(server.Url,
            """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}""", session));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Contains("3", await ok.Content.ReadAsStringAsync());
    }
}
