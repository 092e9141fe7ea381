using McpEdge.Configuration;
using McpEdge.Hosting;

// --check: validate the configuration as start-up would, describe it, and exit (0 valid, 2 not) without serving.
var check = args.Contains(McpEdgeApplication.CheckSwitch, StringComparer.Ordinal);
if (check)
{
    args = [.. args.Where(a => a != McpEdgeApplication.CheckSwitch)];
}

WebApplication app;
try
{
    app = McpEdgeApplication.Build(args);
}
catch (McpEdgeConfigurationException ex)
{
    await Console.Error.WriteLineAsync(ex.Message);
    return 2;
}

if (check)
{
    await using (app)
    {
        var (summary, errors) = await McpEdgeApplication.CheckAsync(app);
        if (errors.Count > 0)
        {
            await Console.Error.WriteLineAsync(new McpEdgeConfigurationException(errors).Message);
            return 2;
        }
        await Console.Out.WriteLineAsync(summary);
        return 0;
    }
}

await using (app)
{
    try
    {
        await app.StartAsync();
    }
    catch (McpEdgeConfigurationException ex)
    {
        await Console.Error.WriteLineAsync(ex.Message);
        return 2;
    }
    catch (Exception ex)
    {
        // Nothing is served yet: the listeners could not start (an address in use, a URL Kestrel cannot
        // parse, HTTPS without a certificate), or a start-up step failed. One line and exit code 2, as for
        // an invalid configuration, instead of an unhandled exception and an aborted runtime (the host has
        // logged the exception with its stack as "Hosting failed to start").
        var reason = ex.InnerException is { } inner && !ex.Message.Contains(inner.Message, StringComparison.Ordinal) ? $"{ex.Message} {inner.Message}" : ex.Message;
        if (reason.Contains("No server certificate was specified", StringComparison.Ordinal))
        {
            // Kestrel's own advice (a developer certificate) does not apply to an edge.
            reason = "an https:// listener needs a certificate: set McpEdge:Tls:CertificateFile and McpEdge:Tls:KeyFile (README, \"Listeners: TLS and HTTP/2\").";
        }
        await Console.Error.WriteLineAsync($"McpEdge could not start (urls: {app.Configuration["urls"]}): {reason}");
        return 2;
    }
    await app.WaitForShutdownAsync();
}
return 0;
