using McpEdge.SampleServer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace McpEdge.Tests.Infrastructure;

/// <summary>The bundled sample MCP server (<see cref="SampleMcpServer"/>) in the test process on 127.0.0.1, one ephemeral port.</summary>
public sealed class TestSampleServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestSampleServer(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>The MCP endpoint, <c>http://127.0.0.1:{port}/mcp</c>.</summary>
    public string Url { get; }

    /// <summary>Starts the sample server; <paramref name="args"/> are added to its command line (e.g. <c>--Kestrel:EndpointDefaults:Protocols=Http2</c>).</summary>
    public static async Task<TestSampleServer> StartAsync(params string[] args)
    {
        var app = SampleMcpServer.Build(["--urls", "http://127.0.0.1:0", .. args]);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new TestSampleServer(app, address + "/mcp");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
