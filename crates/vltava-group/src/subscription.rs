//! [`Subscription`] and [`TopicPattern`]: what a member subscribes to, a
//! list of topics or the topics whose names match a regex.

use std::fmt;

use vltava_meta::MetadataSnapshot;

/// A regex over topic names, matched against the whole name as Java's
/// `subscribe(Pattern)` does (`Matcher::matches`, not a search): `orders`
/// matches only `orders`, `orders-.*` every topic starting `orders-`.
///
/// The syntax is the `regex` crate's (RE2-like, as RE2/J, which the broker
/// uses for KIP-848 regexes): no look-around, no back-references, linear
/// time. Internal topics (`__consumer_offsets`, ...) are left out unless
/// [`TopicPattern::include_internal`] says otherwise (Java's
/// `exclude.internal.topics=true`).
#[derive(Clone)]
pub struct TopicPattern {
    source: String,
    anchored: regex::Regex,
    exclude_internal: bool,
}

impl TopicPattern {
    /// Compiles `pattern`. Fails with the regex crate's error (which says
    /// where and why) when it is not a valid regex.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        let anchored = regex::Regex::new(&format!("^(?:{pattern})$"))?;
        Ok(Self {
            source: pattern.to_owned(),
            anchored,
            exclude_internal: true,
        })
    }

    /// Matches internal topics too (Java's `exclude.internal.topics=false`).
    pub fn include_internal(mut self, include: bool) -> Self {
        self.exclude_internal = !include;
        self
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether internal topics are left out.
    pub fn excludes_internal(&self) -> bool {
        self.exclude_internal
    }

    /// Whether the whole of `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        self.anchored.is_match(topic)
    }

    /// The topics of `snapshot` that match, sorted (internal ones left out
    /// unless included).
    pub fn matching(&self, snapshot: &MetadataSnapshot) -> Vec<String> {
        let mut topics: Vec<String> = snapshot
            .topics()
            .filter(|t| !(self.exclude_internal && t.is_internal))
            .filter(|t| self.matches(&t.name))
            .map(|t| t.name.clone())
            .collect();
        topics.sort();
        topics
    }
}

impl fmt::Debug for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicPattern")
            .field("pattern", &self.source)
            .field("exclude_internal", &self.exclude_internal)
            .finish()
    }
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// What a member subscribes to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Subscription {
    /// These topics.
    Topics(Vec<String>),
    /// Every topic whose name matches, re-evaluated whenever the metadata
    /// changes: the metadata client then follows every topic
    /// ([`Interest::All`](vltava_meta::Interest::All), as Java does for a
    /// pattern), and a topic created later joins the subscription at the
    /// next metadata refresh (`metadata.max.age.ms` at the latest).
    ///
    /// Matching is done on the client for both protocols, as the Java
    /// client does for the classic protocol; Java's KIP-848 consumer sends
    /// the regex to the broker (`SubscribedTopicRegex`) instead.
    Pattern(TopicPattern),
}

impl Subscription {
    /// A subscription to `topics`.
    pub fn topics<I, S>(topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Topics(topics.into_iter().map(Into::into).collect())
    }

    /// A subscription to the topics matching `pattern`; fails when it is
    /// not a valid regex.
    pub fn pattern(pattern: &str) -> Result<Self, regex::Error> {
        TopicPattern::new(pattern).map(Self::Pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_matches_whole_names_only() {
        let p = TopicPattern::new("orders-.*").unwrap();
        assert!(p.matches("orders-eu"));
        assert!(p.matches("orders-"));
        assert!(!p.matches("old-orders-eu"));
        assert!(!p.matches("orders"));
        let p = TopicPattern::new("a|b").unwrap();
        assert!(p.matches("a") && p.matches("b"));
        assert!(
            !p.matches("ab"),
            "the alternation must be anchored as a whole"
        );
    }

    #[test]
    fn a_bad_pattern_is_an_error() {
        assert!(TopicPattern::new("orders-(").is_err());
        assert!(Subscription::pattern("[").is_err());
    }
}
