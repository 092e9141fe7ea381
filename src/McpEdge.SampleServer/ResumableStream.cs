using System.Runtime.CompilerServices;

namespace McpEdge.SampleServer;

/// <summary>
/// One SSE stream of a session, kept so a client can resume it: MCP 2025-11-25
/// <c>basic/transports.mdx</c>, "Resumability and Redelivery". Events are numbered from 1 (0 is
/// the priming event); the SSE <c>id</c> is <c>{stream}-{seq}</c>, unique across the session's
/// streams and naming the stream it belongs to, so a <c>Last-Event-ID</c> finds its stream and
/// the point to replay from.
/// </summary>
/// <remarks>
/// The producer (a tool, or the session's notifications) appends whether or not a connection is
/// reading; at most one connection reads at a time (the spec forbids sending a message on two
/// streams), and attaching a new one detaches the old. Memory is bounded by
/// <see cref="Capacity"/> events: older ones are forgotten and a resume from before them starts at
/// the oldest kept.
/// </remarks>
public sealed class ResumableStream(string id, int capacity = 10_001)
{
    private readonly object _gate = new();
    private readonly List<string> _events = [];
    private long _firstSeq = 1;
    private long _delivered;
    private bool _completed;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _reader;

    /// <summary>The stream's id, the part of each event id before the dash.</summary>
    public string Id { get; } = id;

    /// <summary>The most events kept for replay.</summary>
    public int Capacity { get; } = capacity;

    /// <summary>True once the producer has finished (a POST stream after its response).</summary>
    public bool Completed
    {
        get
        {
            lock (_gate)
            {
                return _completed;
            }
        }
    }

    /// <summary>The highest sequence number written to a connection so far (0 if none).</summary>
    public long Delivered
    {
        get
        {
            lock (_gate)
            {
                return _delivered;
            }
        }
    }

    /// <summary>The SSE event id of event <paramref name="seq"/>.</summary>
    public string EventId(long seq) => $"{Id}-{seq}";

    /// <summary>Splits a <c>Last-Event-ID</c> into stream id and sequence number; false if it is not one of ours.</summary>
    public static bool TryParseEventId(string value, out string stream, out long seq)
    {
        var dash = value.LastIndexOf('-');
        stream = dash > 0 ? value[..dash] : "";
        seq = 0;
        return dash > 0 && long.TryParse(value.AsSpan(dash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out seq);
    }

    /// <summary>Appends one event's <c>data</c> (a JSON-RPC message); ignored after <see cref="Complete"/>.</summary>
    public void Append(string data)
    {
        lock (_gate)
        {
            if (_completed)
            {
                return;
            }
            _events.Add(data);
            if (_events.Count > Capacity)
            {
                _events.RemoveAt(0);
                _firstSeq++;
            }
            Signal();
        }
    }

    /// <summary>Marks the end of the stream: readers finish once they have sent every event.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
            Signal();
        }
    }

    /// <summary>
    /// Makes <paramref name="connection"/> the stream's only reader: the returned token is cancelled
    /// when the connection goes or another connection attaches.
    /// </summary>
    public CancellationTokenSource Attach(CancellationToken connection)
    {
        var reader = CancellationTokenSource.CreateLinkedTokenSource(connection);
        lock (_gate)
        {
            _reader?.Cancel();
            _reader = reader;
        }
        return reader;
    }

    /// <summary>Ends a reader from <see cref="Attach"/> (the connection is done with the stream).</summary>
    public void Detach(CancellationTokenSource reader)
    {
        lock (_gate)
        {
            if (_reader == reader)
            {
                _reader = null;
            }
            // Disposed under the lock so a concurrent Attach never cancels a disposed source.
            reader.Dispose();
        }
    }

    /// <summary>Events after <paramref name="afterSeq"/>, live as they are appended, until the stream completes.</summary>
    public async IAsyncEnumerable<(long Seq, string Data)> ReadAfterAsync(long afterSeq, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var next = afterSeq + 1;
        while (true)
        {
            string? data = null;
            Task changed;
            bool completed;
            lock (_gate)
            {
                next = Math.Max(next, _firstSeq);
                if (next - _firstSeq < _events.Count)
                {
                    data = _events[(int)(next - _firstSeq)];
                }
                changed = _changed.Task;
                completed = _completed;
            }
            if (data is not null)
            {
                yield return (next, data);
                next++;
                continue;
            }
            if (completed)
            {
                yield break;
            }
            await changed.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Records that event <paramref name="seq"/> reached a connection.</summary>
    public void MarkDelivered(long seq)
    {
        lock (_gate)
        {
            _delivered = Math.Max(_delivered, seq);
        }
    }

    private void Signal()
    {
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }
}
