using System.Runtime.InteropServices;

namespace McpEdge.LoadTests.Engine;

/// <summary>
/// Holds a dedicated thread until a due time on a <see cref="TimeProvider"/>, never returning
/// before it and without spinning. On Linux with the system clock it sleeps with
/// <c>nanosleep(2)</c> after lowering the thread's timer slack to 1 µs
/// (<c>prctl(PR_SET_TIMERSLACK)</c>; the default slack is 50 µs), so it wakes within tens of
/// microseconds of the due time where a .NET timer or <see cref="Thread.Sleep(int)"/>, which
/// count whole milliseconds, wake up to about 1 ms late. Elsewhere it sleeps in whole
/// milliseconds; with any other <see cref="TimeProvider"/> (a test's clock) it checks that clock
/// every millisecond of real time.
/// </summary>
/// <remarks>
/// Create it on the thread that will wait: the timer slack is a property of the calling thread.
/// Each sleep lasts at most <see cref="MaxSleep"/>, so cancellation is seen within it.
/// </remarks>
internal sealed class Pacer
{
    /// <summary>The longest single sleep: 50 ms (how soon a cancellation is seen).</summary>
    public static readonly TimeSpan MaxSleep = TimeSpan.FromMilliseconds(50);

    private const int PrSetTimerSlack = 29; // <linux/prctl.h>
    private readonly TimeProvider _time;
    private readonly bool _systemClock;
    private readonly bool _precise;

    /// <summary>A pacer on <paramref name="time"/>; on Linux with the system clock, lowers the calling thread's timer slack to 1 µs.</summary>
    public Pacer(TimeProvider time)
    {
        _time = time;
        _systemClock = ReferenceEquals(time, TimeProvider.System);
        _precise = _systemClock && OperatingSystem.IsLinux();
        if (_precise)
        {
            _ = prctl(PrSetTimerSlack, 1_000, 0, 0, 0); // 1 µs; best effort: a failure leaves the 50 µs default
        }
    }

    /// <summary>
    /// Returns once <paramref name="due"/> (an offset from <paramref name="start"/>, a timestamp of
    /// this pacer's clock) has passed, or at once when <paramref name="cancellation"/> is cancelled;
    /// false in that case.
    /// </summary>
    public bool WaitUntil(long start, TimeSpan due, CancellationToken cancellation)
    {
        while (!cancellation.IsCancellationRequested)
        {
            var remaining = due - _time.GetElapsedTime(start);
            if (remaining <= TimeSpan.Zero)
            {
                return true;
            }
            if (remaining > MaxSleep)
            {
                remaining = MaxSleep;
            }
            if (_precise)
            {
                var request = new Timespec { Seconds = 0, Nanoseconds = remaining.Ticks * 100 };
                _ = nanosleep(in request, out _); // an interrupted sleep (EINTR) just goes round again
            }
            else if (_systemClock)
            {
                Thread.Sleep(Math.Max(1, (int)remaining.TotalMilliseconds));
            }
            else
            {
                Thread.Sleep(1);
            }
        }
        return false;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    // DllImport rather than LibraryImport: the latter needs unsafe code for these two calls.
    [DllImport("libc", SetLastError = true)]
    private static extern int nanosleep(in Timespec request, out Timespec remaining);

    [DllImport("libc", SetLastError = true)]
    private static extern int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
}
