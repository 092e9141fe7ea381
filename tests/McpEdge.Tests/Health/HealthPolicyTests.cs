using McpEdge.Health;
using McpEdge.Tests.LoadBalancing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace McpEdge.Tests.Health;

public class HealthPolicyTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 21, 0, 0, 0, TimeSpan.Zero);
    private static ProbeResult Good => new(true, ProbeKinds.Session, null, 1);
    private static ProbeResult Bad => new(false, ProbeKinds.Session, "connection refused", 1);

    [Fact]
    public void ProbeRecord_NewReplica_HealthyOnFirstGoodProbe()
    {
        var record = new ProbeRecord();
        Assert.Equal(DestinationHealth.Healthy, record.Apply(Good, At, healthyThreshold: 2, unhealthyThreshold: 3));
    }

    [Fact]
    public void ProbeRecord_UnhealthyAfterThresholdFailuresInARow_HealthyAfterThresholdSuccesses()
    {
        var record = new ProbeRecord();
        record.Apply(Good, At, 2, 3);
        Assert.Equal(DestinationHealth.Healthy, record.Apply(Bad, At, 2, 3));
        Assert.Equal(DestinationHealth.Healthy, record.Apply(Bad, At, 2, 3));
        Assert.Equal(DestinationHealth.Unhealthy, record.Apply(Bad, At, 2, 3));
        Assert.Equal("connection refused", record.LastError);

        Assert.Equal(DestinationHealth.Unhealthy, record.Apply(Good, At, 2, 3));
        Assert.Equal(DestinationHealth.Unhealthy, record.Apply(Bad, At, 2, 3)); // the run of successes restarts
        Assert.Equal(DestinationHealth.Unhealthy, record.Apply(Good, At, 2, 3));
        Assert.Equal(DestinationHealth.Healthy, record.Apply(Good, At, 2, 3));
        Assert.Equal("connection refused", record.LastError); // kept for operators
    }

    [Fact]
    public void ProbeRecord_FailuresBetweenSuccesses_DoNotAccumulate()
    {
        var record = new ProbeRecord();
        record.Apply(Good, At, 2, 3);
        for (var i = 0; i < 10; i++)
        {
            record.Apply(Bad, At, 2, 3);
            record.Apply(Bad, At, 2, 3);
            Assert.Equal(DestinationHealth.Healthy, record.Apply(Good, At, 2, 3));
        }
    }

    // DestinationState is itself an IReadOnlyList<DestinationState>: compare ids, not objects.
    private static string[] Ids(IEnumerable<DestinationState> destinations) => destinations.Select(d => d.DestinationId).ToArray();

    [Fact]
    public void AvailableDestinations_ExcludeActiveOrPassiveUnhealthy_ButAllWhenNoneIsLeft()
    {
        var policy = new McpAvailableDestinationsPolicy();
        var config = new ClusterConfig { ClusterId = "c", HealthCheck = new HealthCheckConfig { Passive = new PassiveHealthCheckConfig { Enabled = true } } };
        var d = PolicyFixtures.Destinations(3);
        d[0].Health.Active = DestinationHealth.Unhealthy;
        d[1].Health.Passive = DestinationHealth.Unhealthy;
        Assert.Equal(Ids([d[2]]), Ids(policy.GetAvailalableDestinations(config, d)));

        d[2].Health.Active = DestinationHealth.Unhealthy;
        Assert.Equal(Ids(d), Ids(policy.GetAvailalableDestinations(config, d))); // panic: try them all rather than 503
    }

    [Fact]
    public void AvailableDestinations_PassiveIgnoredWhenPassiveChecksAreOff()
    {
        var policy = new McpAvailableDestinationsPolicy();
        var config = new ClusterConfig { ClusterId = "c" };
        var d = PolicyFixtures.Destinations(2);
        d[1].Health.Passive = DestinationHealth.Unhealthy;
        Assert.Equal(Ids(d), Ids(policy.GetAvailalableDestinations(config, d)));
    }

    private sealed class RecordingUpdater : IDestinationHealthUpdater
    {
        public List<(DestinationState Destination, DestinationHealth Health)> Passive { get; } = [];
        public void SetActive(ClusterState cluster, IEnumerable<NewActiveDestinationHealth> newHealthStates) { }
        public void SetPassive(ClusterState cluster, DestinationState destination, DestinationHealth newHealth, TimeSpan reactivationPeriod)
        {
            Passive.Add((destination, newHealth));
            destination.Health.Passive = newHealth;
        }
    }

    private sealed class ErrorFeature(ForwarderError error) : IForwarderErrorFeature
    {
        public ForwarderError Error => error;
        public Exception? Exception => null;
    }

    private static HttpContext Exchange(int status, ForwarderError? error = null)
    {
        var context = new DefaultHttpContext();
        context.Response.StatusCode = status;
        if (error is not null)
        {
            context.Features.Set<IForwarderErrorFeature>(new ErrorFeature(error.Value));
        }
        return context;
    }

    [Fact]
    public void Passive_ConsecutiveUpstreamFailures_MarkUnhealthy_ClientHangUpsDoNotCount()
    {
        var updater = new RecordingUpdater();
        var policy = new McpPassiveHealthPolicy(updater, NullLogger<McpPassiveHealthPolicy>.Instance);
        var cluster = PolicyFixtures.Cluster(m => m[McpEdge.Configuration.McpProxyConfigBuilder.MetadataKeys.ConsecutiveFailures] = "3");
        var destination = PolicyFixtures.Destinations(1)[0];

        policy.RequestProxied(Exchange(502, ForwarderError.Request), cluster, destination);
        policy.RequestProxied(Exchange(503), cluster, destination);
        // A client that hangs up its SSE stream, or cancels, is not the replica's fault.
        policy.RequestProxied(Exchange(200, ForwarderError.ResponseBodyClient), cluster, destination);
        policy.RequestProxied(Exchange(502, ForwarderError.RequestCanceled), cluster, destination);
        Assert.Empty(updater.Passive);
        Assert.Equal(2, policy.ConsecutiveFailures(destination));

        policy.RequestProxied(Exchange(200, ForwarderError.ResponseBodyDestination), cluster, destination);
        var change = Assert.Single(updater.Passive);
        Assert.Same(destination, change.Destination);
        Assert.Equal(DestinationHealth.Unhealthy, change.Health);
    }

    [Fact]
    public void Passive_SuccessResetsTheCount()
    {
        var updater = new RecordingUpdater();
        var policy = new McpPassiveHealthPolicy(updater, NullLogger<McpPassiveHealthPolicy>.Instance);
        var cluster = PolicyFixtures.Cluster(m => m[McpEdge.Configuration.McpProxyConfigBuilder.MetadataKeys.ConsecutiveFailures] = "3");
        var destination = PolicyFixtures.Destinations(1)[0];
        for (var i = 0; i < 10; i++)
        {
            policy.RequestProxied(Exchange(500), cluster, destination);
            policy.RequestProxied(Exchange(500), cluster, destination);
            policy.RequestProxied(Exchange(200), cluster, destination);
        }
        Assert.Empty(updater.Passive);
    }
}
