using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace McpEdge.Protocol;

/// <summary>What a JSON-RPC 2.0 message is (JSON-RPC 2.0 §4–6; MCP 2025-11-25 <c>basic/index.mdx</c>, "Messages").</summary>
public enum JsonRpcKind
{
    /// <summary>Not parsed, or not valid.</summary>
    None,
    /// <summary>A request: <c>method</c> and a non-null <c>id</c> (string or number).</summary>
    Request,
    /// <summary>A notification: <c>method</c> and no <c>id</c>.</summary>
    Notification,
    /// <summary>A response to a server request: <c>result</c> or <c>error</c> and an <c>id</c>.</summary>
    Response,
    /// <summary>A JSON array of messages (JSON-RPC batch; MCP 2025-03-26 only).</summary>
    Batch,
}

/// <summary>The outcome of <see cref="JsonRpcEnvelope.Parse"/>.</summary>
public enum JsonRpcParseStatus
{
    /// <summary>A valid message or batch.</summary>
    Ok,
    /// <summary>Not JSON (or not UTF-8, or nested deeper than allowed): JSON-RPC -32700, HTTP 400.</summary>
    ParseError,
    /// <summary>
    /// JSON, but not a JSON-RPC message, or an ambiguous one (a member the edge reads given twice):
    /// JSON-RPC -32600, HTTP 400.
    /// </summary>
    InvalidRequest,
    /// <summary>
    /// A message whose <c>params</c> member that the edge acts on has the wrong type for its method
    /// (<c>name</c> of <c>tools/call</c>/<c>prompts/get</c>, <c>uri</c> of <c>resources/read</c>,
    /// <c>cursor</c> of a list method not a string): JSON-RPC -32602 Invalid params, HTTP 400.
    /// </summary>
    InvalidParams,
}

/// <summary>
/// The top level of one JSON-RPC message, read in one pass with <see cref="Utf8JsonReader"/> over
/// the request body and kept as offsets into it: kind, <c>id</c> (raw JSON), <c>method</c>, and in
/// <c>params</c> the <c>name</c> (<c>tools/call</c>, <c>prompts/get</c>), <c>uri</c>
/// (<c>resources/read</c>) and <c>cursor</c> (list methods). Everything else is skipped.
/// </summary>
/// <remarks>
/// <para>
/// What the edge decides on must be what the upstream executes, so a message that could be read two
/// ways is refused: a member the edge reads (<c>jsonrpc</c>, <c>id</c>, <c>method</c>, <c>params</c>,
/// <c>result</c>, <c>error</c>; in <c>params</c>: <c>name</c>, <c>uri</c>, <c>cursor</c>, <c>_meta</c>)
/// given twice is <see cref="JsonRpcParseStatus.InvalidRequest"/> (RFC 8259 §4 leaves duplicate names
/// to each parser, some take the first and some the last; RFC 7493 §2.3 forbids them), and a
/// <c>name</c>, <c>uri</c> or <c>cursor</c> that its method defines as a string but that holds a
/// number, object, array or boolean is <see cref="JsonRpcParseStatus.InvalidParams"/> (MCP 2025-11-25
/// <c>schema.json</c>: <c>CallToolRequestParams</c>, <c>GetPromptRequestParams</c>,
/// <c>ReadResourceRequestParams</c>, <c>PaginatedRequestParams</c>; 2026-07-28
/// <c>server/utilities/pagination.mdx</c>: invalid cursors get -32602). Otherwise a tool-specific
/// rate limit would count a message without its tool name that a lenient upstream still runs.
/// <c>null</c> counts as absent. Members nested deeper (a tool's <c>arguments</c>) are not looked at.
/// </para>
/// <para>
/// Parsing allocates nothing for the methods MCP defines (their names are interned, see
/// <see cref="McpMethods"/>); the name, cursor and an unknown method are turned into strings only
/// when asked. The offsets refer to the buffer given to <see cref="Parse"/>, which must outlive the
/// envelope.
/// </para>
/// </remarks>
public readonly struct JsonRpcEnvelope
{
    private readonly int _idStart;
    private readonly int _idLength;
    private readonly int _nameStart;
    private readonly int _nameLength;
    private readonly int _uriStart;
    private readonly int _uriLength;
    private readonly int _cursorStart;
    private readonly int _cursorLength;
    private readonly int _metaStart;
    private readonly int _metaLength;

    private JsonRpcEnvelope(JsonRpcKind kind, string? method, int batchCount, (int Start, int Length) id, (int, int) name, (int, int) uri, (int, int) cursor,
        bool paramsBeyondCursor = false, (int, int) meta = default)
    {
        (_metaStart, _metaLength) = meta;
        ParamsBeyondCursor = paramsBeyondCursor;
        Kind = kind;
        Method = method;
        BatchCount = batchCount;
        (_idStart, _idLength) = id;
        (_nameStart, _nameLength) = name;
        (_uriStart, _uriLength) = uri;
        (_cursorStart, _cursorLength) = cursor;
    }

    /// <summary>The kind of message.</summary>
    public JsonRpcKind Kind { get; }

    /// <summary>The <c>method</c> of a request or notification, else null.</summary>
    public string? Method { get; }

    /// <summary>
    /// True when <c>params</c> holds a member other than <c>cursor</c> and <c>_meta</c> (or is not an
    /// object): such a list request depends on more than its cursor and is not cached (MCP
    /// 2026-07-28 server/utilities/caching.mdx, e.g. <c>inputResponses</c>, <c>requestState</c>).
    /// </summary>
    public bool ParamsBeyondCursor { get; }

    /// <summary>For a batch, the number of elements.</summary>
    public int BatchCount { get; }

    /// <summary>True when the message has an <c>id</c> (a string or number; for a response also <c>null</c>).</summary>
    public bool HasId => _idLength > 0;

    /// <summary>Where the raw <c>id</c> starts in the body (0 with <see cref="IdLength"/> 0 when absent).</summary>
    public int IdOffset => _idStart;

    /// <summary>The raw <c>id</c>'s length in bytes (0 when absent).</summary>
    public int IdLength => _idLength;

    /// <summary>The <c>id</c> exactly as sent (raw JSON: <c>1</c>, <c>"a"</c>), empty when there is none.</summary>
    public ReadOnlySpan<byte> RawId(ReadOnlySpan<byte> body) => body.Slice(_idStart, _idLength);

    /// <summary>
    /// The name a request targets, as the <c>Mcp-Name</c> header mirrors it (MCP 2026-07-28
    /// <c>basic/transports/streamable-http.mdx</c>): <c>params.name</c> for <c>tools/call</c> and
    /// <c>prompts/get</c>, <c>params.uri</c> for <c>resources/read</c>; null for other methods or
    /// when absent. Allocates the string.
    /// </summary>
    public string? GetName(ReadOnlySpan<byte> body) => Method switch
    {
        McpMethods.ToolsCall or McpMethods.PromptsGet => StringAt(body, _nameStart, _nameLength),
        McpMethods.ResourcesRead => StringAt(body, _uriStart, _uriLength),
        _ => null,
    };

    /// <summary>
    /// <c>params.uri</c> of any request (<c>resources/read</c>, <c>resources/subscribe</c>,
    /// <c>resources/unsubscribe</c>), or null when absent or not a string. Allocates the string.
    /// </summary>
    public string? GetUri(ReadOnlySpan<byte> body) => StringAt(body, _uriStart, _uriLength);

    /// <summary>Where <c>params._meta</c> (a JSON object) starts in the body; 0 with <see cref="MetaLength"/> 0 when absent.</summary>
    public int MetaOffset => _metaStart;

    /// <summary>The raw <c>params._meta</c> object's length in bytes (0 when absent or not an object).</summary>
    public int MetaLength => _metaLength;

    /// <summary><c>params.cursor</c> (pagination, MCP 2025-11-25 <c>server/utilities/pagination.mdx</c>), or null. Allocates the string.</summary>
    public string? GetCursor(ReadOnlySpan<byte> body) => StringAt(body, _cursorStart, _cursorLength);

    /// <summary>
    /// Parses <paramref name="body"/> (one JSON value, UTF-8). On <see cref="JsonRpcParseStatus.Ok"/>
    /// <paramref name="envelope"/> describes it; otherwise <paramref name="reason"/> says what is
    /// wrong (a constant string, for the error message and the log) and <paramref name="envelope"/>
    /// carries the <c>id</c> if it was read before the fault.
    /// </summary>
    /// <param name="body">The whole message.</param>
    /// <param name="maxDepth">The deepest nesting accepted (JSON objects and arrays); deeper input is a parse error.</param>
    /// <param name="envelope">The message's top level.</param>
    /// <param name="reason">Why the message was refused, or null.</param>
    public static JsonRpcParseStatus Parse(ReadOnlySpan<byte> body, int maxDepth, out JsonRpcEnvelope envelope, out string? reason)
    {
        envelope = default;
        reason = null;
        if (!Utf8.IsValid(body))
        {
            reason = "the body is not valid UTF-8";
            return JsonRpcParseStatus.ParseError;
        }
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = maxDepth });
        try
        {
            if (!reader.Read())
            {
                reason = "the body is empty";
                return JsonRpcParseStatus.ParseError;
            }
            JsonRpcParseStatus status;
            if (reader.TokenType == JsonTokenType.StartArray)
            {
                var count = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    reader.Skip();
                    count++;
                }
                envelope = new JsonRpcEnvelope(JsonRpcKind.Batch, null, count, default, default, default, default);
                status = count == 0 ? Invalid(out reason, "an empty batch") : JsonRpcParseStatus.Ok;
            }
            else if (reader.TokenType == JsonTokenType.StartObject)
            {
                status = ParseObject(ref reader, out envelope, out reason);
            }
            else
            {
                status = Invalid(out reason, "a message must be a JSON object (or an array of them)");
                reader.Skip();
            }
            // Anything after the value is a syntax error (the reader throws).
            if (reader.Read())
            {
                reason = "content after the JSON value";
                return JsonRpcParseStatus.ParseError;
            }
            return status;
        }
        catch (JsonException)
        {
            // The reader stops at the last level it accepted when the next one is too deep.
            reason = reader.CurrentDepth >= maxDepth - 1 ? $"nested deeper than {maxDepth}" : "malformed JSON";
            return JsonRpcParseStatus.ParseError;
        }
    }

    private static JsonRpcParseStatus ParseObject(ref Utf8JsonReader reader, out JsonRpcEnvelope envelope, out string? reason)
    {
        reason = null;
        string? fault = null;
        var version = false;
        string? method = null;
        (int, int) id = default, name = default, uri = default, cursor = default, meta = default;
        var idIsNull = false;
        var paramsBeyondCursor = false;
        var hasResult = false;
        var hasError = false;
        var hasMethod = false;
        var seen = 0;
        var paramsNotString = 0;

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("jsonrpc"u8))
            {
                fault ??= Once(ref seen, 1, "duplicate member \"jsonrpc\"");
                reader.Read();
                version = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("2.0"u8);
                reader.Skip();
            }
            else if (reader.ValueTextEquals("id"u8))
            {
                fault ??= Once(ref seen, 2, "duplicate member \"id\"");
                reader.Read();
                switch (reader.TokenType)
                {
                    case JsonTokenType.String or JsonTokenType.Number:
                        id = ((int)reader.TokenStartIndex, (int)(reader.BytesConsumed - reader.TokenStartIndex));
                        idIsNull = false;
                        break;
                    case JsonTokenType.Null:
                        id = ((int)reader.TokenStartIndex, 4);
                        idIsNull = true;
                        break;
                    default:
                        fault ??= "id must be a string or a number";
                        reader.Skip();
                        break;
                }
            }
            else if (reader.ValueTextEquals("method"u8))
            {
                fault ??= Once(ref seen, 4, "duplicate member \"method\"");
                reader.Read();
                hasMethod = true;
                if (reader.TokenType == JsonTokenType.String)
                {
                    method = McpMethods.Intern(ref reader);
                }
                else
                {
                    fault ??= "method must be a string";
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("params"u8))
            {
                fault ??= Once(ref seen, 8, "duplicate member \"params\"");
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    paramsBeyondCursor = ScanParams(ref reader, ref name, ref uri, ref cursor, ref meta, ref paramsNotString, ref fault);
                }
                else if (reader.TokenType == JsonTokenType.StartArray)
                {
                    paramsBeyondCursor = true;
                    reader.Skip(); // JSON-RPC allows positional params; MCP never uses them.
                }
                else
                {
                    fault ??= "params must be an object";
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("result"u8))
            {
                fault ??= Once(ref seen, 16, "duplicate member \"result\"");
                hasResult = true;
                reader.Read();
                reader.Skip();
            }
            else if (reader.ValueTextEquals("error"u8))
            {
                fault ??= Once(ref seen, 32, "duplicate member \"error\"");
                hasError = true;
                reader.Read();
                reader.Skip();
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        JsonRpcKind kind;
        if (fault is not null)
        {
            kind = JsonRpcKind.None;
        }
        else if (!version)
        {
            (kind, fault) = (JsonRpcKind.None, "jsonrpc must be \"2.0\"");
        }
        else if (hasMethod)
        {
            (kind, fault) = hasResult || hasError ? (JsonRpcKind.None, "a message has either a method or a result/error")
                : idIsNull ? (JsonRpcKind.None, "a request id must not be null")
                : (id.Item2 > 0 ? JsonRpcKind.Request : JsonRpcKind.Notification, null);
        }
        else if (hasResult != hasError && (id.Item2 > 0))
        {
            (kind, fault) = (JsonRpcKind.Response, null);
        }
        else
        {
            (kind, fault) = (JsonRpcKind.None, "a message needs a method, or an id with a result or an error");
        }

        envelope = new JsonRpcEnvelope(kind, method, 0, idIsNull && kind == JsonRpcKind.None ? default : id, name, uri, cursor, paramsBeyondCursor, meta);
        if (fault is not null)
        {
            return Invalid(out reason, fault);
        }
        var paramsFault = paramsNotString == 0 ? null : method switch
        {
            McpMethods.ToolsCall or McpMethods.PromptsGet when (paramsNotString & NameMember) != 0 => "params.name must be a string",
            McpMethods.ResourcesRead or McpMethods.ResourcesSubscribe or McpMethods.ResourcesUnsubscribe
                when (paramsNotString & UriMember) != 0 => "params.uri must be a string",
            McpMethods.ToolsList or McpMethods.PromptsList or McpMethods.ResourcesList or McpMethods.ResourceTemplatesList
                when (paramsNotString & CursorMember) != 0 => "params.cursor must be a string",
            _ => null,
        };
        if (paramsFault is not null)
        {
            reason = paramsFault;
            return JsonRpcParseStatus.InvalidParams;
        }
        return JsonRpcParseStatus.Ok;
    }

    private const int NameMember = 1, UriMember = 2, CursorMember = 4, MetaMember = 8;

    /// <summary>Marks the member <paramref name="bit"/> as seen; <paramref name="duplicate"/> when it was already.</summary>
    private static string? Once(ref int seen, int bit, string duplicate)
    {
        if ((seen & bit) != 0)
        {
            return duplicate;
        }
        seen |= bit;
        return null;
    }

    /// <summary>
    /// Records <c>name</c>, <c>uri</c> and <c>cursor</c> (string members directly in <c>params</c>) and
    /// where the <c>_meta</c> object is, and skips the rest; true when a member other than
    /// <c>cursor</c> and <c>_meta</c> was seen. Sets <paramref name="fault"/> (if unset) when one of
    /// those four is given twice, and the member's bit in <paramref name="notString"/> when
    /// <c>name</c>, <c>uri</c> or <c>cursor</c> holds neither a string nor <c>null</c>.
    /// </summary>
    private static bool ScanParams(ref Utf8JsonReader reader, ref (int, int) name, ref (int, int) uri, ref (int, int) cursor, ref (int, int) meta,
        ref int notString, ref string? fault)
    {
        var beyondCursor = false;
        var seen = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = reader.ValueTextEquals("name"u8) ? NameMember : reader.ValueTextEquals("uri"u8) ? UriMember
                : reader.ValueTextEquals("cursor"u8) ? CursorMember : reader.ValueTextEquals("_meta"u8) ? MetaMember : 0;
            beyondCursor |= member is not (CursorMember or MetaMember);
            if (member != 0)
            {
                fault ??= Once(ref seen, member, member switch
                {
                    NameMember => "duplicate member \"params.name\"",
                    UriMember => "duplicate member \"params.uri\"",
                    CursorMember => "duplicate member \"params.cursor\"",
                    _ => "duplicate member \"params._meta\"",
                });
            }
            reader.Read();
            if (member == MetaMember && reader.TokenType == JsonTokenType.StartObject)
            {
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                meta = (start, (int)(reader.BytesConsumed - start));
                continue;
            }
            if (member is 0 or MetaMember || reader.TokenType != JsonTokenType.String)
            {
                if (member is not (0 or MetaMember) && reader.TokenType != JsonTokenType.Null)
                {
                    notString |= member;
                }
                reader.Skip();
                continue;
            }
            var token = ((int)reader.TokenStartIndex, (int)(reader.BytesConsumed - reader.TokenStartIndex));
            switch (member)
            {
                case NameMember: name = token; break;
                case UriMember: uri = token; break;
                default: cursor = token; break;
            }
        }
        return beyondCursor;
    }

    /// <summary>
    /// The elements of a batch (a JSON array, already accepted by <see cref="Parse"/>) as
    /// (offset, length) ranges of <paramref name="body"/>, each one complete JSON value.
    /// </summary>
    public static List<(int Offset, int Length)> SplitBatch(ReadOnlySpan<byte> body, int maxDepth)
    {
        var elements = new List<(int, int)>();
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = maxDepth });
        reader.Read();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var start = (int)reader.TokenStartIndex;
            reader.Skip();
            elements.Add((start, (int)reader.BytesConsumed - start));
        }
        return elements;
    }

    /// <summary>
    /// The elements of a batch that are valid JSON-RPC messages with a <c>method</c> (requests and
    /// notifications), each with its envelope and its range of <paramref name="body"/>; invalid
    /// elements and responses are left out (the batch step answers those).
    /// </summary>
    public static List<(JsonRpcEnvelope Envelope, int Offset, int Length)> BatchMessages(ReadOnlySpan<byte> body, int maxDepth)
    {
        var messages = new List<(JsonRpcEnvelope, int, int)>();
        foreach (var (offset, length) in SplitBatch(body, maxDepth))
        {
            if (Parse(body.Slice(offset, length), maxDepth, out var envelope, out _) == JsonRpcParseStatus.Ok && envelope.Method is not null)
            {
                messages.Add((envelope, offset, length));
            }
        }
        return messages;
    }

    private static JsonRpcParseStatus Invalid(out string? reason, string why)
    {
        reason = why;
        return JsonRpcParseStatus.InvalidRequest;
    }

    /// <summary>The string value of the JSON string token at <paramref name="start"/> (quotes included in the range), unescaped.</summary>
    private static string? StringAt(ReadOnlySpan<byte> body, int start, int length)
    {
        if (length == 0)
        {
            return null;
        }
        var token = body.Slice(start, length);
        if (token[1..^1].IndexOf((byte)'\\') < 0)
        {
            return Encoding.UTF8.GetString(token[1..^1]);
        }
        var reader = new Utf8JsonReader(token);
        reader.Read();
        return reader.GetString();
    }
}
