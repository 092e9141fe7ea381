using System.Diagnostics;
using McpEdge.LoadTests.Targets;

namespace McpEdge.Tests.LoadTests;

/// <summary>The <c>/proc</c> CPU readings behind the comparison's CPU per request and the streaming benchmark's CPU per GiB.</summary>
public class ProcessCpuTests
{
    [Fact]
    public void StatTicks_CountsFieldsAfterTheLastParenthesis_SoACommandNameWithSpacesAndParenthesesParses()
    {
        // proc(5): pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime ...
        const string stat = "4242 (odd) name (x) 1) S 1 4242 4242 0 -1 4194560 900 0 3 0 1234 567 8 9 20 0 21 0 100 0 0";

        Assert.Equal(1234 + 567, ProcessCpu.StatTicks(stat));
    }

    [Fact]
    public void BusyTicks_AddsUserNiceSystemIrqSoftirq_NotIdleIowaitStealOrGuest()
    {
        //                   user nice system idle  iowait irq softirq steal guest guest_nice
        const string line = "cpu  100  20   30     5000  400    6   7       800   90    10";

        Assert.Equal(100 + 20 + 30 + 6 + 7, ProcessCpu.BusyTicks(line));
    }

    [Fact]
    public void Ticks_OfThisProcess_GrowsWithTheCpuItBurns()
    {
        var before = ProcessCpu.Ticks(Environment.ProcessId);
        var clock = Stopwatch.StartNew();
        var spins = 0L;
        // Burn CPU until the kernel has counted at least 3 more ticks (30 ms), bounded at 10 s.
        while (ProcessCpu.Ticks(Environment.ProcessId) < before + 3 && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            for (var i = 0; i < 100_000; i++)
            {
                spins += i ^ spins;
            }
        }

        Assert.True(ProcessCpu.Ticks(Environment.ProcessId) >= before + 3, $"no CPU counted after {clock.Elapsed} ({spins})");
        Assert.True(ProcessCpu.MachineBusyTicks() > 0);
    }

    [Fact]
    public void Ticks_WithChildren_AddsAChildProcess_WithoutChildren_LeavesItOut()
    {
        // A child that burns CPU for a bounded count of iterations (ended by its PID at the end in any case).
        using var child = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", "i=0; while [ $i -lt 20000000 ]; do i=$((i+1)); done"]))!;
        try
        {
            var clock = Stopwatch.StartNew();
            while (ProcessCpu.Ticks(child.Id) < 5 && !child.HasExited && clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                Thread.Yield(); // the child runs on the other core, or on this one when this thread yields
            }
            var own = ProcessCpu.Ticks(child.Id);
            Assert.True(own >= 5, $"the child used {own} ticks in {clock.Elapsed}");

            // Without first: this process's own ticks only grow (other tests run meanwhile), so reading
            // them again with the child can only add to the difference, never take from it.
            var without = ProcessCpu.Ticks(Environment.ProcessId);
            var with = ProcessCpu.Ticks(Environment.ProcessId, withChildren: true);

            Assert.True(with - without >= own, $"with children {with}, without {without}, the child {own}");
        }
        finally
        {
            if (!child.HasExited)
            {
                child.Kill();
            }
            child.WaitForExit();
        }
    }
}
