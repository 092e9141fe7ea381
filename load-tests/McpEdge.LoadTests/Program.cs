// McpEdge load tests: NBomber-shaped scenarios with real MCP clients (see LoadTestProgram).
using McpEdge.LoadTests;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
// SIGTERM too: the run stops and the processes it started (compare) are ended on the way out.
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    cancel.Cancel();
});
return await LoadTestProgram.RunAsync(args, Console.Out, cancel.Token);
