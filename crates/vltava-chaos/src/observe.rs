//! The committed-offset observer: an admin client of its own that reads the
//! group's committed offsets every 250 ms and writes each change to the
//! journal. It sees what any client commits, vltava or franz-go alike.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use vltava::{Admin, AdminConfig};

use crate::journal::{Journal, What, Who};

/// How often the observer reads.
pub const EVERY: Duration = Duration::from_millis(250);

/// The running observer.
#[derive(Debug)]
pub struct Observer {
    task: JoinHandle<()>,
}

impl Observer {
    /// Starts watching `group`'s commits on `topic`.
    pub fn start(
        bootstrap: &str,
        topic: &str,
        group: &str,
        journal: Arc<Journal>,
    ) -> Result<Self, String> {
        let admin = Admin::new(
            bootstrap,
            AdminConfig::new().api_timeout(Duration::from_secs(2)),
        )
        .map_err(|e| format!("observer: {e}"))?;
        let topic = topic.to_owned();
        let group = group.to_owned();
        let task = tokio::spawn(async move {
            let mut seen: BTreeMap<i32, i64> = BTreeMap::new();
            let mut ticks = tokio::time::interval(EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let read = tokio::time::timeout(
                    Duration::from_secs(3),
                    admin.list_group_offsets_stable(&group),
                )
                .await;
                // An outage makes reads fail; the next tick tries again.
                let Ok(Ok(offsets)) = read else { continue };
                for (tp, committed) in offsets {
                    if tp.topic != topic {
                        continue;
                    }
                    if seen.insert(tp.partition, committed.offset) != Some(committed.offset) {
                        journal.write(
                            Who::Observer,
                            What::Committed {
                                partition: tp.partition,
                                offset: committed.offset,
                            },
                        );
                    }
                }
            }
        });
        Ok(Self { task })
    }

    /// Stops watching.
    pub fn stop(self) {
        self.task.abort();
    }
}
