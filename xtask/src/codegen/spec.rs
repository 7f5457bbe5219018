//! Kafka's JSON message specs: reading (`//` comments stripped), and the model
//! the emitter works from.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

/// A contiguous range of versions, both ends inclusive; empty when `min > max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Versions {
    pub(crate) min: i16,
    pub(crate) max: i16,
}

impl Versions {
    pub(crate) const NONE: Self = Self { min: 0, max: -1 };

    /// Parses `"none"`, `"3"`, `"3+"` or `"3-7"`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let number = |s: &str| {
            s.trim()
                .parse::<i16>()
                .map_err(|_| format!("invalid version range `{text}`"))
        };
        let versions = if text == "none" {
            Self::NONE
        } else if let Some(min) = text.strip_suffix('+') {
            Self {
                min: number(min)?,
                max: i16::MAX,
            }
        } else if let Some((min, max)) = text.split_once('-') {
            Self {
                min: number(min)?,
                max: number(max)?,
            }
        } else {
            let version = number(text)?;
            Self {
                min: version,
                max: version,
            }
        };
        if versions.min < 0 || (versions.is_empty() && versions != Self::NONE) {
            return Err(format!("invalid version range `{text}`"));
        }
        Ok(versions)
    }

    pub(crate) fn is_empty(self) -> bool {
        self.min > self.max
    }

    pub(crate) fn contains(self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    pub(crate) fn intersect(self, other: Self) -> Self {
        let result = Self {
            min: self.min.max(other.min),
            max: self.max.min(other.max),
        };
        if result.is_empty() {
            Self::NONE
        } else {
            result
        }
    }

    /// The smallest range holding both.
    pub(crate) fn hull(self, other: Self) -> Self {
        match (self.is_empty(), other.is_empty()) {
            (true, _) => other,
            (_, true) => self,
            _ => Self {
                min: self.min.min(other.min),
                max: self.max.max(other.max),
            },
        }
    }

    pub(crate) fn is_subset_of(self, other: Self) -> bool {
        self.is_empty() || (other.min <= self.min && self.max <= other.max)
    }

    /// The versions of `self` below `other.min` (for fields that are tagged
    /// from some version on and regular before it).
    pub(crate) fn before(self, other: Self) -> Self {
        if other.is_empty() {
            return self;
        }
        self.intersect(Self {
            min: 0,
            max: other.min - 1,
        })
    }

    /// Each version, for ranges known to be closed.
    pub(crate) fn iter(self) -> impl Iterator<Item = i16> {
        self.min..=self.max
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("none")
        } else if self.max == i16::MAX {
            write!(f, "{}+", self.min)
        } else if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// A field's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Type {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Float64,
    String,
    Bytes,
    Records,
    Uuid,
    Struct(String),
    Array(Box<Type>),
}

impl Type {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "bool" => Self::Bool,
            "int8" => Self::Int8,
            "int16" => Self::Int16,
            "uint16" => Self::Uint16,
            "int32" => Self::Int32,
            "uint32" => Self::Uint32,
            "int64" => Self::Int64,
            "float64" => Self::Float64,
            "string" => Self::String,
            "bytes" => Self::Bytes,
            "records" => Self::Records,
            "uuid" => Self::Uuid,
            _ => {
                if let Some(element) = text.strip_prefix("[]") {
                    let element = Self::parse(element)?;
                    if matches!(element, Self::Array(_) | Self::Records) {
                        return Err(format!("unsupported array type `{text}`"));
                    }
                    Self::Array(Box::new(element))
                } else if text.starts_with(|c: char| c.is_ascii_uppercase())
                    && text.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    Self::Struct(text.to_owned())
                } else {
                    return Err(format!("unknown type `{text}`"));
                }
            }
        })
    }

    /// The struct this type names, directly or as an array's element.
    pub(crate) fn struct_name(&self) -> Option<&str> {
        match self {
            Self::Struct(name) => Some(name),
            Self::Array(element) => element.struct_name(),
            _ => None,
        }
    }

    /// Whether the type may be null at all (in some versions).
    fn can_be_nullable(&self) -> bool {
        matches!(
            self,
            Self::String | Self::Bytes | Self::Records | Self::Array(_) | Self::Struct(_)
        )
    }
}

/// One field of a struct.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) ty: Type,
    pub(crate) versions: Versions,
    pub(crate) nullable_versions: Versions,
    pub(crate) tagged_versions: Versions,
    pub(crate) tag: Option<u32>,
    pub(crate) ignorable: bool,
    pub(crate) default: Option<String>,
    pub(crate) about: String,
    /// A per-field `flexibleVersions` override (only the request header's
    /// client ID has one: `"none"`).
    pub(crate) flexible_versions: Option<Versions>,
    /// The fields of an inline struct type.
    pub(crate) fields: Option<Vec<Field>>,
}

impl Field {
    /// Whether the field is nullable in some version it is present in.
    pub(crate) fn is_nullable(&self) -> bool {
        !self.nullable_versions.intersect(self.versions).is_empty()
    }
}

/// A named struct from `commonStructs`.
#[derive(Debug, Clone)]
pub(crate) struct CommonStruct {
    pub(crate) name: String,
    pub(crate) versions: Versions,
    pub(crate) fields: Vec<Field>,
}

/// What a spec file describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Request,
    Response,
    Header,
    Data,
}

/// One spec file.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) api_key: Option<i16>,
    pub(crate) valid_versions: Versions,
    pub(crate) flexible_versions: Versions,
    pub(crate) latest_version_unstable: bool,
    pub(crate) fields: Vec<Field>,
    pub(crate) common_structs: Vec<CommonStruct>,
    /// The spec's own comments before its fields: mostly what each version changed.
    pub(crate) history: Vec<String>,
}

/// Reads every `*.json` spec in `dir`, sorted by file name.
pub(crate) fn load_dir(dir: &Path) -> Result<Vec<Spec>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("reading {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "json") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(format!("no *.json specs in {}", dir.display()));
    }
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            parse(&text).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

/// Removes `//` line comments outside strings, returning the JSON text and
/// each comment with the byte offset where it started.
pub(crate) fn strip_comments(text: &str) -> (String, Vec<(usize, String)>) {
    let mut json = String::with_capacity(text.len());
    let mut comments = Vec::new();
    let mut in_string = false;
    let mut chars = text.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        if in_string {
            json.push(c);
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        json.push(escaped);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '/' && chars.peek().is_some_and(|&(_, next)| next == '/') {
            let end = text[offset..].find('\n').map_or(text.len(), |n| offset + n);
            comments.push((offset, text[offset + 2..end].trim_end().to_owned()));
            while chars.peek().is_some_and(|&(i, _)| i < end) {
                chars.next();
            }
        } else {
            if c == '"' {
                in_string = true;
            }
            json.push(c);
        }
    }
    (json, comments)
}

/// Parses one spec file.
pub(crate) fn parse(text: &str) -> Result<Spec, String> {
    let (json, comments) = strip_comments(text);
    let value: Value = serde_json::from_str(&json).map_err(|e| format!("invalid JSON: {e}"))?;
    let object = value.as_object().ok_or("the spec is not a JSON object")?;
    check_keys(
        object,
        &[
            "apiKey",
            "type",
            "listeners",
            "name",
            "validVersions",
            "flexibleVersions",
            "latestVersionUnstable",
            "deprecatedVersions",
            "fields",
            "commonStructs",
        ],
        "the spec",
    )?;
    let name = string(object, "name", "the spec")?;
    let kind = match string(object, "type", &name)?.as_str() {
        "request" => Kind::Request,
        "response" => Kind::Response,
        "header" => Kind::Header,
        "data" => Kind::Data,
        other => return Err(format!("unknown spec type `{other}`")),
    };
    let api_key = match object.get("apiKey") {
        None => None,
        Some(key) => Some(
            key.as_i64()
                .and_then(|k| i16::try_from(k).ok())
                .ok_or("apiKey is not an int16")?,
        ),
    };
    if matches!(kind, Kind::Request | Kind::Response) != api_key.is_some() {
        return Err("requests and responses, and only they, have an apiKey".into());
    }
    let valid_versions = Versions::parse(&string(object, "validVersions", &name)?)?;
    let flexible_versions = Versions::parse(&string(object, "flexibleVersions", &name)?)?;
    if valid_versions.is_empty() || valid_versions.max == i16::MAX {
        return Err("validVersions must be a closed, non-empty range".into());
    }
    let latest_version_unstable = object
        .get("latestVersionUnstable")
        .map(|v| v.as_bool().ok_or("latestVersionUnstable is not a bool"))
        .transpose()?
        .unwrap_or(false);
    let top_fields = fields(object, &name)?;
    let mut common_structs = Vec::new();
    if let Some(structs) = object.get("commonStructs") {
        let structs = structs.as_array().ok_or("commonStructs is not an array")?;
        for value in structs {
            let object = value
                .as_object()
                .ok_or("a common struct is not an object")?;
            check_keys(object, &["name", "versions", "fields"], "a common struct")?;
            let struct_name = string(object, "name", "a common struct")?;
            common_structs.push(CommonStruct {
                versions: Versions::parse(&string(object, "versions", &struct_name)?)?,
                fields: fields(object, &struct_name)?,
                name: struct_name,
            });
        }
    }
    // The comments between the opening brace and the fields are the spec's
    // notes on its versions; the ones before the brace are the license.
    let body_start = text.find('{').unwrap_or(0);
    let fields_start = text.find("\"fields\"").unwrap_or(text.len());
    let history = comments
        .into_iter()
        .filter(|&(offset, _)| body_start < offset && offset < fields_start)
        .map(|(_, comment)| comment.strip_prefix(' ').unwrap_or(&comment).to_owned())
        .collect();
    Ok(Spec {
        name,
        kind,
        api_key,
        valid_versions,
        flexible_versions,
        latest_version_unstable,
        fields: top_fields,
        common_structs,
        history,
    })
}

fn check_keys(object: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), String> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(format!(
            "{what} has key `{key}`, which the generator does not know"
        )),
        None => Ok(()),
    }
}

fn string(object: &Map<String, Value>, key: &str, what: &str) -> Result<String, String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{what} has no string `{key}`"))
}

fn fields(object: &Map<String, Value>, what: &str) -> Result<Vec<Field>, String> {
    let values = object
        .get("fields")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{what} has no `fields` array"))?;
    values
        .iter()
        .map(|value| {
            let object = value
                .as_object()
                .ok_or_else(|| format!("a field of {what} is not an object"))?;
            field(object).map_err(|e| format!("{what}: {e}"))
        })
        .collect()
}

fn field(object: &Map<String, Value>) -> Result<Field, String> {
    check_keys(
        object,
        &[
            "name",
            "type",
            "versions",
            "about",
            "nullableVersions",
            "taggedVersions",
            "tag",
            "default",
            "ignorable",
            "mapKey",
            "entityType",
            "zeroCopy",
            "flexibleVersions",
            "fields",
        ],
        "a field",
    )?;
    let name = string(object, "name", "a field")?;
    let err = |e: String| format!("field {name}: {e}");
    let ty = Type::parse(&string(object, "type", &name)?).map_err(err)?;
    let versions_of = |key: &str| {
        object
            .get(key)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| err(format!("`{key}` is not a string")))
                    .and_then(|s| Versions::parse(s).map_err(err))
            })
            .transpose()
    };
    let versions = versions_of("versions")?.ok_or_else(|| err("no `versions`".into()))?;
    let nullable_versions = versions_of("nullableVersions")?.unwrap_or(Versions::NONE);
    let tagged_versions = versions_of("taggedVersions")?.unwrap_or(Versions::NONE);
    let flexible_versions = versions_of("flexibleVersions")?;
    let tag = match object.get("tag") {
        None => None,
        // One spec writes its tag as a string ("0"); Kafka's parser accepts that too.
        Some(tag) => Some(
            tag.as_u64()
                .or_else(|| tag.as_str().and_then(|t| t.parse().ok()))
                .and_then(|t| u32::try_from(t).ok())
                .ok_or_else(|| err("`tag` is not a u32".into()))?,
        ),
    };
    let ignorable = match object.get("ignorable") {
        None => false,
        Some(value) => value
            .as_bool()
            .ok_or_else(|| err("`ignorable` is not a bool".into()))?,
    };
    let default = match object.get("default") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(_) => return Err(err("`default` is not a string, number or bool".into())),
    };
    let about = object
        .get("about")
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| err("`about` is not a string".into()))
        })
        .transpose()?
        .unwrap_or_default();
    let fields = if object.contains_key("fields") {
        Some(self::fields(object, &name)?)
    } else {
        None
    };
    if fields.is_some() && ty.struct_name().is_none() {
        return Err(err("has `fields` but is not a struct type".into()));
    }
    if !nullable_versions.is_empty() && !ty.can_be_nullable() {
        return Err(err(format!("type {ty:?} cannot be nullable")));
    }
    if tag.is_some() == tagged_versions.is_empty() {
        return Err(err("`tag` and `taggedVersions` go together".into()));
    }
    if !tagged_versions.is_empty() {
        if tagged_versions.max != i16::MAX {
            return Err(err("taggedVersions must be open-ended".into()));
        }
        if !tagged_versions.is_subset_of(versions) {
            return Err(err("taggedVersions must be a subset of versions".into()));
        }
        if ty == Type::Records {
            return Err(err("records cannot be tagged".into()));
        }
    }
    if let Some(flexible) = flexible_versions.filter(|&f| f != Versions::NONE) {
        return Err(err(format!(
            "per-field flexibleVersions other than `none` (here `{flexible}`) are not supported"
        )));
    }
    Ok(Field {
        name,
        ty,
        versions,
        nullable_versions,
        tagged_versions,
        tag,
        ignorable,
        default,
        about,
        flexible_versions,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_stripped_outside_strings_only() {
        let (json, comments) = strip_comments("{ // note\n \"a\": \"x // y\\\" // z\" } // end");
        assert_eq!(json, "{ \n \"a\": \"x // y\\\" // z\" } ");
        assert_eq!(comments, [(2, " note".to_owned()), (34, " end".to_owned())]);
    }

    #[test]
    fn version_ranges() {
        assert_eq!(
            Versions::parse("3+").unwrap(),
            Versions {
                min: 3,
                max: i16::MAX
            }
        );
        assert_eq!(Versions::parse("0-7").unwrap(), Versions { min: 0, max: 7 });
        assert_eq!(Versions::parse("2").unwrap(), Versions { min: 2, max: 2 });
        assert!(Versions::parse("none").unwrap().is_empty());
        assert!(Versions::parse("7-3").is_err());
        assert!(Versions::parse("x").is_err());
        let present = Versions::parse("3+").unwrap();
        assert_eq!(
            present.before(Versions::parse("5+").unwrap()),
            Versions { min: 3, max: 4 }
        );
        assert!(present.before(Versions::parse("3+").unwrap()).is_empty());
    }
}
