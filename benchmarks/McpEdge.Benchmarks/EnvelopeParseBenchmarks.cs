using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using McpEdge.Protocol;

namespace McpEdge.Benchmarks;

/// <summary>
/// One <see cref="JsonRpcEnvelope.Parse"/> of a 1 KiB <c>tools/call</c> (the <c>_meta</c> of MCP
/// 2026-07-28 and arguments padding it to 1024 bytes), with the tool name read back. Target
/// (issue 4): under 2 µs and no allocation beyond the pooled body buffer.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(InProcessConfig))]
public class EnvelopeParseBenchmarks
{
    private byte[] _toolsCall = null!;
    private byte[] _toolsList = null!;

    /// <summary>Builds the messages.</summary>
    [GlobalSetup]
    public void Setup()
    {
        const string head = """{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1.0.0"},"progressToken":"p-42"},"name":"get_weather","arguments":{"location":"Seattle, WA","units":"metric","notes":" """;
        const string tail = "\"}}}";
        _toolsCall = Encoding.UTF8.GetBytes(head + new string('x', 1024 - head.Length - tail.Length) + tail);
        _toolsList = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"cursor":"eyJvZmZzZXQiOjUwfQ=="}}""");
        if (_toolsCall.Length != 1024 || Parse1KiBToolsCall() != JsonRpcKind.Request)
        {
            throw new InvalidOperationException($"setup: {_toolsCall.Length} bytes");
        }
    }

    /// <summary>Parse a 1 KiB <c>tools/call</c> and compare its tool name (without allocating).</summary>
    [Benchmark]
    public JsonRpcKind Parse1KiBToolsCall()
    {
        JsonRpcEnvelope.Parse(_toolsCall, 64, out var envelope, out _);
        return envelope.Method == McpMethods.ToolsCall ? envelope.Kind : JsonRpcKind.None;
    }

    /// <summary>Parse a small <c>tools/list</c> with a cursor.</summary>
    [Benchmark]
    public JsonRpcKind ParseToolsList()
    {
        JsonRpcEnvelope.Parse(_toolsList, 64, out var envelope, out _);
        return envelope.Kind;
    }
}
