using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace McpEdge.LoadBalancing;

/// <summary>
/// <c>ConsistentHash</c>: a YARP <see cref="ILoadBalancingPolicy"/> that sends every request with
/// the same key (<c>LoadBalancing:HashKey</c>, see <see cref="HashKeySource"/>) to the same
/// destination, with bounded loads ("Consistent Hashing with Bounded Loads", Mirrokni, Thorup,
/// Zadimoghaddam 2018): no destination takes an exchange that would put it above
/// ⌈<c>LoadFactor</c> × (in-flight exchanges in the cluster + 1) / destinations⌉; the key then walks
/// the ring to the next destination under the bound.
/// </summary>
/// <remarks>
/// The key is hashed with XXH64 over its UTF-8 bytes (<see cref="XxHash64"/>), never with
/// <see cref="string.GetHashCode()"/>. The ring (<see cref="HashRing"/>) is built once per change of
/// the available destination set and cached per cluster. Requests without a key go to
/// <see cref="LeastResponseTimeLoadBalancingPolicy"/>. A pick allocates nothing.
/// </remarks>
internal sealed class ConsistentHashLoadBalancingPolicy(DestinationLoadTracker tracker, LeastResponseTimeLoadBalancingPolicy fallback) : ILoadBalancingPolicy
{
    private readonly ConditionalWeakTable<ClusterState, RingHolder> _rings = new();

    /// <inheritdoc />
    public string Name => McpLoadBalancingPolicies.ConsistentHash;

    /// <inheritdoc />
    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        var count = availableDestinations.Count;
        if (count <= 1)
        {
            return count == 0 ? null : availableDestinations[0];
        }
        var settings = ClusterBalancingSettings.For(cluster);
        var key = settings.HashKey.GetKey(context);
        if (key is null)
        {
            return fallback.PickDestination(context, cluster, availableDestinations);
        }
        return Pick(XxHash64.HashUtf8(key), RingFor(cluster, availableDestinations, settings.VirtualNodes), settings.LoadFactor);
    }

    /// <summary>The destination for a key hash on <paramref name="ring"/>, bounded by <paramref name="loadFactor"/>.</summary>
    internal static DestinationState Pick(ulong hash, HashRing ring, double loadFactor)
    {
        var loads = ring.Loads;
        long total = 0;
        for (var i = 0; i < loads.Length; i++)
        {
            total += Math.Max(0, loads[i].InFlight);
        }
        var capacity = Capacity(total, loads.Length, loadFactor);

        var start = ring.Locate(hash);
        for (var step = 0; step < ring.Length; step++)
        {
            var owner = ring.OwnerAt(start + step);
            if (loads[owner].InFlight < capacity)
            {
                return ring.Members[owner];
            }
        }

        // Unreachable while capacity >= the average (some member is at or below it); kept for safety.
        var least = 0;
        for (var i = 1; i < loads.Length; i++)
        {
            if (loads[i].InFlight < loads[least].InFlight)
            {
                least = i;
            }
        }
        return ring.Members[least];
    }

    /// <summary>⌈<paramref name="loadFactor"/> × (<paramref name="inFlight"/> + 1) / <paramref name="destinations"/>⌉: the most exchanges one destination may hold once the new one is placed.</summary>
    internal static long Capacity(long inFlight, int destinations, double loadFactor) =>
        (long)Math.Ceiling(loadFactor * (inFlight + 1) / destinations);

    /// <summary>The ring for the available destinations of <paramref name="cluster"/>, rebuilt when they changed.</summary>
    internal HashRing RingFor(ClusterState cluster, IReadOnlyList<DestinationState> destinations, int virtualNodes)
    {
        var holder = _rings.GetValue(cluster, static _ => new RingHolder());
        var ring = Volatile.Read(ref holder.Ring);
        if (ring is null || !ring.IsFor(destinations, virtualNodes))
        {
            ring = HashRing.Build(destinations, virtualNodes, tracker);
            Volatile.Write(ref holder.Ring, ring);
        }
        return ring;
    }

    private sealed class RingHolder
    {
        public HashRing? Ring;
    }
}
