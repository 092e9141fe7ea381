using System.Text;
using McpEdge.Protocol;

namespace McpEdge.Tests.Health;

public class JsonRpcMethodPeekTests
{
    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"method":"nested"}}""", "initialize")]
    [InlineData("""{"params":{"method":"nested","x":[1,{"method":"deep"}]},"method":"tools/list","id":"a"}""", "tools/list")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"result":{}}""", null)]
    [InlineData("""[{"jsonrpc":"2.0","id":1,"method":"ping"}]""", null)]
    [InlineData("""{"method":42}""", null)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping" """, "ping")]
    [InlineData("""{"jsonrpc":"2.0","id":1,""", null)]
    [InlineData("not json", null)]
    [InlineData("", null)]
    public void TryGetMethod_ReadsTopLevelMethodOnly(string json, string? expected) =>
        Assert.Equal(expected, JsonRpcMethodPeek.TryGetMethod(Encoding.UTF8.GetBytes(json)));
}
