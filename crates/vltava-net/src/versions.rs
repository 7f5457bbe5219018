//! [`ApiVersions`]: the versions a broker announced in the ApiVersions
//! handshake, and the choice of a version both sides speak.

use std::collections::HashMap;

use vltava_wire::messages::ApiVersionsResponse;
use vltava_wire::{ApiKey, VersionRange};

/// The API versions one broker announced, by API key (including keys this
/// client does not know, which are kept but never chosen).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersions {
    by_key: HashMap<i16, VersionRange>,
}

impl ApiVersions {
    /// The table of an ApiVersions response.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let by_key = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, VersionRange::new(k.min_version, k.max_version)))
            .collect();
        Self { by_key }
    }

    /// The versions the broker announced for `api_key`, if it listed it.
    pub fn broker_range(&self, api_key: ApiKey) -> Option<VersionRange> {
        self.by_key.get(&api_key.as_i16()).copied()
    }

    /// How many API keys the broker listed.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether the broker listed no API key at all.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The highest version of `api_key` that both this client and the
    /// broker speak, or `None` if there is none.
    pub fn negotiate(&self, api_key: ApiKey) -> Option<i16> {
        let ours = client_range(api_key);
        let theirs = self.broker_range(api_key)?;
        let min = ours.min.max(theirs.min);
        let max = ours.max.min(theirs.max);
        (min <= max).then_some(max)
    }
}

/// The versions of `api_key` this client picks from: every version the codec
/// knows, except a latest version the spec marks unstable (the Java client's
/// default too; brokers offer those only when configured to).
pub fn client_range(api_key: ApiKey) -> VersionRange {
    let all = api_key.versions();
    if api_key.latest_version_unstable() {
        VersionRange::new(all.min, all.max - 1)
    } else {
        all
    }
}

#[cfg(test)]
mod tests {
    use vltava_wire::messages::api_versions_response::ApiVersion;

    use super::*;

    fn table(entries: &[(ApiKey, i16, i16)]) -> ApiVersions {
        ApiVersions::from_response(&ApiVersionsResponse {
            api_keys: entries
                .iter()
                .map(|&(key, min, max)| ApiVersion {
                    api_key: key.as_i16(),
                    min_version: min,
                    max_version: max,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    #[test]
    fn negotiates_the_highest_common_version() {
        let ours = ApiKey::Metadata.versions();
        let versions = table(&[(ApiKey::Metadata, 0, ours.max + 5), (ApiKey::Fetch, 0, 4)]);
        assert_eq!(versions.negotiate(ApiKey::Metadata), Some(ours.max));
        assert_eq!(versions.negotiate(ApiKey::Fetch), Some(4));
    }

    #[test]
    fn no_common_version_or_unlisted_key_is_none() {
        let ours = ApiKey::Produce.versions();
        let versions = table(&[(ApiKey::Produce, ours.max + 1, ours.max + 3)]);
        assert_eq!(versions.negotiate(ApiKey::Produce), None);
        assert_eq!(versions.negotiate(ApiKey::Fetch), None);
        assert_eq!(versions.broker_range(ApiKey::Fetch), None);
    }

    #[test]
    fn an_unstable_latest_version_is_never_chosen() {
        let key = ApiKey::ShareFetch;
        assert!(key.latest_version_unstable());
        let all = key.versions();
        let versions = table(&[(key, all.min, all.max)]);
        let chosen = versions.negotiate(key);
        assert!(chosen.is_none_or(|v| v < all.max), "{chosen:?}");
    }
}
