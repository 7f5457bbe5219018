//! Describing the cluster's feature flags (KIP-584): what ApiVersions v3+
//! answers beside the API table.

use std::collections::BTreeMap;

use vltava_wire::ErrorCode;
use vltava_wire::messages::ApiVersionsRequest;

use super::retry::Step;
use super::{Admin, AdminError};

/// A finalized feature: the range of levels the whole cluster runs at
/// (Java: `FinalizedVersionRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FinalizedFeature {
    /// The lowest level in force.
    pub min_level: i16,
    /// The level in force (`metadata.version`'s level, for instance).
    pub max_level: i16,
}

/// A feature one broker's software supports (Java: `SupportedVersionRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SupportedFeature {
    /// The lowest level it can run at.
    pub min_version: i16,
    /// The highest level it can run at.
    pub max_version: i16,
}

/// The feature flags as one broker describes them (Java: `FeatureMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeatureMetadata {
    /// The broker that answered (`host:port`).
    pub broker: String,
    /// The features finalized for the cluster, by name.
    pub finalized: BTreeMap<String, FinalizedFeature>,
    /// The epoch of the finalized features, if the broker knows it.
    pub finalized_epoch: Option<i64>,
    /// The features the broker's software supports, by name.
    pub supported: BTreeMap<String, SupportedFeature>,
}

impl Admin {
    /// Describes the cluster's feature flags (`metadata.version`,
    /// `group.version`, `transaction.version`, ...) with an ApiVersions
    /// request to any broker, as the Java admin client's
    /// `describeFeatures` does. Brokers older than Kafka 2.4 (ApiVersions
    /// below v3) have no features: the maps are empty.
    pub async fn describe_features(&self) -> Result<FeatureMetadata, AdminError> {
        let software_name = self.pool().config().connection.client_software_name.clone();
        let software_version = self
            .pool()
            .config()
            .connection
            .client_software_version
            .clone();
        self.retry_one("describing features", || {
            let software_name = software_name.clone();
            let software_version = software_version.clone();
            async move {
                let broker = self.any_broker().await?;
                let response = self
                    .send(&broker, |_| {
                        Ok(ApiVersionsRequest {
                            client_software_name: software_name,
                            client_software_version: software_version,
                            ..Default::default()
                        })
                    })
                    .await?;
                let code = ErrorCode::from(response.error_code);
                if code.is_err() {
                    let error = AdminError::Broker {
                        op: "describing features",
                        code,
                        message: Some(format!("at {broker}")),
                    };
                    return Ok(if error.is_retriable() {
                        Step::Retry(error)
                    } else {
                        Step::Done(Err(error))
                    });
                }
                let finalized = response
                    .finalized_features
                    .iter()
                    .map(|f| {
                        (
                            f.name.clone(),
                            FinalizedFeature {
                                min_level: f.min_version_level,
                                max_level: f.max_version_level,
                            },
                        )
                    })
                    .collect();
                let supported = response
                    .supported_features
                    .iter()
                    .map(|f| {
                        (
                            f.name.clone(),
                            SupportedFeature {
                                min_version: f.min_version,
                                max_version: f.max_version,
                            },
                        )
                    })
                    .collect();
                Ok(Step::Done(Ok(FeatureMetadata {
                    broker,
                    finalized,
                    finalized_epoch: (response.finalized_features_epoch >= 0)
                        .then_some(response.finalized_features_epoch),
                    supported,
                })))
            }
        })
        .await
    }
}
