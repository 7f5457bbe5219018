//! Changing topic configs: IncrementalAlterConfigs (KIP-339).

use std::collections::{BTreeMap, BTreeSet};

use vltava_wire::ErrorCode;
use vltava_wire::messages::IncrementalAlterConfigsRequest;
use vltava_wire::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};

use super::topics::RESOURCE_TOPIC;
use super::{Admin, AdminError, step_for};

/// One change to one config of a topic, as IncrementalAlterConfigs
/// carries it (Java: `AlterConfigOp`). Configs a call does not name keep
/// their values.
///
/// ```
/// use vltava::ConfigChange;
///
/// let changes = [
///     ConfigChange::set("retention.ms", "86400000"),
///     ConfigChange::delete("max.message.bytes"), // back to the broker's default
/// ];
/// assert_eq!(changes[1].name(), "max.message.bytes");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigChange {
    /// Sets the config to a value.
    Set {
        /// The config's name.
        name: String,
        /// The new value.
        value: String,
    },
    /// Removes the topic's own value: the config falls back to the
    /// broker's (or Kafka's) default.
    Delete {
        /// The config's name.
        name: String,
    },
    /// Adds values to a list config (`cleanup.policy`, ...), comma-separated.
    Append {
        /// The config's name.
        name: String,
        /// The values to add.
        value: String,
    },
    /// Removes values from a list config, comma-separated.
    Subtract {
        /// The config's name.
        name: String,
        /// The values to remove.
        value: String,
    },
}

impl ConfigChange {
    /// Sets `name` to `value`.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::Set {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Removes the topic's own value of `name`.
    pub fn delete(name: impl Into<String>) -> Self {
        Self::Delete { name: name.into() }
    }

    /// Adds `value` to the list config `name`.
    pub fn append(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::Append {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Removes `value` from the list config `name`.
    pub fn subtract(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::Subtract {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The config's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Set { name, .. }
            | Self::Delete { name }
            | Self::Append { name, .. }
            | Self::Subtract { name, .. } => name,
        }
    }

    fn wire(&self) -> AlterableConfig {
        let (operation, value) = match self {
            Self::Set { value, .. } => (0, Some(value.clone())),
            Self::Delete { .. } => (1, None),
            Self::Append { value, .. } => (2, Some(value.clone())),
            Self::Subtract { value, .. } => (3, Some(value.clone())),
        };
        AlterableConfig {
            name: self.name().to_owned(),
            config_operation: operation,
            value,
            ..Default::default()
        }
    }
}

impl Admin {
    /// Changes configs of one topic (IncrementalAlterConfigs): the others
    /// keep their values. An unknown topic fails with
    /// `UNKNOWN_TOPIC_OR_PARTITION`, an unknown config or a bad value with
    /// `INVALID_CONFIG`.
    ///
    /// As with the Java client, the call returns once the controller
    /// accepted the change; a broker's DescribeConfigs may show the old
    /// value for a moment.
    ///
    /// ```no_run
    /// use vltava::{Admin, ConfigChange};
    ///
    /// # async fn run(admin: Admin) -> Result<(), vltava::AdminError> {
    /// admin
    ///     .alter_topic_config("orders", vec![ConfigChange::set("retention.ms", "3600000")])
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn alter_topic_config(
        &self,
        topic: &str,
        changes: Vec<ConfigChange>,
    ) -> Result<(), AdminError> {
        let mut all = BTreeMap::new();
        all.insert(topic.to_owned(), changes);
        let mut results = self.alter_topic_configs(&all, false).await?;
        results.remove(topic).unwrap_or_else(|| {
            Err(AdminError::Incomplete {
                op: "altering topic configs",
                what: format!("topic `{topic}`"),
            })
        })
    }

    /// Changes configs of topics, with one result per topic; with
    /// `validate_only` the brokers only check the changes. A topic with no
    /// change, or with two changes of one config, is an invalid argument
    /// (the broker would refuse the whole request).
    pub async fn alter_topic_configs(
        &self,
        changes: &BTreeMap<String, Vec<ConfigChange>>,
        validate_only: bool,
    ) -> Result<BTreeMap<String, Result<(), AdminError>>, AdminError> {
        for (topic, list) in changes {
            if list.is_empty() {
                return Err(AdminError::InvalidArgument(format!(
                    "no config change for topic `{topic}`"
                )));
            }
            let mut names = BTreeSet::new();
            if let Some(twice) = list.iter().find(|c| !names.insert(c.name())) {
                return Err(AdminError::InvalidArgument(format!(
                    "config `{}` of topic `{topic}` is changed twice in one call",
                    twice.name()
                )));
            }
        }
        self.retry_each(
            "altering topic configs",
            changes.keys().cloned().collect(),
            |pending| async move {
                let broker = self.any_broker().await?;
                let response = self
                    .send(&broker, |_| {
                        Ok(IncrementalAlterConfigsRequest {
                            resources: pending
                                .iter()
                                .filter_map(|topic| {
                                    Some(AlterConfigsResource {
                                        resource_type: RESOURCE_TOPIC,
                                        resource_name: topic.clone(),
                                        configs: changes
                                            .get(topic)?
                                            .iter()
                                            .map(ConfigChange::wire)
                                            .collect(),
                                        ..Default::default()
                                    })
                                })
                                .collect(),
                            validate_only,
                            ..Default::default()
                        })
                    })
                    .await?;
                Ok(response
                    .responses
                    .into_iter()
                    .filter(|r| r.resource_type == RESOURCE_TOPIC)
                    .map(|r| {
                        let code = ErrorCode::from(r.error_code);
                        let topic = r.resource_name.clone();
                        // An unknown topic is final, as in the Java client.
                        let step = step_for(
                            code,
                            false,
                            |code| AdminError::Topic {
                                op: "altering the configs of",
                                topic: r.resource_name,
                                code,
                                message: r.error_message,
                            },
                            || Ok(()),
                        );
                        (topic, step)
                    })
                    .collect())
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_carry_kafkas_operation_codes() {
        let wire: Vec<(String, i8, Option<String>)> = [
            ConfigChange::set("a", "1"),
            ConfigChange::delete("b"),
            ConfigChange::append("c", "x"),
            ConfigChange::subtract("d", "y"),
        ]
        .iter()
        .map(|c| {
            let w = c.wire();
            (w.name, w.config_operation, w.value)
        })
        .collect();
        assert_eq!(
            wire,
            [
                ("a".into(), 0, Some("1".into())),
                ("b".into(), 1, None),
                ("c".into(), 2, Some("x".into())),
                ("d".into(), 3, Some("y".into())),
            ]
        );
    }
}
