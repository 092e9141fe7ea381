using Microsoft.Extensions.Configuration.Json;

namespace McpEdge.Configuration;

/// <summary>
/// The edge's configuration file: a JSON file source (<c>AddJsonFile</c>'s, with reload on change)
/// whose reloads keep the last contents that parsed.
/// </summary>
/// <remarks>
/// With .NET's own JSON file provider, a reload of a file that is not valid JSON (a half-saved
/// edit, a typo) empties the file's keys and throws on the file watcher's thread, where the
/// exception is lost: nothing is logged, and every later reader of the configuration sees the
/// file's settings gone. Here the previous contents stay,
/// <see cref="LastGoodJsonConfigurationProvider.ReloadError"/> says why the new ones were not taken,
/// and <see cref="McpEdgeConfigState"/> logs it as a rejected change. At start-up (the first load)
/// a file that does not parse still throws, and <see cref="Hosting.McpEdgeApplication.Build"/>
/// turns that into a configuration error.
/// </remarks>
public sealed class LastGoodJsonConfigurationSource : JsonConfigurationSource
{
    /// <inheritdoc />
    public override IConfigurationProvider Build(IConfigurationBuilder builder)
    {
        EnsureDefaults(builder);
        return new LastGoodJsonConfigurationProvider(this);
    }
}

/// <summary>The provider of <see cref="LastGoodJsonConfigurationSource"/>.</summary>
/// <param name="source">The file source.</param>
public sealed class LastGoodJsonConfigurationProvider(LastGoodJsonConfigurationSource source) : JsonConfigurationProvider(source)
{
    private bool _loaded;

    /// <summary>
    /// Why the file's latest contents were not taken, with the JSON reader's position (line and byte,
    /// from 0); null after a load that parsed.
    /// </summary>
    public string? ReloadError { get; private set; }

    /// <summary>Parses <paramref name="stream"/>; on a reload that does not parse, keeps the data it had.</summary>
    /// <exception cref="FormatException">The first load does not parse (not JSON, or not a JSON object at the top).</exception>
    public override void Load(Stream stream)
    {
        try
        {
            base.Load(stream);
            _loaded = true;
            ReloadError = null;
        }
        catch (FormatException ex) when (_loaded)
        {
            var path = Source.FileProvider?.GetFileInfo(Source.Path ?? "").PhysicalPath ?? Source.Path;
            ReloadError = $"the configuration file '{path}' does not parse, so its previous contents stay: {ex.InnerException?.Message ?? ex.Message}";
        }
    }
}
