namespace McpEdge.LoadTests.Engine;

/// <summary>The outcome of one scenario step: ok, or a failure with a short reason (bounded: an HTTP status, a JSON-RPC error code, an exception type).</summary>
public readonly record struct StepResult(bool Ok, string? Reason)
{
    /// <summary>Success.</summary>
    public static StepResult Success => new(true, null);

    /// <summary>A failure with <paramref name="reason"/> (e.g. <c>http 429</c>, <c>jsonrpc -32603</c>, <c>HttpRequestException</c>).</summary>
    public static StepResult Fail(string reason) => new(false, reason);
}
