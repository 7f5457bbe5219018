//! The settings every scenario shares: group protocol, timeouts, rates.

use std::time::Duration;

/// Which group protocol the members speak, and with which assignor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// Classic protocol, cooperative-sticky assignor (incremental rebalances).
    CooperativeSticky,
    /// Classic protocol, range assignor (eager: everything revoked first).
    EagerRange,
    /// KIP-848, the consumer group protocol (assignment by the broker).
    Consumer,
}

impl Protocol {
    /// All three, in report order.
    pub const ALL: [Protocol; 3] = [
        Protocol::CooperativeSticky,
        Protocol::EagerRange,
        Protocol::Consumer,
    ];

    /// Its name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::CooperativeSticky => "cooperative-sticky",
            Protocol::EagerRange => "eager-range",
            Protocol::Consumer => "kip-848",
        }
    }

    /// The protocol named `name` (as [`Protocol::name`] writes it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Timeouts, intervals and rates. The same for every client, so that the
/// figures compare.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Partitions of the topic.
    pub partitions: i32,
    /// Members of the group.
    pub members: usize,
    /// Records per second the producer writes, spread over every partition.
    pub rate: u32,
    /// The members' session timeout (classic; KIP-848 groups use the
    /// broker's `group.consumer.session.timeout.ms`, which the testkit sets
    /// to the same 10 s).
    pub session_timeout: Duration,
    /// The heartbeat interval (classic; the broker's for KIP-848, 1 s too).
    pub heartbeat_interval: Duration,
    /// The rebalance timeout (`max.poll.interval.ms`).
    pub rebalance_timeout: Duration,
    /// The members' request timeout.
    pub request_timeout: Duration,
    /// How often members commit what they processed.
    pub auto_commit: Duration,
    /// How long the group may take to settle before faults start.
    pub settle_deadline: Duration,
    /// How long the members may take to reach lag 0 once the producer stopped.
    pub drain_deadline: Duration,
    /// The brokers' `broker.session.timeout.ms` (the testkit's 6 s): how
    /// long the controller waits before it fences a node that vanished.
    pub broker_session_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            partitions: 12,
            members: 3,
            rate: 400,
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(1),
            rebalance_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            auto_commit: Duration::from_secs(1),
            settle_deadline: Duration::from_secs(60),
            drain_deadline: Duration::from_secs(90),
            broker_session_timeout: Duration::from_secs(6),
        }
    }
}
