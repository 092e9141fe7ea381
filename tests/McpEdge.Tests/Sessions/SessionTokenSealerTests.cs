using System.Buffers.Text;
using McpEdge.Configuration;
using McpEdge.Sessions;

namespace McpEdge.Tests.Sessions;

public class SessionTokenSealerTests
{
    private static readonly byte[] KeyA = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] KeyB = Enumerable.Range(101, 32).Select(i => (byte)i).ToArray();

    private static SessionTokenSealer Sealer(params byte[][] keys) => new(SessionKeyRing.FromRawKeys(keys));

    [Fact]
    public void SealThenOpen_RoundTrip_RestoresReplicaAndUpstreamId()
    {
        using var sealer = Sealer(KeyA);
        var token = sealer.Seal(SessionTokenKind.StreamableHttp, "github", "10.0.0.5:3001/mcp", "9f1c-upstream-é");

        Assert.True(sealer.TryOpen(SessionTokenKind.StreamableHttp, "github", token, out var target));
        Assert.Equal(new SessionTarget("10.0.0.5:3001/mcp", "9f1c-upstream-é"), target);
    }

    [Fact]
    public void Seal_SameInput_DifferentTokensOfVisibleAscii()
    {
        using var sealer = Sealer(KeyA);
        var first = sealer.Seal(SessionTokenKind.StreamableHttp, "s", "d", "u");
        var second = sealer.Seal(SessionTokenKind.StreamableHttp, "s", "d", "u");

        Assert.NotEqual(first, second);
        // MCP: a session id must contain only visible ASCII (0x21-0x7E).
        Assert.All(first, c => Assert.InRange(c, '\x21', '\x7E'));
    }

    [Fact]
    public void TryOpen_AnyFlippedByte_Fails()
    {
        using var sealer = Sealer(KeyA);
        var bytes = Base64Url.DecodeFromChars(sealer.Seal(SessionTokenKind.StreamableHttp, "s", "replica", "upstream-session"));
        for (var i = 0; i < bytes.Length; i++)
        {
            var tampered = (byte[])bytes.Clone();
            tampered[i] ^= 0x01;
            Assert.False(sealer.TryOpen(SessionTokenKind.StreamableHttp, "s", Base64Url.EncodeToString(tampered), out _), $"byte {i}");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("not base64 at all!")]
    [InlineData("AAAA")]
    [InlineData("AQ")]
    [InlineData("==")]
    public void TryOpen_Malformed_FailsWithoutThrowing(string token)
    {
        using var sealer = Sealer(KeyA);
        Assert.False(sealer.TryOpen(SessionTokenKind.StreamableHttp, "s", token, out _));
    }

    [Fact]
    public void TryOpen_TooLong_Fails()
    {
        using var sealer = Sealer(KeyA);
        Assert.False(sealer.TryOpen(SessionTokenKind.StreamableHttp, "s", new string('A', SessionTokenSealer.MaxTokenLength + 1), out _));
    }

    [Fact]
    public void TryOpen_OtherServerOrKind_Fails()
    {
        using var sealer = Sealer(KeyA);
        var token = sealer.Seal(SessionTokenKind.StreamableHttp, "github", "d", "u");

        Assert.False(sealer.TryOpen(SessionTokenKind.StreamableHttp, "gitlab", token, out _));
        Assert.False(sealer.TryOpen(SessionTokenKind.LegacySse, "github", token, out _));
    }

    [Fact]
    public void TryOpen_WrongKey_Fails()
    {
        using var edgeA = Sealer(KeyA);
        using var edgeB = Sealer(KeyB);
        Assert.False(edgeB.TryOpen(SessionTokenKind.StreamableHttp, "s", edgeA.Seal(SessionTokenKind.StreamableHttp, "s", "d", "u"), out _));
    }

    [Fact]
    public void KeyRotation_NewKeyFirst_OpensOldTokensAndSealsWithNewKey()
    {
        using var before = Sealer(KeyA);
        using var during = Sealer(KeyB, KeyA);
        using var after = Sealer(KeyB);
        var oldToken = before.Seal(SessionTokenKind.StreamableHttp, "s", "d", "old");
        var newToken = during.Seal(SessionTokenKind.StreamableHttp, "s", "d", "new");

        Assert.True(during.TryOpen(SessionTokenKind.StreamableHttp, "s", oldToken, out var old));
        Assert.Equal("old", old.UpstreamValue);
        Assert.True(after.TryOpen(SessionTokenKind.StreamableHttp, "s", newToken, out _));
        Assert.False(before.TryOpen(SessionTokenKind.StreamableHttp, "s", newToken, out _));
        Assert.False(after.TryOpen(SessionTokenKind.StreamableHttp, "s", oldToken, out _));
    }

    [Fact]
    public void KeyRing_SameSecretOnTwoEdges_SharesSessions()
    {
        var options = new McpSessionOptions { Keys = ["correct horse battery staple, 32+ chars"] };
        using var edge1 = new SessionTokenSealer(SessionKeyRing.FromOptions(options));
        using var edge2 = new SessionTokenSealer(SessionKeyRing.FromOptions(options));

        Assert.True(edge2.TryOpen(SessionTokenKind.StreamableHttp, "s", edge1.Seal(SessionTokenKind.StreamableHttp, "s", "d", "u"), out _));
        Assert.False(edge1.IsEphemeral);
    }

    [Fact]
    public void KeyRing_NoKeys_EphemeralAndNotShared()
    {
        using var edge1 = new SessionTokenSealer(SessionKeyRing.FromOptions(new McpSessionOptions()));
        using var edge2 = new SessionTokenSealer(SessionKeyRing.FromOptions(new McpSessionOptions()));

        Assert.True(edge1.IsEphemeral);
        Assert.False(edge2.TryOpen(SessionTokenKind.StreamableHttp, "s", edge1.Seal(SessionTokenKind.StreamableHttp, "s", "d", "u"), out _));
    }

    [Fact]
    public void KeyRing_KeyFile_ReadsSecretsSkippingCommentsAndNamesBadLine()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(file, ["# rotated 2026-11-01", "", "a-secret-of-at-least-thirty-two-chars!!", "short"]);
            var ex = Assert.Throws<McpEdgeConfigurationException>(() => SessionKeyRing.FromOptions(new McpSessionOptions { KeyFile = file }));
            Assert.Contains("line 4", Assert.Single(ex.Errors));

            File.WriteAllLines(file, ["# rotated 2026-11-01", "a-secret-of-at-least-thirty-two-chars!!", "another-secret-of-at-least-thirty-two-chars"]);
            Assert.Equal(2, SessionKeyRing.FromOptions(new McpSessionOptions { KeyFile = file }).Keys.Count);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task SealAndOpen_Concurrently_AllRoundTrip()
    {
        using var sealer = Sealer(KeyA, KeyB);
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 2_000; i++)
            {
                var value = $"{t}-{i}";
                if (!sealer.TryOpen(SessionTokenKind.StreamableHttp, "s", sealer.Seal(SessionTokenKind.StreamableHttp, "s", "d", value), out var target) || target.UpstreamValue != value)
                {
                    return false;
                }
            }
            return true;
        })));
        Assert.All(results, Assert.True);
    }
}
