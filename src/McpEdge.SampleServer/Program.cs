using McpEdge.SampleServer;

// One replica per --urls address, e.g. --urls "http://127.0.0.1:5101;http://127.0.0.1:5102".
var app = SampleMcpServer.Build(args);
await app.RunAsync();
