//! Describing the cluster: its id, controller and brokers.

use vltava_meta::Broker;
use vltava_wire::messages::DescribeClusterRequest;
use vltava_wire::{ApiKey, ErrorCode};

use super::retry::Step;
use super::{Admin, AdminError};

/// The cluster as a broker describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// The controller the broker names. In KRaft, brokers hide the active
    /// controller from clients and name a live broker instead (Java's
    /// admin client shows the same).
    pub controller: Option<Broker>,
    /// The live brokers, by node id, with their racks.
    pub brokers: Vec<Broker>,
}

impl Admin {
    /// Describes the cluster: id, controller and brokers (DescribeCluster,
    /// or Metadata from brokers older than Kafka 2.8).
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, AdminError> {
        self.retry_one("describing the cluster", || async {
            let broker = self.any_broker().await?;
            if self
                .version_at(&broker, ApiKey::DescribeCluster)
                .await?
                .is_none()
            {
                let metadata = self.fetch_metadata_from(&broker, Some(&[])).await?;
                let brokers = brokers_of(
                    metadata
                        .brokers
                        .iter()
                        .map(|b| (b.node_id, b.host.as_str(), b.port, b.rack.as_deref())),
                );
                return Ok(Step::Done(Ok(describe(
                    metadata.cluster_id,
                    metadata.controller_id,
                    brokers,
                ))));
            }
            let response = self
                .send(&broker, |_| Ok(DescribeClusterRequest::default()))
                .await?;
            let code = ErrorCode::from(response.error_code);
            if code.is_err() {
                let error = AdminError::Broker {
                    op: "describing the cluster",
                    code,
                    message: response.error_message,
                };
                return Ok(if error.is_retriable() {
                    Step::Retry(error)
                } else {
                    Step::Done(Err(error))
                });
            }
            let brokers = brokers_of(
                response
                    .brokers
                    .iter()
                    .map(|b| (b.broker_id, b.host.as_str(), b.port, b.rack.as_deref())),
            );
            Ok(Step::Done(Ok(describe(
                Some(response.cluster_id),
                response.controller_id,
                brokers,
            ))))
        })
        .await
    }
}

fn brokers_of<'a>(wire: impl Iterator<Item = (i32, &'a str, i32, Option<&'a str>)>) -> Vec<Broker> {
    let mut brokers: Vec<Broker> = wire
        .filter_map(|(id, host, port, rack)| {
            let port = u16::try_from(port).ok().filter(|&p| p != 0)?;
            Some(Broker::new(id, host, port, rack.map(str::to_owned)))
        })
        .collect();
    brokers.sort_by_key(|b| b.node_id);
    brokers
}

fn describe(
    cluster_id: Option<String>,
    controller_id: i32,
    brokers: Vec<Broker>,
) -> ClusterDescription {
    ClusterDescription {
        cluster_id: cluster_id.filter(|id| !id.is_empty()),
        controller: brokers.iter().find(|b| b.node_id == controller_id).cloned(),
        brokers,
    }
}
