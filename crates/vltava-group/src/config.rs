//! [`GroupConfig`]: how a member joins, heartbeats and is timed out.

use std::time::Duration;

/// Which group protocol a member speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupProtocol {
    /// JoinGroup/SyncGroup/Heartbeat, assignment computed by the group
    /// leader on the client (`group.protocol=classic`).
    Classic,
    /// KIP-848: ConsumerGroupHeartbeat, assignment computed by the broker
    /// (`group.protocol=consumer`). Falls back to classic when the broker
    /// does not support it.
    Consumer,
}

/// A member's settings. The defaults are the Java consumer's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GroupConfig {
    /// The group id.
    pub group_id: String,
    /// The protocol (`group.protocol`).
    pub protocol: GroupProtocol,
    /// Static membership (`group.instance.id`, KIP-345): a member that
    /// restarts within the session timeout keeps its assignment.
    pub group_instance_id: Option<String>,
    /// How long the coordinator waits without a heartbeat before it
    /// removes the member (`session.timeout.ms`, 45 s). Classic only; the
    /// broker decides it under KIP-848.
    pub session_timeout: Duration,
    /// How long the coordinator waits for every member to rejoin during a
    /// rebalance (`max.poll.interval.ms`, 5 min). Classic only.
    pub rebalance_timeout: Duration,
    /// How often to heartbeat (`heartbeat.interval.ms`, 3 s). Classic
    /// only; under KIP-848 the broker sets it.
    pub heartbeat_interval: Duration,
    /// The client-side assignors, in order of preference
    /// (`partition.assignment.strategy`, classic only). The group picks the
    /// first one every member lists.
    pub assignors: Vec<String>,
    /// The server-side assignor to ask for (`group.remote.assignor`,
    /// KIP-848 only; `None`: the broker's default).
    pub remote_assignor: Option<String>,
    /// The first wait before retrying after a failure (`retry.backoff.ms`,
    /// 100 ms); doubles up to [`GroupConfig::retry_backoff_max`].
    pub retry_backoff: Duration,
    /// The longest wait between retries (`retry.backoff.max.ms`, 1 s).
    pub retry_backoff_max: Duration,
    /// The rack of this member (`client.rack`), for rack-aware assignment.
    pub rack: Option<String>,
}

impl GroupConfig {
    /// The defaults, for `group_id`.
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            protocol: GroupProtocol::Classic,
            group_instance_id: None,
            session_timeout: Duration::from_secs(45),
            rebalance_timeout: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(3),
            assignors: vec!["range".to_owned(), "cooperative-sticky".to_owned()],
            remote_assignor: None,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            rack: None,
        }
    }

    /// Checks what the coordinator would refuse, or what cannot work: an
    /// empty group id, a session or rebalance timeout that is zero or does
    /// not fit the protocol's 32-bit milliseconds, a heartbeat interval not
    /// below the session timeout, no assignor for the classic protocol, an
    /// empty `group_instance_id`. The error says which setting and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.group_id.is_empty() {
            return Err("the group id is empty".to_owned());
        }
        check_timeout(
            "session_timeout",
            self.session_timeout,
            "the coordinator would remove the member before it could heartbeat",
        )?;
        check_timeout(
            "rebalance_timeout",
            self.rebalance_timeout,
            "the coordinator would give the members no time to rejoin during a rebalance",
        )?;
        if self.heartbeat_interval >= self.session_timeout {
            return Err(format!(
                "heartbeat_interval ({:?}) must be lower than session_timeout ({:?}); a third of it is usual",
                self.heartbeat_interval, self.session_timeout
            ));
        }
        if self.protocol == GroupProtocol::Classic && self.assignors.is_empty() {
            return Err("the classic protocol needs at least one assignor".to_owned());
        }
        if self.group_instance_id.as_deref() == Some("") {
            return Err(
                "group_instance_id is empty; leave it unset for dynamic membership".to_owned(),
            );
        }
        Ok(())
    }
}

/// A timeout the protocol carries as `int32` milliseconds: at least 1 ms
/// (`zero` says what a zero would do), at most `i32::MAX` ms (about 24.8
/// days).
fn check_timeout(name: &str, timeout: Duration, zero: &str) -> Result<(), String> {
    let millis = timeout.as_millis();
    if millis == 0 {
        return Err(format!(
            "{name} is {timeout:?}, under 1 ms: {zero}; the protocol counts it in whole milliseconds"
        ));
    }
    if millis > i32::MAX as u128 {
        return Err(format!(
            "{name} is {timeout:?}, more than the protocol can carry ({} ms, a 32-bit count of milliseconds, about 24.8 days)",
            i32::MAX
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_settings_say_why() {
        assert!(GroupConfig::new("g").validate().is_ok());
        assert!(
            GroupConfig::new("")
                .validate()
                .unwrap_err()
                .contains("group id")
        );
        let mut c = GroupConfig::new("g");
        c.heartbeat_interval = c.session_timeout;
        assert!(c.validate().unwrap_err().contains("heartbeat_interval"));
        let mut c = GroupConfig::new("g");
        c.heartbeat_interval = c.session_timeout + Duration::from_secs(1);
        assert!(c.validate().unwrap_err().contains("must be lower"));
        let mut c = GroupConfig::new("g");
        c.assignors.clear();
        assert!(c.validate().unwrap_err().contains("assignor"));
    }

    #[test]
    fn zero_and_out_of_range_timeouts_are_refused_with_the_reason() {
        let too_long = Duration::from_millis(i32::MAX as u64 + 1);
        let longest = Duration::from_millis(i32::MAX as u64);
        for name in ["session_timeout", "rebalance_timeout"] {
            let with = |d: Duration| {
                let mut c = GroupConfig::new("g");
                c.heartbeat_interval = Duration::from_micros(1);
                match name {
                    "session_timeout" => c.session_timeout = d,
                    _ => c.rebalance_timeout = d,
                }
                c.validate()
            };
            for zero in [Duration::ZERO, Duration::from_micros(999)] {
                let error = with(zero).unwrap_err();
                assert!(error.starts_with(name), "{error}");
                assert!(error.contains("under 1 ms"), "{error}");
            }
            let error = with(too_long).unwrap_err();
            assert!(error.starts_with(name), "{error}");
            assert!(error.contains("2147483647 ms"), "{error}");
            assert_eq!(with(longest), Ok(()), "{name}: i32::MAX ms fits");
            assert_eq!(with(Duration::from_millis(1)), Ok(()), "{name}: 1 ms");
        }
    }

    #[test]
    fn an_empty_group_instance_id_is_refused() {
        let mut c = GroupConfig::new("g");
        c.group_instance_id = Some(String::new());
        let error = c.validate().unwrap_err();
        assert!(error.contains("group_instance_id is empty"), "{error}");
        assert!(error.contains("dynamic membership"), "{error}");
        c.group_instance_id = Some("instance-1".to_owned());
        assert_eq!(c.validate(), Ok(()));
    }
}
