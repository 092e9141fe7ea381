using System.Text.Json;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.LoadBalancing;

namespace McpEdge.Configuration;

/// <summary>
/// Holds the last valid <see cref="McpEdgeOptions"/> and reloads it when the configuration
/// changes (e.g. the JSON file, with <c>reloadOnChange</c>). An invalid change, or a file that no
/// longer parses (<see cref="LastGoodJsonConfigurationProvider.ReloadError"/>), is logged with
/// every reason and the last good options stay in force; an invalid configuration at
/// construction (start-up) throws <see cref="McpEdgeConfigurationException"/>.
/// </summary>
public sealed partial class McpEdgeConfigState : IDisposable
{
    private readonly IConfiguration _configuration;
    private readonly IReadOnlyCollection<string> _policyNames;
    private readonly ILogger<McpEdgeConfigState> _logger;
    private readonly IDisposable _subscription;
    private readonly Lock _reloadLock = new();
    private string _currentJson;

    /// <summary>Binds and validates the section; throws <see cref="McpEdgeConfigurationException"/> when invalid.</summary>
    public McpEdgeConfigState(IConfiguration configuration, IEnumerable<ILoadBalancingPolicy> policies, ILogger<McpEdgeConfigState> logger)
    {
        _configuration = configuration;
        _policyNames = policies.Select(p => p.Name).ToArray();
        _logger = logger;
        var (options, errors) = Load();
        if (errors.Count > 0)
        {
            throw new McpEdgeConfigurationException(errors);
        }
        Current = options!;
        _currentJson = JsonSerializer.Serialize(Current);
        _subscription = ChangeToken.OnChange(_configuration.GetReloadToken, Reload);
    }

    /// <summary>The options in force.</summary>
    public McpEdgeOptions Current { get; private set; }

    /// <summary>Raised after valid new options are in force.</summary>
    public event Action<McpEdgeOptions>? Changed;

    /// <summary>Raised when a change was rejected, with the reasons.</summary>
    public event Action<IReadOnlyList<string>>? Rejected;

    /// <summary>Binds the section (unknown keys are errors) and validates it.</summary>
    internal (McpEdgeOptions? Options, IReadOnlyList<string> Errors) Load()
    {
        McpEdgeOptions options;
        try
        {
            options = _configuration.GetSection(McpEdgeOptions.SectionName).Get<McpEdgeOptions>(o => o.ErrorOnUnknownConfiguration = true)
                ?? new McpEdgeOptions();
        }
        catch (InvalidOperationException ex)
        {
            // The binder's message names the key and the type it could not convert or did not know.
            var message = ex.InnerException is null ? ex.Message : ex.Message + " " + ex.InnerException.Message;
            return (null, [$"{McpEdgeOptions.SectionName}: {message}"]);
        }
        return (options, McpEdgeOptionsValidator.Validate(options, _policyNames));
    }

    private void Reload()
    {
        lock (_reloadLock)
        {
            if ((_configuration as IConfigurationRoot)?.Providers.OfType<LastGoodJsonConfigurationProvider>().Select(p => p.ReloadError).FirstOrDefault(e => e is not null) is { } unreadable)
            {
                LogRejected(_logger, unreadable);
                Rejected?.Invoke([unreadable]);
                return;
            }
            var (options, errors) = Load();
            if (errors.Count > 0)
            {
                LogRejected(_logger, string.Join(" | ", errors));
                Rejected?.Invoke(errors);
                return;
            }
            var json = JsonSerializer.Serialize(options);
            if (json == _currentJson)
            {
                return; // file watchers often fire twice for one save
            }
            Current = options!;
            _currentJson = json;
            LogApplied(_logger, Current.Servers.Count);
            Changed?.Invoke(Current);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _subscription.Dispose();

    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Configuration change rejected; the last valid configuration stays in force. {Errors}")]
    private static partial void LogRejected(ILogger logger, string errors);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Configuration reloaded: {ServerCount} MCP server(s).")]
    private static partial void LogApplied(ILogger logger, int serverCount);
}
