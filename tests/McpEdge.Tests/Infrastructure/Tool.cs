using System.Diagnostics;

namespace McpEdge.Tests.Infrastructure;

/// <summary>Runs a command-line tool (promtool, go, node, yamllint) to completion and returns its exit code and output.</summary>
public static class Tool
{
    /// <summary>
    /// Runs <paramref name="file"/> with <paramref name="args"/>, writes <paramref name="stdin"/> (if any), and
    /// waits at most <paramref name="patience"/> (default 2 minutes) before ending it (by its PID) and failing.
    /// </summary>
    public static async Task<(int Exit, string Output)> RunAsync(string file, IEnumerable<string> args, string? stdin = null,
        string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? patience = null)
    {
        var start = new ProcessStartInfo(file, args)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} could not be started");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }
        process.StandardInput.Close();
        try
        {
            await process.WaitForExitAsync().WaitAsync(patience ?? TimeSpan.FromMinutes(2));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
