using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace McpEdge.Tests.Infrastructure;

/// <summary>What a <see cref="TestUpstream"/> received.</summary>
public sealed record RecordedRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>An upstream the test controls: real Kestrel on 127.0.0.1 with an ephemeral port, recording every request.</summary>
public sealed class TestUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestUpstream(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    /// <summary><c>http://127.0.0.1:{port}</c>.</summary>
    public string Url { get; }

    /// <summary>The port.</summary>
    public int Port => new Uri(Url).Port;

    /// <summary>Every request received, in order.</summary>
    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>Starts an upstream whose every request is recorded (body read first) and then handled by <paramref name="handler"/>.</summary>
    /// <param name="handler">Answers each request, given its body.</param>
    /// <param name="http2Only">Serve cleartext HTTP/2 with prior knowledge only (an edge with <c>UpstreamHttpVersion: "2"</c>).</param>
    /// <param name="https">Serve https (<c>https://127.0.0.1:{port}</c>) with these settings: certificate, client certificates.</param>
    /// <param name="url">Listen here instead of an ephemeral port on 127.0.0.1, e.g. <c>http://127.0.0.2:{port}</c> (another loopback address, as another pod behind one DNS name).</param>
    public static async Task<TestUpstream> StartAsync(Func<HttpContext, string, Task> handler, bool http2Only = false, Action<HttpsConnectionAdapterOptions>? https = null, string? url = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url ?? (https is null ? "http://127.0.0.1:0" : "https://127.0.0.1:0"));
        if (https is not null)
        {
            builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves https:// addresses out
            builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(https));
        }
        if (http2Only)
        {
            builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(l => l.Protocols = HttpProtocols.Http2));
        }
        builder.Logging.ClearProviders();
        var app = builder.Build();
        TestUpstream? self = null;
        app.Run(async context =>
        {
            var body = await new StreamReader(context.Request.Body).ReadToEndAsync(context.RequestAborted);
            self!.Requests.Enqueue(new RecordedRequest(
                context.Request.Method,
                context.Request.Path + context.Request.QueryString,
                context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                body));
            await handler(context, body);
        });
        await app.StartAsync();
        self = new TestUpstream(app, app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
        return self;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(1)).Token);
        await _app.DisposeAsync();
    }
}
