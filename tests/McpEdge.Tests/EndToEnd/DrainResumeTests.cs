using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using McpEdge.Tests.Infrastructure;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Xunit.Abstractions;

namespace McpEdge.Tests.EndToEnd;

/// <summary>
/// Graceful drain end to end: the official C# SDK client (ModelContextProtocol.Core 2.3.1) calls a
/// long-running tool of the sample server through one edge process; that process gets SIGTERM
/// mid-operation, closes the stream with <c>retry:</c>, and the client resumes with
/// <c>Last-Event-ID</c> through a second edge process (sessions are sealed, so any edge opens
/// them), as 2025-11-25 basic/transports.mdx ("Resumability and Redelivery") describes.
/// </summary>
public class DrainResumeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const int Steps = 20;

    [Fact]
    public async Task Sigterm_StreamClosedWithRetry_SdkClientResumesThroughSecondEdge_EveryProgressEventOnce()
    {
        await using var sample = await TestSampleServer.StartAsync();
        var section = new
        {
            Servers = new { sample = Mcp.Server(upstreams: sample.Url) },
            Sessions = new { Keys = new[] { "drain-test: a secret shared by both edge processes" } },
            Streaming = new { DrainRetry = "00:00:00.500", ShutdownGracePeriod = "00:00:10" },
        };
        await using var edgeA = await EdgeProcess.StartAsync(section);
        await using var edgeB = await EdgeProcess.StartAsync(section);
        // Stands in for the Kubernetes Service: new connections go to the current target.
        var router = new RecordingRouter { Target = edgeA.BaseAddress, InnerHandler = new SocketsHttpHandler { UseProxy = false } };
        using var http = new HttpClient(router) { Timeout = Patience };
        var transport = new HttpClientTransport(
            new HttpClientTransportOptions { Endpoint = new Uri(edgeA.BaseAddress, "mcp/sample"), TransportMode = HttpTransportMode.StreamableHttp },
            http);

        try
        {
            await using var client = await McpClient.CreateAsync(transport, new McpClientOptions { ClientInfo = new Implementation { Name = "drain-e2e", Version = "1.0.0" } });
            var fifthStep = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var reporter = new InlineProgress(p => { if (p.Progress >= 5) { fifthStep.TrySetResult(); } });
            var call = client.CallToolAsync("progress", new Dictionary<string, object?> { ["steps"] = Steps, ["delayMs"] = 100 }, reporter).AsTask();

            await fifthStep.Task.WaitAsync(Patience);
            router.Target = edgeB.BaseAddress; // the draining pod leaves the Service's endpoints
            edgeA.Terminate();
            var result = await call.WaitAsync(Patience);
            var exitCode = await edgeA.WaitForExitAsync(Patience);

            Assert.Contains($"{Steps} steps done", string.Join("", result.Content.OfType<TextContentBlock>().Select(c => c.Text)));
            Assert.Equal(0, exitCode);
            Assert.Contains(edgeA.Output, line => line.Contains("Drained: no request was left open.", StringComparison.Ordinal));

            // At the wire: every progress event exactly once and in order, across both edges.
            var streams = router.Recordings.ToArray();
            var progress = streams.SelectMany(s => Progress(s.Text).Select(step => (s.Edge, step))).ToList();
            Assert.Equal(Enumerable.Range(1, Steps), progress.Select(p => p.step));
            Assert.Contains(progress, p => p.Edge == edgeA.BaseAddress.Authority);
            Assert.Contains(progress, p => p.Edge == edgeB.BaseAddress.Authority);
            var postThroughA = streams.Single(s => s.Method == "POST" && s.Edge == edgeA.BaseAddress.Authority && Progress(s.Text).Any());
            Assert.Contains("retry: 500", postThroughA.Text.Split('\n'));
            Assert.Contains(streams, s => s.Method == "GET" && s.Edge == edgeB.BaseAddress.Authority && s.LastEventId is not null && Progress(s.Text).Any());
        }
        finally
        {
            foreach (var s in router.Recordings)
            {
                output.WriteLine($"--- {s.Method} via {s.Edge} (Last-Event-ID {s.LastEventId ?? "none"})\n{s.Text}");
            }
            output.WriteLine("--- edge A:\n" + string.Join("\n", edgeA.Output));
        }
    }

    private static IEnumerable<int> Progress(string sse) =>
        sse.Split('\n')
            .Where(l => l.StartsWith("data:", StringComparison.Ordinal) && l.Contains("notifications/progress", StringComparison.Ordinal))
            .Select(l => JsonDocument.Parse(l[5..]).RootElement.GetProperty("params").GetProperty("progress").GetInt32());

    private sealed class InlineProgress(Action<ProgressNotificationValue> report) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value) => report(value);
    }

    /// <summary>One SSE response as the client read it.</summary>
    private sealed class Recording(string edge, string method, string? lastEventId)
    {
        private readonly MemoryStream _bytes = new();

        public string Edge { get; } = edge;

        public string Method { get; } = method;

        public string? LastEventId { get; } = lastEventId;

        public string Text
        {
            get
            {
                lock (_bytes)
                {
                    return Encoding.UTF8.GetString(_bytes.GetBuffer(), 0, (int)_bytes.Length);
                }
            }
        }

        public void Add(ReadOnlySpan<byte> read)
        {
            lock (_bytes)
            {
                _bytes.Write(read);
            }
        }
    }

    /// <summary>Sends each request to <see cref="Target"/> and records every <c>text/event-stream</c> body as the client reads it.</summary>
    private sealed class RecordingRouter : DelegatingHandler
    {
        public volatile Uri Target = null!;

        public ConcurrentQueue<Recording> Recordings { get; } = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var target = Target;
            request.RequestUri = new Uri(target, request.RequestUri!.PathAndQuery);
            var response = await base.SendAsync(request, cancellationToken);
            if (response.Content.Headers.ContentType?.MediaType == "text/event-stream")
            {
                var lastEventId = request.Headers.TryGetValues("Last-Event-ID", out var values) ? values.Single() : null;
                var recording = new Recording(target.Authority, request.Method.Method, lastEventId);
                Recordings.Enqueue(recording);
                response.Content = new RecordingContent(response.Content, recording);
            }
            return response;
        }
    }

    private sealed class RecordingContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly Recording _recording;

        public RecordingContent(HttpContent inner, Recording recording)
        {
            _inner = inner;
            _recording = recording;
            foreach (var header in inner.Headers)
            {
                Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        protected override async Task<Stream> CreateContentReadStreamAsync() => new RecordingStream(await _inner.ReadAsStreamAsync(), _recording);

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
            new RecordingStream(await _inner.ReadAsStreamAsync(cancellationToken), _recording);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await using var source = await CreateContentReadStreamAsync();
            await source.CopyToAsync(stream);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    private sealed class RecordingStream(Stream inner, Recording recording) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            recording.Add(buffer.AsSpan(offset, read));
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            recording.Add(buffer.Span[..read]);
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
