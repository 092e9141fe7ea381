using System.Security.Claims;
using McpEdge.Security;

namespace McpEdge.Tests.Security;

/// <summary>The validated-token cache: a token is taken again without validation until its <c>exp</c>, at most 60 s, and the cache stays bounded.</summary>
public class ValidatedTokenCacheTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = Start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly ClaimsPrincipal Alice = new(new ClaimsIdentity([new Claim("sub", "alice")], "Bearer", "sub", null));

    [Fact]
    public void Token_IsKeptForMaxAge_WhenItExpiresLater()
    {
        var clock = new Clock();
        var cache = new ValidatedTokenCache(clock);
        cache.Add("t", Alice, (Start + TimeSpan.FromHours(1)).UtcDateTime);

        clock.Now = Start + ValidatedTokenCache.MaxAge - TimeSpan.FromMilliseconds(1);
        Assert.True(cache.TryGet("t", out var principal));
        Assert.Same(Alice, principal);
        Assert.False(cache.TryGet("other", out _));

        clock.Now = Start + ValidatedTokenCache.MaxAge;
        Assert.False(cache.TryGet("t", out _));
    }

    [Fact]
    public void Token_IsNeverTakenPastItsExp()
    {
        var clock = new Clock();
        var cache = new ValidatedTokenCache(clock);
        cache.Add("t", Alice, (Start + TimeSpan.FromSeconds(10)).UtcDateTime);

        clock.Now = Start + TimeSpan.FromSeconds(9);
        Assert.True(cache.TryGet("t", out _));
        clock.Now = Start + TimeSpan.FromSeconds(10);
        Assert.False(cache.TryGet("t", out _));
    }

    [Fact]
    public void FullCache_DropsExpiredEntriesFirst_ThenEverything_AndStaysBounded()
    {
        var clock = new Clock();
        var cache = new ValidatedTokenCache(clock);
        for (var i = 0; i < ValidatedTokenCache.MaxEntries - 1; i++)
        {
            cache.Add("short-" + i, Alice, (Start + TimeSpan.FromSeconds(1)).UtcDateTime);
        }
        cache.Add("long", Alice, (Start + TimeSpan.FromHours(1)).UtcDateTime);

        clock.Now = Start + TimeSpan.FromSeconds(2); // every "short" entry has expired
        cache.Add("new", Alice, (Start + TimeSpan.FromHours(1)).UtcDateTime);
        Assert.True(cache.TryGet("long", out _)); // the live one survived the purge
        Assert.True(cache.TryGet("new", out _));

        for (var i = 0; i < ValidatedTokenCache.MaxEntries; i++)
        {
            cache.Add("live-" + i, Alice, (Start + TimeSpan.FromHours(1)).UtcDateTime);
        }
        // Full of live entries: the next insert started over, so at most MaxEntries are ever held.
        Assert.False(cache.TryGet("long", out _));
        Assert.True(cache.TryGet("live-" + (ValidatedTokenCache.MaxEntries - 1), out _));
    }
}
