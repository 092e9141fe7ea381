using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;

namespace McpEdge.Caching;

/// <summary>
/// An in-process <see cref="HybridCache"/> (the abstract class of Microsoft.Extensions.Caching.Abstractions
/// 10.0, in the shared framework) over <see cref="IMemoryCache"/>: the official implementation
/// (Microsoft.Extensions.Caching.Hybrid) cannot be restored here, and this one keeps to its
/// contract so that package can replace it with one registration line.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Stampede protection: concurrent <see cref="GetOrCreateAsync{TState, T}"/> calls for one key
/// run the factory once; the others await its result (or its exception, which nothing stores).</item>
/// <item>Tags: <see cref="RemoveByTagAsync(string, CancellationToken)"/> records the time of the
/// invalidation; an entry whose factory <em>started</em> before it is treated as absent, so an
/// invalidation that arrives while a value is being fetched also drops that value. The tag
/// <c>*</c> invalidates everything.</item>
/// <item>Values are stored by reference (no serialization): cache immutable values only.</item>
/// <item>Expiration: <see cref="HybridCacheEntryOptions.Expiration"/> (else
/// <see cref="DefaultExpiration"/>), measured on the injected <see cref="TimeProvider"/>.</item>
/// <item>Memory: each entry's size is what <see cref="SizeOf"/> says (bytes); the memory cache's
/// <see cref="MemoryCacheOptions.SizeLimit"/> bounds the total and compacts past it.</item>
/// </list>
/// </remarks>
public sealed class MemoryHybridCache : HybridCache, IDisposable
{
    /// <summary>Expiration used when an entry gives none.</summary>
    public static readonly TimeSpan DefaultExpiration = TimeSpan.FromMinutes(5);

    private readonly MemoryCache _memory;
    private readonly TimeProvider _time;
    private readonly Func<object?, long> _sizeOf;
    private readonly Action? _evicted;
    private readonly ConcurrentDictionary<string, long> _tagInvalidated = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<object?>> _inFlight = new(StringComparer.Ordinal);
    private long _allInvalidated = long.MinValue;

    /// <summary>Creates the cache.</summary>
    /// <param name="sizeLimit">Total size of the stored entries, in the units of <paramref name="sizeOf"/> (bytes).</param>
    /// <param name="sizeOf">The size of a value (at least 1).</param>
    /// <param name="time">The clock for expirations and tag invalidations.</param>
    /// <param name="evicted">Called when an entry is evicted for room (not on expiry or removal).</param>
    public MemoryHybridCache(long sizeLimit, Func<object?, long> sizeOf, TimeProvider time, Action? evicted = null)
    {
        _memory = new MemoryCache(new MemoryCacheOptions { SizeLimit = sizeLimit, CompactionPercentage = 0.25 });
        _sizeOf = sizeOf;
        _time = time;
        _evicted = evicted;
    }

    /// <summary>Entries stored now (expired ones included until they are touched or compacted).</summary>
    public int Count => _memory.Count;

    /// <summary>The size of a value as given to the constructor.</summary>
    public long SizeOf(object? value) => Math.Max(1, _sizeOf(value));

    private sealed record Entry(object? Value, long Created, long Expires, string[] Tags);

    /// <inheritdoc />
    public override async ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        var flags = options?.Flags ?? HybridCacheEntryFlags.None;
        if ((flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0 && TryGet(key, out var found))
        {
            return (T)found!;
        }
        if ((flags & HybridCacheEntryFlags.DisableUnderlyingData) != 0)
        {
            return default!;
        }

        while (true)
        {
            if (_inFlight.TryGetValue(key, out var running))
            {
                return (T)(await running.WaitAsync(cancellationToken))!;
            }
            var created = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_inFlight.TryAdd(key, created.Task))
            {
                continue;
            }
            var started = _time.GetTimestamp();
            try
            {
                var value = await factory(state, cancellationToken);
                if ((flags & HybridCacheEntryFlags.DisableLocalCacheWrite) == 0)
                {
                    Store(key, value, options, tags, started);
                }
                created.SetResult(value);
                return value;
            }
            catch (Exception ex)
            {
                created.SetException(ex);
                // Observed here so a failure nobody else awaited does not surface as unobserved.
                _ = created.Task.Exception;
                throw;
            }
            finally
            {
                _inFlight.TryRemove(new KeyValuePair<string, Task<object?>>(key, created.Task));
            }
        }
    }

    /// <inheritdoc />
    public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        Store(key, value, options, tags, _time.GetTimestamp());
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public override ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default)
    {
        _memory.Remove(key);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public override ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tag);
        // One tick later than now, so an entry created within this same tick is dropped too.
        var now = _time.GetTimestamp() + 1;
        if (tag == "*")
        {
            InterlockedMax(ref _allInvalidated, now);
        }
        else
        {
            _tagInvalidated.AddOrUpdate(tag, now, (_, old) => Math.Max(old, now));
        }
        return ValueTask.CompletedTask;
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    private bool TryGet(string key, out object? value)
    {
        value = null;
        if (!_memory.TryGetValue(key, out Entry? entry) || entry is null)
        {
            return false;
        }
        if (_time.GetTimestamp() >= entry.Expires || IsInvalidated(entry))
        {
            _memory.Remove(key);
            return false;
        }
        value = entry.Value;
        return true;
    }

    private bool IsInvalidated(Entry entry)
    {
        if (Volatile.Read(ref _allInvalidated) > entry.Created)
        {
            return true;
        }
        foreach (var tag in entry.Tags)
        {
            if (_tagInvalidated.TryGetValue(tag, out var at) && at > entry.Created)
            {
                return true;
            }
        }
        return false;
    }

    private void Store<T>(string key, T value, HybridCacheEntryOptions? options, IEnumerable<string>? tags, long started)
    {
        var expiration = options?.Expiration ?? options?.LocalCacheExpiration ?? DefaultExpiration;
        if (expiration <= TimeSpan.Zero)
        {
            return;
        }
        var entry = new Entry(value, started, started + (long)(expiration.TotalSeconds * _time.TimestampFrequency), tags?.ToArray() ?? []);
        if (IsInvalidated(entry))
        {
            return;
        }
        using var cacheEntry = _memory.CreateEntry(key);
        cacheEntry.Value = entry;
        cacheEntry.Size = SizeOf(value);
        // The memory cache's own clock frees the memory; freshness is judged on _time above.
        cacheEntry.AbsoluteExpirationRelativeToNow = expiration;
        if (_evicted is not null)
        {
            cacheEntry.RegisterPostEvictionCallback(static (_, _, reason, state) =>
            {
                if (reason == EvictionReason.Capacity)
                {
                    ((Action)state!)();
                }
            }, _evicted);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _memory.Dispose();
}
