using System.Globalization;

namespace McpEdge.LoadTests.Targets;

/// <summary>
/// CPU time from <c>/proc</c> (Linux), in clock ticks: <c>CLK_TCK</c>, 100 per second on Linux, so one
/// tick is 10 ms. Used to give each target of a comparison its CPU per request or per byte.
/// </summary>
internal static class ProcessCpu
{
    /// <summary>The machine's cores (not this process's affinity, which <c>taskset -c 0</c> narrows to one).</summary>
    public static int MachineCores { get; } = Directory.Exists("/sys/devices/system/cpu")
        ? Math.Max(1, Directory.GetDirectories("/sys/devices/system/cpu", "cpu*").Count(d => Path.GetFileName(d)[3..].All(char.IsAsciiDigit) && Path.GetFileName(d).Length > 3))
        : Environment.ProcessorCount;

    /// <summary>Seconds per clock tick.</summary>
    public const double TickSeconds = 0.01;

    /// <summary>
    /// User plus system time of <paramref name="pid"/>, ticks: <c>utime</c> and <c>stime</c> of
    /// <c>/proc/{pid}/stat</c> (fields 14 and 15, proc(5)); with <paramref name="withChildren"/>, plus
    /// those of its child processes still running (nginx's workers under its master), listed in the
    /// <c>children</c> file of each of its threads (<c>/proc/{pid}/task/{tid}/children</c>: a child is
    /// listed under the thread that started it, and moves to another when that thread ends).
    /// </summary>
    /// <remarks>A process that starts the servers it measures (the benchmarks do) must count itself without children.</remarks>
    /// <exception cref="IOException">The process is gone.</exception>
    public static long Ticks(int pid, bool withChildren = false)
    {
        var ticks = StatTicks(File.ReadAllText($"/proc/{pid}/stat"));
        if (!withChildren)
        {
            return ticks;
        }
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                foreach (var child in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    ticks += Ticks(int.Parse(child, CultureInfo.InvariantCulture), withChildren: true);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The thread or the child ended between the listing and the read.
            }
        }
        return ticks;
    }

    /// <summary><c>utime + stime</c> (fields 14 and 15) of one <c>/proc/{pid}/stat</c> line, ticks.</summary>
    /// <remarks>The command name (field 2, in parentheses) may hold spaces and parentheses, so fields are counted after its last <c>)</c>.</remarks>
    internal static long StatTicks(string stat)
    {
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is the state, field 3; utime is field 14.
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Busy ticks of the whole machine, every core summed: the <c>cpu</c> line of <c>/proc/stat</c>, user,
    /// nice, system, irq and softirq (not idle, iowait, steal, or the guest times that user already holds).
    /// </summary>
    public static long MachineBusyTicks()
    {
        using var reader = new StreamReader("/proc/stat");
        return BusyTicks(reader.ReadLine()!);
    }

    /// <summary>user + nice + system + irq + softirq of the <c>cpu</c> line of <c>/proc/stat</c>, ticks.</summary>
    internal static long BusyTicks(string cpuLine)
    {
        var f = cpuLine.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        return f[0] + f[1] + f[2] + f[5] + f[6];
    }
}
