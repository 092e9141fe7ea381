using Yarp.ReverseProxy.Model;

namespace McpEdge.LoadBalancing;

/// <summary>
/// A consistent-hash ring (Karger et al. 1997) over a set of destinations: each destination owns
/// <c>virtualNodes</c> points, point <c>i</c> of destination <c>d</c> being
/// XXH64(UTF-8 of <c>"{d.DestinationId}#{i}"</c>). A key belongs to the owner of the first point at or
/// after its hash, wrapping around. Points depend only on destination ids, so a key keeps its
/// destination across rebuilds and edge replicas, and removing one of N destinations moves only the
/// keys that destination owned (about 1/N). Immutable; built once per destination-set change.
/// </summary>
internal sealed class HashRing
{
    private readonly ulong[] _points;
    private readonly int[] _owners;

    private HashRing(DestinationState[] members, DestinationLoad[] loads, int virtualNodes, ulong[] points, int[] owners)
    {
        Members = members;
        Loads = loads;
        VirtualNodes = virtualNodes;
        _points = points;
        _owners = owners;
    }

    /// <summary>The destinations, in the order they were given.</summary>
    public DestinationState[] Members { get; }

    /// <summary>The load of each member (same index), cached so a pick does no table look-ups.</summary>
    public DestinationLoad[] Loads { get; }

    /// <summary>Points per destination.</summary>
    public int VirtualNodes { get; }

    /// <summary>Number of points on the ring.</summary>
    public int Length => _points.Length;

    /// <summary>Builds the ring.</summary>
    public static HashRing Build(IReadOnlyList<DestinationState> destinations, int virtualNodes, DestinationLoadTracker tracker)
    {
        var members = destinations.ToArray();
        var loads = members.Select(tracker.Get).ToArray();
        var entries = new (ulong Point, string Id, int Owner)[members.Length * virtualNodes];
        for (var m = 0; m < members.Length; m++)
        {
            for (var v = 0; v < virtualNodes; v++)
            {
                entries[m * virtualNodes + v] = (XxHash64.HashUtf8($"{members[m].DestinationId}#{v}"), members[m].DestinationId, m);
            }
        }
        // Ties (64-bit collisions) are broken by destination id, so every edge replica builds the same ring.
        Array.Sort(entries, static (x, y) => x.Point != y.Point ? x.Point.CompareTo(y.Point) : string.CompareOrdinal(x.Id, y.Id));
        return new HashRing(members, loads, virtualNodes, entries.Select(e => e.Point).ToArray(), entries.Select(e => e.Owner).ToArray());
    }

    /// <summary>True when the ring was built from exactly these destinations (same instances, same order) and point count.</summary>
    public bool IsFor(IReadOnlyList<DestinationState> destinations, int virtualNodes)
    {
        if (destinations.Count != Members.Length || virtualNodes != VirtualNodes)
        {
            return false;
        }
        for (var i = 0; i < Members.Length; i++)
        {
            if (!ReferenceEquals(destinations[i], Members[i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The ring position of the first point at or after <paramref name="hash"/> (0 after the last point).</summary>
    public int Locate(ulong hash)
    {
        var index = Array.BinarySearch(_points, hash);
        if (index < 0)
        {
            index = ~index;
        }
        return index == _points.Length ? 0 : index;
    }

    /// <summary>The member index owning ring position <paramref name="position"/> (taken modulo <see cref="Length"/>).</summary>
    public int OwnerAt(int position) => _owners[position % _owners.Length];
}
