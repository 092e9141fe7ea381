namespace McpEdge.Configuration;

/// <summary>Thrown at start-up when the <c>McpEdge</c> configuration is invalid; <see cref="Errors"/> names each setting.</summary>
public sealed class McpEdgeConfigurationException(IReadOnlyList<string> errors)
    : Exception("Invalid McpEdge configuration:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", errors))
{
    /// <summary>One message per problem, each starting with the setting's configuration path.</summary>
    public IReadOnlyList<string> Errors { get; } = errors;
}
