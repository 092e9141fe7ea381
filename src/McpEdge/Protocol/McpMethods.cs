using System.Text;
using System.Text.Json;

namespace McpEdge.Protocol;

/// <summary>
/// The JSON-RPC method names MCP defines (every <c>method</c> constant in the <c>schema.json</c> of
/// revisions 2024-11-05 … 2026-07-28), as interned strings, so a parsed message names its method
/// without allocating and code compares with <c>==</c> or <c>switch</c>.
/// </summary>
public static class McpMethods
{
    /// <summary><c>initialize</c>.</summary>
    public const string Initialize = "initialize";
    /// <summary><c>ping</c>.</summary>
    public const string Ping = "ping";
    /// <summary><c>server/discover</c> (2026-07-28).</summary>
    public const string ServerDiscover = "server/discover";
    /// <summary><c>tools/list</c>.</summary>
    public const string ToolsList = "tools/list";
    /// <summary><c>tools/call</c>.</summary>
    public const string ToolsCall = "tools/call";
    /// <summary><c>prompts/list</c>.</summary>
    public const string PromptsList = "prompts/list";
    /// <summary><c>prompts/get</c>.</summary>
    public const string PromptsGet = "prompts/get";
    /// <summary><c>resources/list</c>.</summary>
    public const string ResourcesList = "resources/list";
    /// <summary><c>resources/templates/list</c>.</summary>
    public const string ResourceTemplatesList = "resources/templates/list";
    /// <summary><c>resources/read</c>.</summary>
    public const string ResourcesRead = "resources/read";
    /// <summary><c>resources/subscribe</c> (before 2026-07-28).</summary>
    public const string ResourcesSubscribe = "resources/subscribe";
    /// <summary><c>resources/unsubscribe</c> (before 2026-07-28).</summary>
    public const string ResourcesUnsubscribe = "resources/unsubscribe";
    /// <summary><c>subscriptions/listen</c> (2026-07-28).</summary>
    public const string SubscriptionsListen = "subscriptions/listen";
    /// <summary><c>completion/complete</c> (2025-03-26 on).</summary>
    public const string CompletionComplete = "completion/complete";
    /// <summary><c>notifications/cancelled</c>.</summary>
    public const string Cancelled = "notifications/cancelled";
    /// <summary><c>notifications/tools/list_changed</c>.</summary>
    public const string ToolsListChanged = "notifications/tools/list_changed";
    /// <summary><c>notifications/prompts/list_changed</c>.</summary>
    public const string PromptsListChanged = "notifications/prompts/list_changed";
    /// <summary><c>notifications/resources/list_changed</c>.</summary>
    public const string ResourcesListChanged = "notifications/resources/list_changed";

    private static readonly string[] All =
    [
        Initialize, Ping, ServerDiscover, ToolsList, ToolsCall, PromptsList, PromptsGet, ResourcesList,
        ResourceTemplatesList, ResourcesRead, SubscriptionsListen, Cancelled, ToolsListChanged, PromptsListChanged,
        ResourcesListChanged, CompletionComplete, "elicitation/create", "logging/setLevel",
        "notifications/elicitation/complete", "notifications/initialized", "notifications/message", "notifications/progress",
        "notifications/resources/updated", "notifications/roots/list_changed", "notifications/subscriptions/acknowledged",
        "notifications/tasks/status", ResourcesSubscribe, ResourcesUnsubscribe, "roots/list", "sampling/createMessage",
        "tasks/cancel", "tasks/get", "tasks/list", "tasks/result",
    ];

    /// <summary>Known names by UTF-8 length: a lookup compares only names of the right length.</summary>
    private static readonly (byte[] Utf8, string Name)[][] ByLength = BuildTable();

    private static (byte[], string)[][] BuildTable()
    {
        var table = new List<(byte[], string)>[All.Max(n => n.Length) + 1];
        foreach (var name in All)
        {
            (table[name.Length] ??= []).Add((Encoding.UTF8.GetBytes(name), name));
        }
        return table.Select(l => l?.ToArray() ?? []).ToArray();
    }

    /// <summary>The interned name for <paramref name="utf8"/>, or null if MCP does not define it.</summary>
    public static string? Find(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length >= ByLength.Length)
        {
            return null;
        }
        foreach (var (bytes, name) in ByLength[utf8.Length])
        {
            if (utf8.SequenceEqual(bytes))
            {
                return name;
            }
        }
        return null;
    }

    /// <summary>True when MCP defines <paramref name="method"/> (any revision from 2024-11-05 to 2026-07-28).</summary>
    public static bool IsKnown(string? method) => method is not null && Known.Contains(method);

    private static readonly HashSet<string> Known = new(All, StringComparer.Ordinal);

    /// <summary>The current string token as a method name: interned if MCP defines it, else a new string.</summary>
    internal static string Intern(ref Utf8JsonReader reader) =>
        !reader.ValueIsEscaped && Find(reader.ValueSpan) is { } known ? known : reader.GetString()!;
}
