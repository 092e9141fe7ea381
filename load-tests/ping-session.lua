-- wrk script: POST a JSON-RPC ping on one MCP session (2025-06-18), the cheapest request that
-- still takes the edge's full path (session token opened, replica pinned, id restored).
-- Usage: SESSION=<Mcp-Session-Id> wrk -t1 -c1 -d20s -s load-tests/ping-session.lua http://127.0.0.1:8080/mcp/sample
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"ping"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
wrk.headers["Mcp-Session-Id"] = os.getenv("SESSION")
