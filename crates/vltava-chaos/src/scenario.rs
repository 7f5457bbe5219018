//! The scenarios of issue 8: which fault, and what passing means.

use std::time::Duration;

use crate::settings::Settings;
use crate::verdict::{Duplicates, Expect, RecoverFrom};

/// A failure the group is put through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// 1. A rolling clean restart of every node, twice over.
    RollingRestart,
    /// 2. kill -9 the group coordinator, restart it 5 s later.
    CoordinatorKill,
    /// 3. kill -9 a partition leader that is not the coordinator, restart
    ///    it 5 s later.
    LeaderKill,
    /// 4. Every node killed for 10 s, then all started: the members'
    ///    joins meet "connection refused".
    AllDown,
    /// 5. SIGSTOP the coordinator for longer than the request timeout,
    ///    then SIGCONT.
    CoordinatorPause,
    /// 6. One member crashes (dropped without closing) while a broker
    ///    restarts.
    MemberCrash,
    /// 7. Members join and leave every few seconds while a node restarts.
    Churn,
    /// 8. The coordinator killed in the middle of a rebalance.
    KillMidRebalance,
    /// 9. Exactly-once consume-transform-produce through scenarios 1 and 2.
    ExactlyOnce,
    /// The soak: random faults for a given time (not one of the nine).
    Soak,
    /// The mission as `cargo xtask demo` shows it (not one of the nine): a
    /// clean restart of the coordinator, then kill -9 of a partition
    /// leader that is not the coordinator, back after 5 s.
    Mission,
}

impl Scenario {
    /// Every scenario, in the order.
    pub const ALL: [Scenario; 9] = [
        Scenario::RollingRestart,
        Scenario::CoordinatorKill,
        Scenario::LeaderKill,
        Scenario::AllDown,
        Scenario::CoordinatorPause,
        Scenario::MemberCrash,
        Scenario::Churn,
        Scenario::KillMidRebalance,
        Scenario::ExactlyOnce,
    ];

    /// Its number in the issue (1-9).
    pub fn number(self) -> usize {
        Self::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i + 1)
    }

    /// The scenario numbered `n`.
    pub fn from_number(n: usize) -> Option<Self> {
        n.checked_sub(1).and_then(|i| Self::ALL.get(i).copied())
    }

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::RollingRestart => "rolling restart ×2",
            Scenario::CoordinatorKill => "kill -9 coordinator",
            Scenario::LeaderKill => "kill -9 leader",
            Scenario::AllDown => "all nodes down 10 s",
            Scenario::CoordinatorPause => "SIGSTOP coordinator",
            Scenario::MemberCrash => "member crash + restart",
            Scenario::Churn => "member churn + restart",
            Scenario::KillMidRebalance => "kill coordinator mid-rebalance",
            Scenario::ExactlyOnce => "exactly-once through 1 and 2",
            Scenario::Soak => "soak (random faults)",
            Scenario::Mission => "the mission: coordinator restart, then kill -9 of a leader",
        }
    }

    /// What passing means.
    pub fn expect(self, s: &Settings) -> Expect {
        let base = Expect {
            duplicates: Duplicates::InWindow,
            no_rebalance: false,
            recover_from: RecoverFrom::FaultStart,
            recovery_within: None,
            failover_within: None,
            errors_reported: false,
        };
        match self {
            // 0 lost, 0 duplicates, 0 rebalances.
            Scenario::RollingRestart | Scenario::LeaderKill => Expect {
                duplicates: Duplicates::None,
                no_rebalance: true,
                ..base
            },
            // Duplicates only within the uncommitted window; consuming
            // again within the broker session timeout + 5 s of the kill:
            // 5 s once the cluster has failed over, which it should within
            // the broker session timeout (later only when the controller
            // fences late, and then the limit moves with it).
            Scenario::CoordinatorKill => Expect {
                recovery_within: Some(s.broker_session_timeout + Duration::from_secs(5)),
                failover_within: Some(s.broker_session_timeout),
                ..base
            },
            // Non-fatal errors surfaced; consuming again within 10 s of the
            // cluster being ready.
            Scenario::AllDown => Expect {
                recover_from: RecoverFrom::Healed,
                recovery_within: Some(Duration::from_secs(10)),
                errors_reported: true,
                ..base
            },
            // No hang: consuming again once the node is thawed. "Hang" is
            // drawn at the session timeout plus the request timeout.
            Scenario::CoordinatorPause => Expect {
                recover_from: RecoverFrom::Healed,
                recovery_within: Some(s.session_timeout + s.request_timeout),
                ..base
            },
            // The crashed member's partitions move within the session
            // timeout + 5 s.
            Scenario::MemberCrash => Expect {
                recovery_within: Some(s.session_timeout + Duration::from_secs(5)),
                ..base
            },
            Scenario::Mission => base,
            Scenario::Churn | Scenario::KillMidRebalance | Scenario::Soak => Expect {
                recover_from: RecoverFrom::Healed,
                ..base
            },
            // Checked on the output topic: 0 duplicates, 0 lost.
            Scenario::ExactlyOnce => Expect {
                duplicates: Duplicates::None,
                ..base
            },
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scenario::Soak | Scenario::Mission => f.write_str(self.name()),
            _ => write!(f, "{}. {}", self.number(), self.name()),
        }
    }
}
