using System.Buffers.Binary;
using System.Buffers.Text;
using System.Net;
using McpEdge.Configuration;
using McpEdge.Sessions;
using McpEdge.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace McpEdge.Tests.Integration;

/// <summary>
/// Session keys change without a restart (<see cref="SessionKeyReloader"/>): the two-step rotation
/// across two edge replicas loses no session, a dropped key ends its sessions with 404, and a
/// change that does not derive leaves the keys in use.
/// </summary>
public class SessionKeyReloadTests
{
    private const string KeyA = "key A: a secret of at least thirty-two characters";
    private const string KeyB = "key B: another secret of at least thirty-two chars";

    private static string Hex(string secret) => SessionKeyRing.FromOptions(new McpSessionOptions { Keys = [secret] }).Keys[0].Hex;

    /// <summary>The key id a token names (its bytes 1–2, SessionTokenSealer's layout).</summary>
    private static string KeyIdOf(string token) =>
        BinaryPrimitives.ReadUInt16BigEndian(Base64Url.DecodeFromChars(token).AsSpan(1)).ToString("x4", System.Globalization.CultureInfo.InvariantCulture);

    private static Task<TestUpstream> ReplicaAsync() => TestUpstream.StartAsync(async (context, body) =>
    {
        if (body.Contains("\"initialize\""))
        {
            context.Response.Headers["Mcp-Session-Id"] = Guid.NewGuid().ToString("N");
        }
        await context.Response.WriteAsJsonAsync(new { jsonrpc = "2.0", id = 1, result = new { } });
    });

    private static async Task<string> InitializeAsync(TestEdge edge)
    {
        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Initialize));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.Headers.GetValues("Mcp-Session-Id").Single();
    }

    private static async Task<HttpStatusCode> PingAsync(TestEdge edge, string token)
    {
        using var response = await edge.Client.SendAsync(Mcp.Post("/mcp/s", Mcp.Call(2, "ping"), token));
        return response.StatusCode;
    }

    private static async Task WriteKeysAsync(string file, params string[] lines)
    {
        // As a Secret volume update does: a new file renamed over the old one.
        await File.WriteAllLinesAsync(file + ".next", lines);
        File.Move(file + ".next", file, overwrite: true);
    }

    [Fact]
    public async Task KeyFile_TwoStepRotationOnTwoEdges_NoSessionLost_ThenDroppedKeyEndsItsSessions()
    {
        var directory = Directory.CreateTempSubdirectory("mcpedge-keys-").FullName;
        var file1 = Path.Combine(directory, "edge1-keys");
        var file2 = Path.Combine(directory, "edge2-keys");
        await WriteKeysAsync(file1, KeyA);
        await WriteKeysAsync(file2, KeyA);
        var logs = new LogCollector(LogLevel.Information);
        await using var upstream = await ReplicaAsync();
        object Config(string keyFile) => new
        {
            Servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") },
            Sessions = new { KeyFile = keyFile, CheckInterval = "01:00:00" },
        };
        await using var edge1 = await TestEdge.StartAsync(Config(file1), (WebApplicationBuilder b) =>
        {
            b.Services.AddSingleton<ILoggerProvider>(logs);
            b.Logging.AddFilter<LogCollector>(null, LogLevel.Information); // the edge's tests log from Warning up
        });
        await using var edge2 = await TestEdge.StartAsync(Config(file2));
        var reloader1 = edge1.Services.GetRequiredService<SessionKeyReloader>();
        var reloader2 = edge2.Services.GetRequiredService<SessionKeyReloader>();
        try
        {
            var sessionA = await InitializeAsync(edge1);
            Assert.Equal(Hex(KeyA), KeyIdOf(sessionA));
            Assert.Equal(HttpStatusCode.OK, await PingAsync(edge2, sessionA));
            Assert.False(reloader1.Check()); // nothing changed

            // Step 1, on edge 1 first: the new key second. Edge 1 still seals with A, so edge 2 opens its new sessions.
            await WriteKeysAsync(file1, "# rotation step 1", KeyA, KeyB);
            Assert.True(reloader1.Check()); // what the timer does every Sessions:CheckInterval
            Assert.Equal(Hex(KeyA), KeyIdOf(await InitializeAsync(edge1)));
            await WriteKeysAsync(file2, KeyA, KeyB);
            Assert.True(reloader2.Check());

            // Step 2, on both: the new key seals. Sessions of either key open on either edge.
            await WriteKeysAsync(file1, KeyB, KeyA);
            await WriteKeysAsync(file2, KeyB, KeyA);
            Assert.True(reloader1.Check());
            Assert.True(reloader2.Check());
            var sessionB = await InitializeAsync(edge1);
            Assert.Equal(Hex(KeyB), KeyIdOf(sessionB));
            Assert.Equal(HttpStatusCode.OK, await PingAsync(edge2, sessionB));
            Assert.Equal(HttpStatusCode.OK, await PingAsync(edge2, sessionA));
            Assert.Equal(HttpStatusCode.OK, await PingAsync(edge1, sessionA));

            // Step 3: the old key goes; its sessions end with 404 (the client starts a new one), B's stay.
            await WriteKeysAsync(file1, KeyB);
            Assert.True(reloader1.Check());
            Assert.Equal(HttpStatusCode.NotFound, await PingAsync(edge1, sessionA));
            Assert.Equal(HttpStatusCode.OK, await PingAsync(edge1, sessionB));
            Assert.Contains(logs.Entries, e => e.Message.Contains($"key {Hex(KeyB)} seals new session ids, and tokens of 1 key(s) open ({Hex(KeyB)}; before: {Hex(KeyB)}, {Hex(KeyA)})", StringComparison.Ordinal));

            // Changes that do not derive, or leave no key, or cannot be read: the keys in use stay.
            using var totals = new MetricTotals(edge1.Services, "McpEdge.Sessions");
            await WriteKeysAsync(file1, KeyB, "too short");
            Assert.False(reloader1.Check());
            Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains($"line 2", StringComparison.Ordinal) && !e.Message.Contains("too short", StringComparison.Ordinal));
            await WriteKeysAsync(file1, "# emptied by mistake");
            Assert.False(reloader1.Check());
            Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("no key is left", StringComparison.Ordinal));
            Assert.Equal(2, totals["mcpedge.session.key_reloads"]);
            File.Delete(file1);
            Assert.False(reloader1.Check());
            Assert.Equal(HttpStatusCode.OK, await PingAsync(edge1, sessionB));
            Assert.Equal(Hex(KeyB), KeyIdOf(await InitializeAsync(edge1)));

            var metrics = await edge1.Client.GetStringAsync("/metrics");
            Assert.Contains($"mcpedge_session_keys{{key_id=\"{Hex(KeyB)}\",role=\"sealing\"", metrics, StringComparison.Ordinal);
            Assert.DoesNotContain($"key_id=\"{Hex(KeyA)}\"", metrics, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task ConfiguredKeys_ReplaceTheRandomKey_OnReload_AndItsSessionsKeepOpening()
    {
        await using var upstream = await ReplicaAsync();
        var servers = new { s = Mcp.Server(upstreams: upstream.Url + "/mcp") };
        await using var edge = await TestEdge.StartAsync(new { Servers = servers });
        var state = edge.Services.GetRequiredService<McpEdgeConfigState>();
        var sealer = edge.Services.GetRequiredService<SessionTokenSealer>();
        Assert.True(sealer.IsEphemeral);
        var before = await InitializeAsync(edge);

        // The reloader handles Changed before this handler (it subscribed first, at start-up).
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        state.Changed += _ => changed.TrySetResult();
        await edge.WriteConfigAsync(new { Servers = servers, Sessions = new { Keys = new[] { KeyA } } });
        await changed.Task.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.False(sealer.IsEphemeral);
        var after = await InitializeAsync(edge);
        Assert.Equal(Hex(KeyA), KeyIdOf(after));
        Assert.Equal(HttpStatusCode.OK, await PingAsync(edge, after));
        Assert.Equal(HttpStatusCode.OK, await PingAsync(edge, before)); // the random key stays last, to open
        Assert.Equal(2, sealer.Ring.Keys.Count);

        // And through later changes, for as long as the process runs.
        changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await edge.WriteConfigAsync(new { Servers = servers, Sessions = new { Keys = new[] { KeyB, KeyA } } });
        await changed.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(Hex(KeyB), KeyIdOf(await InitializeAsync(edge)));
        Assert.Equal(HttpStatusCode.OK, await PingAsync(edge, before));
        Assert.Equal(HttpStatusCode.OK, await PingAsync(edge, after));
        Assert.Equal(3, sealer.Ring.Keys.Count);
    }
}
