using System.Net;
using System.Net.Http;

namespace McpEdge.Configuration;

/// <summary>
/// Values of <see cref="McpServerOptions.UpstreamHttpVersion"/>: the HTTP version the edge speaks to
/// a server's replicas. They map to YARP's <c>ForwarderRequestConfig.Version</c> and
/// <c>VersionPolicy</c> (and to the same settings on the health probes' requests).
/// </summary>
public static class UpstreamHttpVersions
{
    /// <summary>
    /// YARP's default (HTTP/2 requested, lower allowed): HTTP/2 when an <c>https</c> replica offers it
    /// in TLS ALPN (RFC 7301), HTTP/1.1 otherwise, so always HTTP/1.1 to an <c>http</c> replica.
    /// </summary>
    public const string Auto = "auto";

    /// <summary>HTTP/1.1 only (RFC 9112): one upstream connection per request in flight or stream open.</summary>
    public const string Http11 = "1.1";

    /// <summary>
    /// HTTP/2 only (RFC 9113). To an <c>http</c> replica: cleartext HTTP/2 with prior knowledge
    /// (RFC 9113 §3.3, "h2c"); the replica must accept it (Kestrel: an endpoint whose
    /// <c>Protocols</c> is <c>Http2</c>). To an <c>https</c> replica: HTTP/2 negotiated by ALPN, and the
    /// request fails when the replica does not offer it. Many requests and streams share one
    /// connection (up to the replica's <c>SETTINGS_MAX_CONCURRENT_STREAMS</c>, then another
    /// connection): measured in docs/benchmarks.md, an idle SSE stream costs the edge 5–14 KiB less
    /// than over HTTP/1.1 and a request a few µs less CPU (requests share socket reads and writes).
    /// Backpressure then comes from each stream's flow-control window (RFC 9113 §5.2).
    /// </summary>
    public const string Http2 = "2";

    /// <summary>What <see cref="Auto"/> means: YARP's <c>ForwarderRequestConfig</c> default, HTTP/2 requested, lower allowed.</summary>
    internal static readonly (Version Version, HttpVersionPolicy Policy) YarpDefault = (HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower);

    internal static bool IsKnown(string? value) => value is Auto or Http11 or Http2;

    /// <summary>The request version and policy for <paramref name="value"/>; null for <see cref="Auto"/> (YARP's default).</summary>
    internal static (Version Version, HttpVersionPolicy Policy)? Resolve(string? value) => value switch
    {
        Http11 => (HttpVersion.Version11, HttpVersionPolicy.RequestVersionExact),
        Http2 => (HttpVersion.Version20, HttpVersionPolicy.RequestVersionExact),
        _ => null,
    };
}
