using McpEdge.Configuration;
using McpEdge.Hosting;

try
{
    var app = McpEdgeApplication.Build(args);
    await app.RunAsync();
    return 0;
}
catch (McpEdgeConfigurationException ex)
{
    await Console.Error.WriteLineAsync(ex.Message);
    return 2;
}
