using System.Text;
using McpEdge.LoadBalancing;

namespace McpEdge.Tests.LoadBalancing;

public class XxHash64Tests
{
    // Expected values from the reference implementation (libxxhash 0.8.1, XXH64).
    [Theory]
    [InlineData("", 0UL, 0xEF46DB3751D8E999UL)]
    [InlineData("a", 0UL, 0xD24EC4F1A98C6E5BUL)]
    [InlineData("abc", 0UL, 0x44BC2CF5AD770999UL)]
    [InlineData("message digest", 0UL, 0x066ED728FCEEB3BEUL)]
    [InlineData("The quick brown fox jumps over the lazy dog", 0UL, 0x0B242D361FDA71BCUL)]
    [InlineData("abc", 42UL, 0x13C1D910702770E6UL)]
    public void Hash_MatchesReferenceVectors(string input, ulong seed, ulong expected) =>
        Assert.Equal(expected, XxHash64.Hash(Encoding.UTF8.GetBytes(input), seed));

    [Fact]
    public void Hash_HundredBytes_MatchesReference()
    {
        var bytes = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();
        Assert.Equal(0x6AC1E58032166597UL, XxHash64.Hash(bytes));
    }

    [Fact]
    public void HashUtf8_HashesUtf8Bytes_IncludingNonAscii_AndLongKeys()
    {
        Assert.Equal(0xD14038897982E021UL, XxHash64.HashUtf8("tools/call é漢"));
        var longKey = new string('k', 2000);
        Assert.Equal(XxHash64.Hash(Encoding.UTF8.GetBytes(longKey)), XxHash64.HashUtf8(longKey));
    }
}
