//! Typed errors of the message codec: which message, version and field failed, and why.
//!
//! Both error types are one pointer wide (the details live in a `Box`), so a
//! `Result` of a decoded value stays small on the hot path; the box is only
//! allocated when something actually fails.

use std::fmt;

use crate::protocol::VersionRange;

/// Why decoding a message failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended before the value did.
    #[error("truncated, need {needed} bytes, {remaining} remain")]
    Truncated {
        /// Bytes the value needs (for arrays: at least this many).
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length or count prefix is negative (other than the null marker -1)
    /// or larger than the protocol allows.
    #[error("invalid length {0}")]
    InvalidLength(i64),
    /// A null marker where the version does not allow null.
    #[error("null, but this version does not allow null here")]
    UnexpectedNull,
    /// A string that is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// An unsigned varint longer than 5 bytes or wider than 32 bits.
    #[error("varint is longer than 5 bytes or wider than 32 bits")]
    InvalidVarint,
    /// A known tagged field whose declared size does not match its value.
    #[error("tagged field {tag} declares {declared} bytes but its value takes {used}")]
    TaggedFieldSize {
        /// The field's tag.
        tag: u32,
        /// The size the tagged-field section declared.
        declared: usize,
        /// The bytes the value actually took.
        used: usize,
    },
    /// A tag that the spec gives to a field in other versions only.
    #[error("tag {0} is not valid in this version")]
    TagNotInVersion(u32),
    /// Bytes left over after a complete top-level message.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// A version the message does not have.
    #[error("unsupported version (supported: {supported})")]
    UnsupportedVersion {
        /// The versions the spec defines.
        supported: VersionRange,
    },
    /// An API key that no generated message has.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
}

/// Why encoding a message failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// The field has a non-default value, but the chosen version cannot carry
    /// it and the spec does not mark it `ignorable` (see the crate docs).
    #[error("has a non-default value, but this version cannot carry it")]
    UnsupportedField,
    /// The field is null, but the chosen version does not allow null.
    #[error("is null, but this version does not allow null")]
    NullNotAllowed,
    /// A string, byte string, array or tagged field is longer than its length
    /// prefix can express.
    #[error("is too long: {len} (at most {max})")]
    TooLong {
        /// The value's length.
        len: usize,
        /// The largest length the encoding allows.
        max: usize,
    },
    /// Unknown tagged fields are set, but the chosen version is not flexible.
    #[error("has unknown tagged fields, but this version has no tagged fields")]
    TaggedFieldsNotSupported,
    /// An unknown tagged field uses a tag that the spec gives to a known field,
    /// or the unknown tags are not in strictly ascending order.
    #[error("has unknown tagged field {tag} that {reason}")]
    InvalidTaggedField {
        /// The offending tag.
        tag: u32,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A version the message does not have.
    #[error("unsupported version (supported: {supported})")]
    UnsupportedVersion {
        /// The versions the spec defines.
        supported: VersionRange,
    },
    /// A request header whose API key or version does not match its body.
    #[error("header is for API key {header_api_key}, but the body is API key {body_api_key}")]
    ApiKeyMismatch {
        /// The header's `RequestApiKey`.
        header_api_key: i16,
        /// The body's API key.
        body_api_key: i16,
    },
}

/// An API key that no generated message has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown API key {0}")]
pub struct UnknownApiKey(pub i16);

/// One step of the path from a message to the field that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(&'static str),
    Index(usize),
}

/// The path to a field, collected innermost first while an error unwinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FieldPath(Vec<Step>);

impl FieldPath {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().rev().enumerate() {
            match step {
                Step::Field(name) if i == 0 => f.write_str(name)?,
                Step::Field(name) => write!(f, ".{name}")?,
                Step::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Where an error happened: message, version and field path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Location {
    message: &'static str,
    version: i16,
    path: FieldPath,
}

impl Location {
    fn fmt_with(&self, f: &mut fmt::Formatter<'_>, kind: &dyn fmt::Display) -> fmt::Result {
        if !self.message.is_empty() {
            write!(f, "{} v{}: ", self.message, self.version)?;
        }
        if !self.path.is_empty() {
            write!(f, "field {}: ", self.path)?;
        }
        kind.fmt(f)
    }
}

/// Decoding a message failed: the message, version, field path and what was wrong.
///
/// Displays as e.g. `FetchResponse v12: field Responses[0].Partitions[3].Records:
/// truncated, need 100 bytes, 3 remain`.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodeError(Box<(Location, DecodeErrorKind)>);

/// Encoding a message failed: the message, version, field path and what was wrong.
///
/// Displays as e.g. `ProduceRequest v2: field TransactionalId: has a non-default
/// value, but this version cannot carry it`.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodeError(Box<(Location, EncodeErrorKind)>);

macro_rules! error_impl {
    ($error:ident, $kind:ident) => {
        impl $error {
            pub(crate) fn new(kind: $kind) -> Self {
                let location = Location {
                    message: "",
                    version: 0,
                    path: FieldPath::default(),
                };
                Self(Box::new((location, kind)))
            }

            /// What went wrong.
            pub fn kind(&self) -> &$kind {
                &self.0.1
            }

            /// The spec name of the message, e.g. `FetchResponse` (empty when the
            /// error did not come from a message's decode or encode).
            pub fn message_name(&self) -> &'static str {
                self.0.0.message
            }

            /// The message version.
            pub fn version(&self) -> i16 {
                self.0.0.version
            }

            /// The path of spec field names from the message to the field that
            /// failed, with array indexes, e.g. `Responses[0].Partitions[3].Records`;
            /// empty when the message as a whole failed.
            pub fn field_path(&self) -> String {
                self.0.0.path.to_string()
            }

            /// Records that the error happened inside field `name`.
            pub(crate) fn in_field(mut self, name: &'static str) -> Self {
                self.0.0.path.0.push(Step::Field(name));
                self
            }

            /// Records that the error happened inside array element `index`.
            pub(crate) fn at_index(mut self, index: usize) -> Self {
                self.0.0.path.0.push(Step::Index(index));
                self
            }

            /// Records the message and version, unless an inner message already did.
            pub(crate) fn in_message(mut self, message: &'static str, version: i16) -> Self {
                if self.0.0.message.is_empty() {
                    self.0.0.message = message;
                    self.0.0.version = version;
                }
                self
            }
        }

        impl fmt::Display for $error {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.0.fmt_with(f, &self.0.1)
            }
        }

        impl fmt::Debug for $error {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($error))
                    .field("message", &self.0.0.message)
                    .field("version", &self.0.0.version)
                    .field("field", &self.0.0.path.to_string())
                    .field("kind", &self.0.1)
                    .finish()
            }
        }

        impl std::error::Error for $error {}

        impl From<$kind> for $error {
            fn from(kind: $kind) -> Self {
                Self::new(kind)
            }
        }
    };
}

error_impl!(DecodeError, DecodeErrorKind);
error_impl!(EncodeError, EncodeErrorKind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_message_version_and_field_path() {
        let error = DecodeError::new(DecodeErrorKind::Truncated {
            needed: 100,
            remaining: 3,
        })
        .in_field("Records")
        .at_index(3)
        .in_field("Partitions")
        .at_index(0)
        .in_field("Responses")
        .in_message("FetchResponse", 12);
        assert_eq!(
            error.to_string(),
            "FetchResponse v12: field Responses[0].Partitions[3].Records: \
             truncated, need 100 bytes, 3 remain"
        );
        assert_eq!(error.field_path(), "Responses[0].Partitions[3].Records");
        assert_eq!(error.message_name(), "FetchResponse");
        assert_eq!(error.version(), 12);
    }

    #[test]
    fn inner_message_name_wins() {
        let error = EncodeError::new(EncodeErrorKind::NullNotAllowed)
            .in_message("RequestHeader", 2)
            .in_message("FetchRequest", 12);
        assert_eq!(
            error.to_string(),
            "RequestHeader v2: is null, but this version does not allow null"
        );
    }
}
