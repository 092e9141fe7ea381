using System.Diagnostics;
using System.Runtime.InteropServices;

namespace McpEdge.LoadTests.Targets;

/// <summary>Ends a server process this program started, by its PID.</summary>
internal static class ProcessStop
{
    private const int SigTerm = 15;

    /// <summary>
    /// SIGTERM first, so that a .NET server exits through its host's shutdown (and the runtime removes
    /// its diagnostic files from <c>/tmp</c>: <c>clr-debug-pipe-*</c>, <c>dotnet-diagnostic-*</c>) and
    /// nginx through its fast shutdown; SIGKILL to the whole process tree if it has not exited within
    /// <paramref name="grace"/>. Returns once it has exited (at most 10 s more after SIGKILL).
    /// </summary>
    public static void End(Process process, TimeSpan grace)
    {
        try
        {
            if (process.HasExited)
            {
                return;
            }
            if (Terminate(process.Id) && process.WaitForExit(grace))
            {
                return;
            }
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Sends SIGTERM to <paramref name="pid"/>; false when <c>kill(2)</c> failed (errno in <see cref="Marshal.GetLastPInvokeError"/>).</summary>
    public static bool Terminate(int pid) => kill(pid, SigTerm) == 0;

    // DllImport rather than LibraryImport: the latter needs unsafe code for this one call.
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
