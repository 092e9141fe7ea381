using McpEdge.Configuration;
using McpEdge.Protocol;
using Microsoft.Net.Http.Headers;

namespace McpEdge.Security;

/// <summary>
/// Proxy-pipeline step (after <see cref="JsonRpcMessageMiddleware"/>, before batches are split) that
/// enforces <see cref="ServerAuthenticationOptions.OperationScopes"/>: a JSON-RPC message whose
/// method and tool (or prompt, or resource URI) a rule names goes on only when the authenticated
/// token holds the rule's scopes, implied ones included (<see cref="BearerPrincipal.Scopes"/>).
/// </summary>
/// <remarks>
/// A refusal is the runtime scope challenge of MCP 2026-07-28 <c>basic/authorization/index.mdx</c>,
/// "Scope Challenge Handling" (RFC 6750 §3.1): HTTP 403 with
/// <c>WWW-Authenticate: Bearer error="insufficient_scope", …, scope="…"</c> naming in one challenge
/// every scope the request needs (the server's <see cref="ServerAuthenticationOptions.Scopes"/> and
/// the operation's), so that a client's step-up authorization asks for them all at once; and a
/// JSON-RPC error -32000 with the request's id and <c>data: {"requiredScopes": [...]}</c>. A 2025-03-26
/// batch is checked as a whole (every element that names an operation; elements that are not valid
/// messages are left to the batch step), and refused as a whole with a null id. Logged (event 122,
/// with the principal) and counted in <c>mcpedge.auth.rejections</c> with the reason
/// <c>operation_scope</c>. Nothing is done for servers without operation scopes.
/// </remarks>
internal sealed partial class OperationScopeMiddleware(RequestDelegate next, BearerAuthentication authentication, McpEdgeConfigState config,
    Telemetry.EdgeMetrics metrics, ILogger<OperationScopeMiddleware> logger)
{
    /// <summary>The reason label of a refusal in <c>mcpedge.auth.rejections</c>.</summary>
    public const string Reason = "operation_scope";

    /// <summary>Runs the step.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        if (BearerAuthentication.UserOf(context) is not BearerPrincipal principal || context.Features.Get<JsonRpcMessageFeature>() is not { } message)
        {
            return next(context);
        }
        var authenticator = authentication.For(context.GetReverseProxyFeature().Cluster.Config.ClusterId);
        if (authenticator is not { HasOperationScopes: true })
        {
            return next(context);
        }
        var required = new List<string>();
        string? batchOperation = null;
        if (message.Kind == JsonRpcKind.Batch)
        {
            batchOperation = AddBatchScopes(authenticator, message.Body.Span, config.Current.Messages.MaxDepth, required);
        }
        else if (message.Method is not null)
        {
            authenticator.AddOperationScopes(message.Method, message.Name, required);
        }
        // A loop, not a lambda: a lambda capturing the principal would allocate its closure on every call of this method.
        List<string>? missing = null;
        foreach (var scope in required)
        {
            if (!principal.Scopes.Contains(scope))
            {
                (missing ??= []).Add(scope);
            }
        }
        if (missing is null)
        {
            return next(context);
        }
        var operation = batchOperation ?? (message.Method is { } method ? method + (message.Name is { } name ? " " + name : "") : "");
        return RefuseAsync(context, authenticator, message, operation, required, missing);
    }

    /// <summary>Adds the scopes of every element of a batch; returns the first operation that needs any, for the log.</summary>
    private static string? AddBatchScopes(ServerBearerAuthenticator authenticator, ReadOnlySpan<byte> batch, int maxDepth, List<string> required)
    {
        string? first = null;
        foreach (var (envelope, offset, length) in JsonRpcEnvelope.BatchMessages(batch, maxDepth))
        {
            var before = required.Count;
            var name = envelope.GetName(batch.Slice(offset, length));
            authenticator.AddOperationScopes(envelope.Method!, name, required);
            if (first is null && required.Count > before)
            {
                first = envelope.Method + (name is null ? "" : " " + name);
            }
        }
        return first is null ? null : "batch, " + first;
    }

    private Task RefuseAsync(HttpContext context, ServerBearerAuthenticator authenticator, JsonRpcMessageFeature message, string operation, List<string> required, List<string> missing)
    {
        var challenge = new List<string>(authenticator.Options.Scopes);
        challenge.AddRange(required.Where(scope => !challenge.Contains(scope)));
        metrics.AuthRejected(authenticator.Server, Reason);
        LogRefused(logger, authenticator.Server, BearerAuthentication.PrincipalOf(context) ?? "", operation, string.Join(' ', missing));
        var rawId = message.Kind == JsonRpcKind.Batch ? ReadOnlyMemory<byte>.Empty : message.RawId;
        return JsonRpcErrorResponse.WriteAsync(context, StatusCodes.Status403Forbidden, McpErrorCodes.Forbidden,
            $"Forbidden: this operation needs the scope(s) {string.Join(' ', missing)}, which the access token lacks; see WWW-Authenticate.",
            rawId,
            writer =>
            {
                writer.WriteStartObject();
                writer.WriteStartArray("requiredScopes");
                challenge.ForEach(writer.WriteStringValue);
                writer.WriteEndArray();
                writer.WriteEndObject();
            },
            HeaderNames.WWWAuthenticate, authenticator.StepUpChallenge(challenge));
    }

    [LoggerMessage(EventId = 122, Level = LogLevel.Information, Message = "Request for server {Server} refused with 403 (operation_scope): principal {Principal} lacks {MissingScopes} for {Operation}")]
    private static partial void LogRefused(ILogger logger, string server, string principal, string operation, string missingScopes);
}
