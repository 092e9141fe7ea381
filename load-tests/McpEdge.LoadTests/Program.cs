// McpEdge load tests: NBomber-shaped scenarios with real MCP clients (see LoadTestProgram).
using McpEdge.LoadTests;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
return await LoadTestProgram.RunAsync(args, Console.Out, cancel.Token);
