using System.Text.RegularExpressions;

namespace McpEdge.Configuration;

/// <summary>The name globs of rate-limit rules and operation scopes: <c>*</c> any run of characters, <c>?</c> one, everything else literal and case-sensitive (like MCP names), the whole name.</summary>
internal static class Glob
{
    /// <summary>Compiles <paramref name="glob"/> to an anchored, culture-invariant regular expression (matching times out after 100 ms).</summary>
    public static Regex Compile(string glob) =>
        new("^" + Regex.Escape(glob).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$",
            RegexOptions.CultureInvariant | RegexOptions.Singleline, TimeSpan.FromMilliseconds(100));
}
