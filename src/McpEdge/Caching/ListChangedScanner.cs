using McpEdge.Protocol;

namespace McpEdge.Caching;

/// <summary>
/// Watches the bytes of one SSE stream relayed from an upstream for
/// <c>notifications/{tools,prompts,resources}/list_changed</c> and drops the cached results they
/// cover (<see cref="ListCache.ListChanged"/>). One vectorized search per read for
/// <c>/list_changed</c>; names cut by a read boundary are found through the last bytes of the previous read.
/// </summary>
/// <remarks>
/// It matches the method name anywhere in the stream, so a result that merely quotes it also drops
/// the cache: a spare upstream call, never a stale answer. A name written with JSON escapes
/// (<c>\/</c>) is not recognized; the TTL still bounds such an entry's life.
/// </remarks>
public sealed class ListChangedScanner(ListCache cache, string server)
{
    private const int Overlap = 40; // longer than the longest name, "notifications/resources/list_changed" (36)

    private static readonly byte[] Suffix = "/list_changed"u8.ToArray();

    private readonly byte[] _tail = new byte[Overlap];
    private int _tailLength;

    /// <summary>Looks at the next bytes of the stream.</summary>
    public void Scan(ReadOnlySpan<byte> chunk)
    {
        if (chunk.IsEmpty)
        {
            return;
        }
        Span<byte> joint = stackalloc byte[Overlap * 2];
        var head = chunk[..Math.Min(chunk.Length, Overlap)];
        _tail.AsSpan(0, _tailLength).CopyTo(joint);
        head.CopyTo(joint[_tailLength..]);
        var jointLength = _tailLength + head.Length;

        // Names that start in the previous read and end in this one.
        FindAll(joint[..jointLength], startBefore: _tailLength, endAfter: _tailLength);
        // Names wholly inside this read.
        FindAll(chunk, startBefore: int.MaxValue, endAfter: -1);

        // Keep the last Overlap bytes of everything seen.
        if (chunk.Length >= Overlap)
        {
            chunk[^Overlap..].CopyTo(_tail);
            _tailLength = Overlap;
        }
        else
        {
            var keep = Math.Min(jointLength, Overlap);
            joint.Slice(jointLength - keep, keep).CopyTo(_tail);
            _tailLength = keep;
        }
    }

    /// <summary>Reports each name in <paramref name="span"/> that starts before <paramref name="startBefore"/> and ends after <paramref name="endAfter"/>.</summary>
    private void FindAll(ReadOnlySpan<byte> span, int startBefore, int endAfter)
    {
        var offset = 0;
        int found;
        while ((found = span[offset..].IndexOf(Suffix)) >= 0)
        {
            var at = offset + found;
            var end = at + Suffix.Length;
            offset = end;
            if (end <= endAfter)
            {
                continue;
            }
            var before = span[..at];
            var method = before.EndsWith("notifications/tools"u8) ? McpMethods.ToolsListChanged
                : before.EndsWith("notifications/prompts"u8) ? McpMethods.PromptsListChanged
                : before.EndsWith("notifications/resources"u8) ? McpMethods.ResourcesListChanged
                : null;
            if (method is not null && at + Suffix.Length - method.Length < startBefore)
            {
                cache.ListChanged(server, method);
            }
        }
    }
}
