//! SASL `PLAIN` (RFC 4616): one message, `authzid NUL authcid NUL passwd`,
//! with an empty authorization id as the Java client sends it.

/// The only message PLAIN sends.
pub(super) fn initial_response(username: &str, password: &str) -> Result<Vec<u8>, String> {
    if username.is_empty() {
        return Err("the username is empty".to_owned());
    }
    if username.contains('\0') || password.contains('\0') {
        return Err("the username or password contains a NUL character".to_owned());
    }
    let mut message = Vec::with_capacity(2 + username.len() + password.len());
    message.push(0);
    message.extend_from_slice(username.as_bytes());
    message.push(0);
    message.extend_from_slice(password.as_bytes());
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_nul_separated_with_an_empty_authzid() {
        assert_eq!(
            initial_response("alice", "s3cr=t,").unwrap(),
            b"\0alice\0s3cr=t,".to_vec()
        );
        assert_eq!(initial_response("bob", "").unwrap(), b"\0bob\0".to_vec());
    }

    #[test]
    fn nul_characters_and_empty_usernames_are_refused() {
        assert!(initial_response("al\0ice", "x").is_err());
        assert!(initial_response("alice", "x\0y").is_err());
        assert!(initial_response("", "x").is_err());
    }
}
