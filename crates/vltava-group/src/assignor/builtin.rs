//! The built-in assignors by protocol name.

use super::{
    Assignor, CooperativeStickyAssignor, RangeAssignor, RoundRobinAssignor, StickyAssignor,
};

/// The protocol names of the built-in assignors.
pub const BUILTIN_ASSIGNORS: [&str; 4] = ["range", "roundrobin", "sticky", "cooperative-sticky"];

/// The built-in assignor with this protocol name (`range`, `roundrobin`,
/// `sticky`, `cooperative-sticky`), or `None`.
pub fn by_name(name: &str) -> Option<Box<dyn Assignor>> {
    Some(match name {
        "range" => Box::new(RangeAssignor),
        "roundrobin" => Box::new(RoundRobinAssignor),
        "sticky" => Box::new(StickyAssignor),
        "cooperative-sticky" => Box::new(CooperativeStickyAssignor),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_name_resolves_to_itself() {
        for name in BUILTIN_ASSIGNORS {
            assert_eq!(by_name(name).map(|a| a.name()), Some(name));
        }
        assert!(by_name("Range").is_none());
    }
}
