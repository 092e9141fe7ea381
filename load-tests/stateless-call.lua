-- wrk script: a 2026-07-28 stateless tools/call (echo), the request of the `stateless-call`
-- scenario, for a second, independent throughput figure (McpEdge.LoadTests compare runs it).
-- Usage: wrk -t1 -c32 -d10s -s load-tests/stateless-call.lua http://127.0.0.1:8080/mcp/sample
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"wrk"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "echo"
