using System.Net;
using McpEdge.Configuration;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace McpEdge.Security;

/// <summary>
/// Behind a load balancer or an Ingress, takes the client's address from <c>X-Forwarded-For</c>
/// when, and only as far as, the hops that added it are trusted
/// (<see cref="SecurityOptions.TrustedProxies"/>), with ASP.NET Core's
/// <see cref="ForwardedHeadersMiddleware"/>.
/// </summary>
/// <remarks>
/// <para>
/// The header is read right to left while the address it came from is trusted: the connection's
/// peer first, then each proxy named in it. The first address that is not trusted (or the leftmost
/// one) becomes <see cref="ConnectionInfo.RemoteIpAddress"/>, so a client cannot choose its own address
/// by sending the header itself: its value sits left of what the trusted proxies appended. The
/// entries taken are removed from the header (ASP.NET Core keeps the original in
/// <c>X-Original-For</c>), and YARP then sends the upstream an <c>X-Forwarded-For</c> of that
/// client address. <c>X-Forwarded-Proto</c> and <c>X-Forwarded-Host</c> are not read: the
/// <c>Host</c> stays what <see cref="HostOriginGuardMiddleware"/> checks.
/// </para>
/// <para>
/// Everything per client uses that address: rate limits without a principal or client header,
/// <c>Streaming:MaxStreamsPerClient</c>, the slow-consumer log line, and the loopback-only
/// <c>/edge/clusters</c>. With no trusted proxy (the default) the header is ignored and the peer's
/// address counts. The list is read per request, so a reload applies at once.
/// </para>
/// </remarks>
public sealed class TrustedProxiesMiddleware(RequestDelegate next, McpEdgeConfigState config, ILoggerFactory loggerFactory)
{
    private Forwarder? _forwarder;

    /// <summary>Applies <c>X-Forwarded-For</c> from trusted proxies, then runs the rest of the pipeline.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var proxies = config.Current.Security.TrustedProxies;
        if (proxies.Count > 0)
        {
            var forwarder = _forwarder;
            if (forwarder is null || !ReferenceEquals(forwarder.Source, proxies))
            {
                _forwarder = forwarder = new Forwarder(proxies, Build(proxies, loggerFactory));
            }
            forwarder.Middleware.ApplyForwarders(context);
        }
        return next(context);
    }

    private static ForwardedHeadersMiddleware Build(IReadOnlyList<string> proxies, ILoggerFactory loggerFactory)
    {
        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor,
            ForwardLimit = null, // as far as the hops are trusted, however many
            RequireHeaderSymmetry = false,
        };
        options.KnownIPNetworks.Clear(); // the loopback defaults: only what the operator lists is trusted
        options.KnownProxies.Clear();
        foreach (var entry in proxies)
        {
            if (TryParse(entry, out var address, out var network))
            {
                if (address is not null)
                {
                    options.KnownProxies.Add(address);
                }
                else
                {
                    options.KnownIPNetworks.Add(network);
                }
            }
        }
        // The middleware's own next step is never called: ApplyForwarders only.
        return new ForwardedHeadersMiddleware(_ => Task.CompletedTask, loggerFactory, Options.Create(options));
    }

    /// <summary>Whether <paramref name="entry"/> is an IP address or a CIDR network (<c>10.0.0.0/8</c>, <c>fd00::/8</c>).</summary>
    public static bool IsAddressOrNetwork(string entry) => TryParse(entry, out _, out _);

    /// <summary>
    /// An IP address (an IPv4 one in full dotted form: <see cref="IPAddress.TryParse(string, out IPAddress)"/>
    /// also takes <c>10</c> for 0.0.0.10) or a CIDR network whose address has no bits set past the prefix.
    /// </summary>
    private static bool TryParse(string entry, out IPAddress? address, out System.Net.IPNetwork network)
    {
        network = default;
        var slash = entry.IndexOf('/');
        var host = slash < 0 ? entry : entry[..slash];
        var fullForm = host.Contains(':') || host.Count(c => c == '.') == 3;
        if (slash < 0)
        {
            return IPAddress.TryParse(entry, out address) && fullForm;
        }
        address = null;
        return fullForm && System.Net.IPNetwork.TryParse(entry, out network)
            && IPAddress.TryParse(host, out var given) && given.Equals(network.BaseAddress);
    }

    private sealed record Forwarder(List<string> Source, ForwardedHeadersMiddleware Middleware);
}
