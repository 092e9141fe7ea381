using System.Text;
using System.Text.Json;
using McpEdge.Protocol;

namespace McpEdge.Tests.Protocol;

public class JsonRpcEnvelopeTests
{
    private const int Depth = 64;

    public static TheoryData<string> SchemaExamples()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Protocol", "SchemaExamples"), "*.json", SearchOption.AllDirectories).Order())
        {
            data.Add(Path.GetRelativePath(Path.Combine(AppContext.BaseDirectory, "Protocol", "SchemaExamples"), file));
        }
        return data;
    }

    private static (JsonRpcParseStatus Status, JsonRpcEnvelope Envelope, string? Reason) Parse(string json) => Parse(Encoding.UTF8.GetBytes(json));

    private static (JsonRpcParseStatus Status, JsonRpcEnvelope Envelope, string? Reason) Parse(byte[] body)
    {
        var status = JsonRpcEnvelope.Parse(body, Depth, out var envelope, out var reason);
        return (status, envelope, reason);
    }

    [Theory]
    [MemberData(nameof(SchemaExamples))]
    public void SchemaExample_ParsesAsItsKind_WithMethodIdAndName(string example)
    {
        var body = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Protocol", "SchemaExamples", example));
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;

        var (status, envelope, reason) = Parse(body);

        Assert.True(status == JsonRpcParseStatus.Ok, reason);
        var folder = example.Split(Path.DirectorySeparatorChar)[0];
        var expected = folder.EndsWith("Request", StringComparison.Ordinal) ? JsonRpcKind.Request
            : folder.EndsWith("Notification", StringComparison.Ordinal) ? JsonRpcKind.Notification
            : JsonRpcKind.Response;
        Assert.Equal(expected, envelope.Kind);
        Assert.Equal(root.TryGetProperty("method", out var method) ? method.GetString() : null, envelope.Method);
        Assert.Equal(root.TryGetProperty("id", out var id) ? id.GetRawText() : "", Encoding.UTF8.GetString(envelope.RawId(body)));
        var name = envelope.Method switch
        {
            "tools/call" or "prompts/get" => root.GetProperty("params").GetProperty("name").GetString(),
            "resources/read" => root.GetProperty("params").GetProperty("uri").GetString(),
            _ => null,
        };
        Assert.Equal(name, envelope.GetName(body));
    }

    [Fact]
    public void KnownMethod_IsInterned_UnknownIsNot()
    {
        var known = Parse("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""").Envelope.Method;
        var unknown = Parse("""{"jsonrpc":"2.0","id":1,"method":"x/custom"}""").Envelope.Method;

        Assert.Same(McpMethods.ToolsList, known);
        Assert.Equal("x/custom", unknown);
    }

    [Fact]
    public void ParamsBeforeMethod_NameStillFound_NestedNamesIgnored()
    {
        var body = Encoding.UTF8.GetBytes("""{"params":{"_meta":{"name":"not this"},"arguments":{"name":"nor this"},"name":"get_\u0077eather"},"method":"tools/call","id":"a","jsonrpc":"2.0"}""");

        var (status, envelope, _) = Parse(body);

        Assert.Equal(JsonRpcParseStatus.Ok, status);
        Assert.Equal("get_weather", envelope.GetName(body));
        Assert.Equal("\"a\"", Encoding.UTF8.GetString(envelope.RawId(body)));
    }

    [Fact]
    public void Cursor_ReadFromParams()
    {
        var body = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"abc=="}}""");

        var (_, envelope, _) = Parse(body);

        Assert.Equal("abc==", envelope.GetCursor(body));
        Assert.Null(envelope.GetName(body));
    }

    [Fact]
    public void Batch_CountsElements()
    {
        var (status, envelope, _) = Parse("""[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]""");

        Assert.Equal(JsonRpcParseStatus.Ok, status);
        Assert.Equal(JsonRpcKind.Batch, envelope.Kind);
        Assert.Equal(3, envelope.BatchCount);
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"pi""")] // truncated inside a string
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,""")]
    [InlineData("""{"jsonrpc":"2.0",}""")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping"} trailing""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0","id":2,"method":"ping"}""")]
    [InlineData("""{'jsonrpc':'2.0'}""")]
    public void Malformed_ParseError(string json)
    {
        Assert.Equal(JsonRpcParseStatus.ParseError, Parse(json).Status);
    }

    [Fact]
    public void NotUtf8_ParseError()
    {
        var body = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"XX"}}""");
        var at = Array.IndexOf(body, (byte)'X');
        body[at] = 0xC3; // a lead byte followed by 'X': invalid UTF-8
        body[at + 1] = (byte)'(';

        var (status, _, reason) = Parse(body);

        Assert.Equal(JsonRpcParseStatus.ParseError, status);
        Assert.Contains("UTF-8", reason);
    }

    [Fact]
    public void TooDeep_ParseError_JustDeepEnough_Ok()
    {
        static string Nested(int depth) => """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":""" + new string('[', depth - 2) + new string(']', depth - 2) + "}}";

        Assert.Equal(JsonRpcParseStatus.Ok, Parse(Nested(Depth)).Status);
        var (status, _, reason) = Parse(Nested(Depth + 1));
        Assert.Equal(JsonRpcParseStatus.ParseError, status);
        Assert.Contains("deeper", reason);
    }

    [Theory]
    [InlineData("""{"jsonrpc":"1.0","id":1,"method":"ping"}""", "jsonrpc")]
    [InlineData("""{"id":1,"method":"ping"}""", "jsonrpc")]
    [InlineData("""{"jsonrpc":2.0,"id":1,"method":"ping"}""", "jsonrpc")]
    [InlineData("""{"jsonrpc":"2.0","id":true,"method":"ping"}""", "id")]
    [InlineData("""{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}""", "id")]
    [InlineData("""{"jsonrpc":"2.0","id":null,"method":"ping"}""", "null")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":7}""", "method")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}""", "params")]
    [InlineData("""{"jsonrpc":"2.0","id":1}""", "method")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"result":{},"error":{}}""", "method")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}""", "either")]
    [InlineData("""[]""", "empty batch")]
    [InlineData("""42""", "object")]
    [InlineData("\"ping\"", "object")]
    public void WrongTyped_InvalidRequest_WithReason(string json, string reasonPart)
    {
        var (status, _, reason) = Parse(json);

        Assert.Equal(JsonRpcParseStatus.InvalidRequest, status);
        Assert.Contains(reasonPart, reason);
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"ping"}""", "\"jsonrpc\"")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}""", "\"id\"")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}""", "\"method\"")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"},"params":{"name":"b"}}""", "\"params\"")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"result":{},"result":{}}""", "\"result\"")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"error":{},"error":{}}""", "\"error\"")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"safe","name":"delete_all"}}""", "\"params.name\"")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"safe","name":5}}""", "\"params.name\"")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"a:1","uri":"a:2"}}""", "\"params.uri\"")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"a","cursor":"b"}}""", "\"params.cursor\"")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{},"_meta":{}}}""", "\"params._meta\"")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"meth\u006fd":"tools/list","method":"tools/call"}""", "\"method\"")] // an escaped name is the same name
    public void DuplicateMember_TheEdgeReads_InvalidRequest(string json, string member)
    {
        var (status, _, reason) = Parse(json);

        Assert.Equal(JsonRpcParseStatus.InvalidRequest, status);
        Assert.Equal($"duplicate member {member}", reason);
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping","x":1,"x":2}""")] // not a member the edge reads
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"name":"b","name":"c"}}}""")] // nested deeper
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","_meta":{"k":1,"k":2}}}""")]
    public void DuplicateMember_TheEdgeDoesNotRead_Ok(string json)
    {
        Assert.Equal(JsonRpcParseStatus.Ok, Parse(json).Status);
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}""", "params.name")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":{"x":1}}}""", "params.name")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":true}}""", "params.uri")]
    [InlineData("""{"params":{"cursor":["a"]},"method":"resources/templates/list","id":1,"jsonrpc":"2.0"}""", "params.cursor")] // params before method
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":2}}""", "params.cursor")]
    public void NameUriOrCursor_NotAString_WhereTheMethodDefinesOne_InvalidParams(string json, string member)
    {
        var (status, envelope, reason) = Parse(json);

        Assert.Equal(JsonRpcParseStatus.InvalidParams, status);
        Assert.Equal($"{member} must be a string", reason);
        Assert.True(envelope.HasId); // the error answers the request's id
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"x/custom","params":{"name":5,"uri":{},"cursor":[]}}""")] // a method the edge knows nothing of
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","uri":5,"cursor":{}}}""")] // members tools/call does not define
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":null}}""")] // null is absent
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":null}}""")]
    public void NameUriOrCursor_OtherMethodsOrNull_Ok(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);

        var (status, envelope, _) = Parse(body);

        Assert.Equal(JsonRpcParseStatus.Ok, status);
        Assert.Null(envelope.GetCursor(body));
    }

    [Fact]
    public void InvalidRequest_KeepsTheIdForTheError()
    {
        var body = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":"req-9","method":7}""");

        var (status, envelope, _) = Parse(body);

        Assert.Equal(JsonRpcParseStatus.InvalidRequest, status);
        Assert.Equal("\"req-9\"", Encoding.UTF8.GetString(envelope.RawId(body)));
    }

    [Fact]
    public void Kinds_RequestNotificationResponse()
    {
        Assert.Equal(JsonRpcKind.Request, Parse("""{"jsonrpc":"2.0","id":0,"method":"ping"}""").Envelope.Kind);
        Assert.Equal(JsonRpcKind.Notification, Parse("""{"jsonrpc":"2.0","method":"notifications/initialized"}""").Envelope.Kind);
        Assert.Equal(JsonRpcKind.Response, Parse("""{"jsonrpc":"2.0","id":"s1","result":{}}""").Envelope.Kind);
        Assert.Equal(JsonRpcKind.Response, Parse("""{"jsonrpc":"2.0","id":"s1","error":{"code":-1,"message":"no"}}""").Envelope.Kind);
    }
}
