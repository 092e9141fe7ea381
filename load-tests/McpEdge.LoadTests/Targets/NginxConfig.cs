namespace McpEdge.LoadTests.Targets;

/// <summary>
/// nginx's configuration as infra teams write it in front of MCP servers, shared by the load tests'
/// comparison and the streaming benchmark (which links this file): one worker (it shares a core
/// with the others), not a daemon, access log off, its files under a scratch prefix; one server with
/// HTTP/1.1 keep-alive to the upstreams, response buffering off (SSE) and a 1 h read timeout.
/// </summary>
internal static class NginxConfig
{
    /// <summary>The configuration file's text.</summary>
    /// <param name="prefix">Scratch directory for the pid file and temporary files.</param>
    /// <param name="listen">The server's <c>listen</c> address, <c>127.0.0.1:{port}</c>.</param>
    /// <param name="upstreams">The <c>upstream</c> blocks.</param>
    /// <param name="server">More directives of the server block: its <c>location</c>s and any proxy setting of the caller.</param>
    public static string Build(string prefix, string listen, string upstreams, string server) => $$"""
        worker_processes 1;
        daemon off;
        pid {{prefix}}/nginx.pid;
        events { worker_connections 4096; }
        http {
          access_log off;
          client_body_temp_path {{prefix}}/body;
          proxy_temp_path {{prefix}}/proxy;
        {{upstreams}}
          server {
            listen {{listen}};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 1h;
        {{server}}
          }
        }
        """;
}
