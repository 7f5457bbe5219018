//! Rust names for spec names: `FetchRequest` → `fetch_request`,
//! `isKRaftController` → `is_kraft_controller`, `Type` → `r#type`.

/// Rust keywords (strict and reserved) that a snake-case field name could hit.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "static", "struct", "super", "trait", "true", "try", "type", "typeof", "unsafe",
    "unsized", "use", "virtual", "where", "while", "yield",
];

/// `CamelCase` or `camelCase` to `snake_case`; a run of capitals is one word
/// (`ACLs` → `acls`), and "KRaft" is one word.
pub(crate) fn snake_case(name: &str) -> String {
    let name = name.replace("KRaft", "Kraft");
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let previous = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let starts_word = previous.is_ascii_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_ascii_uppercase() && next_is_lower && !plural_acronym(&chars, i));
            if starts_word {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Whether `chars[i]` is the last capital of an acronym followed by a plural
/// `s` that ends the word (`ACLs`).
fn plural_acronym(chars: &[char], i: usize) -> bool {
    chars.get(i + 1) == Some(&'s')
        && chars
            .get(i + 2)
            .is_none_or(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The module (and file) name of a spec.
pub(crate) fn module_name(spec_name: &str) -> String {
    snake_case(spec_name)
}

/// The Rust field name of a spec field.
pub(crate) fn rust_ident(field_name: &str) -> String {
    let name = snake_case(field_name);
    if KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(module_name("FetchRequest"), "fetch_request");
        assert_eq!(module_name("KRaftVersionRecord"), "kraft_version_record");
        assert_eq!(rust_ident("isKRaftController"), "is_kraft_controller");
        assert_eq!(rust_ident("timeoutMs"), "timeout_ms");
        assert_eq!(rust_ident("Type"), "r#type");
        assert_eq!(rust_ident("Match"), "r#match");
        assert_eq!(rust_ident("ProducerId"), "producer_id");
        assert_eq!(rust_ident("ACLs"), "acls");
        assert_eq!(rust_ident("SaslAuthBytes"), "sasl_auth_bytes");
        assert_eq!(rust_ident("ZkMigrationReady"), "zk_migration_ready");
        assert_eq!(rust_ident("PartitionIndexV0"), "partition_index_v0");
    }
}
