#!/usr/bin/env bash
# What one hop through the edge costs at low load: `ping` on one session over one connection,
# direct to a sample replica and through the edge, alternating rounds. Loopback only; bounded.
# The edge and the sample server run on CPU 1, wrk on CPU 0 (see ../shared/ARCHITECTURE.md).
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build McpEdge.sln -c Release -v quiet -nologo
taskset -c 1 dotnet src/McpEdge.SampleServer/bin/Release/net10.0/McpEdge.SampleServer.dll --urls "http://127.0.0.1:5101;http://127.0.0.1:5102;http://127.0.0.1:5103" >/dev/null 2>&1 &
sample=$!
taskset -c 1 dotnet src/McpEdge/bin/Release/net10.0/McpEdge.dll --config config/mcpedge.default.json --urls http://127.0.0.1:8080 --Logging:LogLevel:Default=Warning >/dev/null 2>&1 &
edge=$!
trap 'kill $edge $sample 2>/dev/null || true; wait 2>/dev/null || true' EXIT
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"wrk","version":"1"}}}'
session_of() { curl -s -D - -o /dev/null -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' "$1" -d "$init" | grep -i '^mcp-session-id:' | cut -d' ' -f2 | tr -d '\r'; }
for _ in $(seq 1 60); do curl -s -o /dev/null http://127.0.0.1:8080/ && break; sleep 1; done
edge_session=$(session_of http://127.0.0.1:8080/mcp/sample)
# The edge's session is pinned to one replica; measure that replica directly with its own session.
replica=$(curl -s -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -H "mcp-session-id: $edge_session" \
  http://127.0.0.1:8080/mcp/sample -d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}' | grep -o 'replica-[0-9]*' | cut -d- -f2)
direct_session=$(session_of "http://127.0.0.1:$replica/mcp")
run() { SESSION=$2 taskset -c 0 wrk -t1 -c1 -d"${DURATION:-15}"s --latency -s load-tests/ping-session.lua "$1" | grep -E 'Requests/sec|50%|99%' | tr -s ' ' | paste -sd' '; }
echo "warm-up (30 s through the edge, not counted)"; DURATION=30 run http://127.0.0.1:8080/mcp/sample "$edge_session" >/dev/null
for round in 1 2 3; do
  echo "round $round direct: $(run "http://127.0.0.1:$replica/mcp" "$direct_session")"
  echo "round $round edge:   $(run http://127.0.0.1:8080/mcp/sample "$edge_session")"
done
