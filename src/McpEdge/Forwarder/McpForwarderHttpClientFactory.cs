using System.Globalization;
using McpEdge.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace McpEdge.Forwarder;

/// <summary>
/// YARP's <see cref="ForwarderHttpClientFactory"/> with the per-server connect timeout
/// (<see cref="TimeoutOptions.Connect"/>, carried in cluster metadata) applied to
/// <see cref="SocketsHttpHandler.ConnectTimeout"/>, and the server's upstream TLS
/// (<see cref="UpstreamTlsContext.Apply"/>). A client is rebuilt when the timeout or the TLS files'
/// fingerprint changes; connections of the old client finish what they carry.
/// </summary>
public sealed class McpForwarderHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger, UpstreamTlsStore tls) : ForwarderHttpClientFactory(logger)
{
    /// <inheritdoc />
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        if (ConnectTimeout(context.NewMetadata) is { } timeout)
        {
            handler.ConnectTimeout = timeout;
        }
        if (context.NewMetadata?.GetValueOrDefault(McpProxyConfigBuilder.MetadataKeys.Server) is { } server && tls.Get(server) is { } upstreamTls)
        {
            upstreamTls.Apply(handler.SslOptions);
        }
    }

    /// <inheritdoc />
    protected override bool CanReuseOldClient(ForwarderHttpClientContext context) =>
        base.CanReuseOldClient(context) && ConnectTimeout(context.OldMetadata) == ConnectTimeout(context.NewMetadata)
        && context.OldMetadata?.GetValueOrDefault(McpProxyConfigBuilder.MetadataKeys.UpstreamTls) == context.NewMetadata?.GetValueOrDefault(McpProxyConfigBuilder.MetadataKeys.UpstreamTls);

    private static TimeSpan? ConnectTimeout(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is not null && metadata.TryGetValue(McpProxyConfigBuilder.MetadataKeys.ConnectTimeoutMs, out var value)
            && long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms)
            ? TimeSpan.FromMilliseconds(ms)
            : null;
}
