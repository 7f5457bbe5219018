//! How records are written and read as text: kcat-like templates, JSON
//! lines (written by `consume --json`, read by `produce --json`), and the
//! starting points `--from` takes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde_json::Value;
use vltava::ConsumerRecord;

use crate::error::CliError;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Timestamp,
    Key,
    Value,
    Headers,
    KeyLength,
    ValueLength,
}

/// How each record is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Format {
    /// A template, with the newline that ends each record.
    Template(Vec<Piece>),
    /// One JSON object per line.
    Json,
}

impl Format {
    /// Parses a template: `%t %p %o %T %k %v %h %K %S %%` and the escapes
    /// `\n \t \\`. A newline is added after each record unless the
    /// template ends with one.
    pub(crate) fn template(text: &str) -> Result<Self, CliError> {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let piece = match chars.next() {
                        Some('t') => Piece::Topic,
                        Some('p') => Piece::Partition,
                        Some('o') => Piece::Offset,
                        Some('T') => Piece::Timestamp,
                        Some('k') => Piece::Key,
                        Some('v') => Piece::Value,
                        Some('h') => Piece::Headers,
                        Some('K') => Piece::KeyLength,
                        Some('S') => Piece::ValueLength,
                        Some('%') => {
                            literal.push(b'%');
                            continue;
                        }
                        Some(other) => {
                            return Err(CliError::usage(format!(
                                "format `{text}`: unknown field `%{other}` (fields: %t %p %o %T %k %v %h %K %S)"
                            )));
                        }
                        None => {
                            return Err(CliError::usage(format!(
                                "format `{text}` ends with a lone `%` (write %% for a percent sign)"
                            )));
                        }
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                }
                '\\' => match chars.next() {
                    Some('n') => literal.push(b'\n'),
                    Some('t') => literal.push(b'\t'),
                    Some('\\') => literal.push(b'\\'),
                    Some(other) => {
                        literal.push(b'\\');
                        let mut buf = [0; 4];
                        literal.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                    }
                    None => literal.push(b'\\'),
                },
                other => {
                    let mut buf = [0; 4];
                    literal.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if literal.last() != Some(&b'\n') {
            literal.push(b'\n');
        }
        pieces.push(Piece::Text(literal));
        Ok(Self::Template(pieces))
    }

    /// Appends `record`, as this format writes it, to `out`.
    pub(crate) fn write(&self, record: &ConsumerRecord, out: &mut Vec<u8>) {
        match self {
            Self::Json => {
                out.extend_from_slice(json_line(record).as_bytes());
                out.push(b'\n');
            }
            Self::Template(pieces) => {
                for piece in pieces {
                    write_piece(piece, record, out);
                }
            }
        }
    }
}

fn write_piece(piece: &Piece, record: &ConsumerRecord, out: &mut Vec<u8>) {
    fn length(bytes: &Option<Bytes>) -> String {
        bytes.as_ref().map_or(-1, |b| b.len() as i64).to_string()
    }
    match piece {
        Piece::Text(text) => out.extend_from_slice(text),
        Piece::Topic => out.extend_from_slice(record.topic.as_bytes()),
        Piece::Partition => out.extend_from_slice(record.partition.to_string().as_bytes()),
        Piece::Offset => out.extend_from_slice(record.offset.to_string().as_bytes()),
        Piece::Timestamp => out.extend_from_slice(record.timestamp.to_string().as_bytes()),
        Piece::Key => out.extend_from_slice(record.key.as_deref().unwrap_or_default()),
        Piece::Value => out.extend_from_slice(record.value.as_deref().unwrap_or_default()),
        Piece::KeyLength => out.extend_from_slice(length(&record.key).as_bytes()),
        Piece::ValueLength => out.extend_from_slice(length(&record.value).as_bytes()),
        Piece::Headers => {
            for (i, (key, value)) in record.headers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(key.as_bytes());
                out.push(b'=');
                out.extend_from_slice(value.as_deref().unwrap_or_default());
            }
        }
    }
}

/// A JSON string of `bytes` if they are UTF-8, else of their base64 (and
/// whether it is base64).
fn json_bytes(bytes: &Option<Bytes>) -> (Value, bool) {
    match bytes {
        None => (Value::Null, false),
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) => (Value::String(text.to_owned()), false),
            Err(_) => (Value::String(BASE64.encode(b)), true),
        },
    }
}

/// One record as a JSON object, fields in a fixed order.
pub(crate) fn json_line(record: &ConsumerRecord) -> String {
    let quote = |v: &Value| v.to_string();
    let (key, key_b64) = json_bytes(&record.key);
    let (value, value_b64) = json_bytes(&record.value);
    let mut line = format!(
        "{{\"topic\":{},\"partition\":{},\"offset\":{},\"timestamp\":{},\"key\":{},\"value\":{}",
        quote(&Value::String(record.topic.to_string())),
        record.partition,
        record.offset,
        record.timestamp,
        quote(&key),
        quote(&value),
    );
    if key_b64 {
        line.push_str(",\"key_encoding\":\"base64\"");
    }
    if value_b64 {
        line.push_str(",\"value_encoding\":\"base64\"");
    }
    line.push_str(",\"headers\":[");
    for (i, (k, v)) in record.headers.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let (v, b64) = json_bytes(v);
        line.push_str(&format!(
            "{{\"key\":{},\"value\":{}{}}}",
            quote(&Value::String(k.clone())),
            quote(&v),
            if b64 {
                ",\"value_encoding\":\"base64\""
            } else {
                ""
            }
        ));
    }
    line.push_str("]}");
    line
}

/// A record read from a JSON line: what `produce --json` sends.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct JsonRecord {
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<(String, Option<Bytes>)>,
    pub(crate) timestamp: Option<i64>,
}

/// Reads a JSON line as `consume --json` writes it (`topic`, `partition`
/// and `offset` are ignored: the record goes where `produce` sends it).
pub(crate) fn parse_json_record(line: &str) -> Result<JsonRecord, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("not a JSON object".to_owned());
    };
    let encoded = |field: &str, encoding: Option<&Value>| -> Result<Option<Bytes>, String> {
        let base64 = match encoding {
            None | Some(Value::Null) => false,
            Some(Value::String(e)) if e == "base64" => true,
            Some(Value::String(e)) if e == "utf8" => false,
            Some(other) => return Err(format!("`{field}_encoding` {other} is not \"base64\"")),
        };
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if base64 => BASE64
                .decode(text)
                .map(|b| Some(Bytes::from(b)))
                .map_err(|e| format!("`{field}` is not base64: {e}")),
            Some(Value::String(text)) => Ok(Some(Bytes::from(text.clone()))),
            Some(other) => Err(format!("`{field}` must be a string or null, not {other}")),
        }
    };
    let key = encoded("key", object.get("key_encoding"))?;
    let value = encoded("value", object.get("value_encoding"))?;
    let timestamp = match object.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_i64()
                .ok_or_else(|| format!("`timestamp` {n} is not a whole number of ms"))?,
        ),
        Some(other) => return Err(format!("`timestamp` must be a number, not {other}")),
    };
    let mut headers = Vec::new();
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for h in list {
                let Value::Object(h) = h else {
                    return Err(
                        "each header must be an object {\"key\":..,\"value\":..}".to_owned()
                    );
                };
                let Some(Value::String(k)) = h.get("key") else {
                    return Err("a header needs a string `key`".to_owned());
                };
                let b64 = h.get("value_encoding").and_then(Value::as_str) == Some("base64");
                let v = match h.get("value") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if b64 => Some(Bytes::from(
                        BASE64
                            .decode(s)
                            .map_err(|e| format!("header `{k}` is not base64: {e}"))?,
                    )),
                    Some(Value::String(s)) => Some(Bytes::from(s.clone())),
                    Some(other) => {
                        return Err(format!(
                            "header `{k}`'s value must be a string, not {other}"
                        ));
                    }
                };
                headers.push((k.clone(), v));
            }
        }
        Some(Value::Object(map)) => {
            for (k, v) in map {
                match v {
                    Value::Null => headers.push((k.clone(), None)),
                    Value::String(s) => headers.push((k.clone(), Some(Bytes::from(s.clone())))),
                    other => return Err(format!("header `{k}` must be a string, not {other}")),
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "`headers` must be a list or an object, not {other}"
            ));
        }
    }
    Ok(JsonRecord {
        key,
        value,
        headers,
        timestamp,
    })
}

/// Where a partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Earliest,
    Latest,
    Offset(i64),
    /// This many records before the end.
    FromEnd(i64),
    /// The first record at or after this time (ms since the epoch).
    Time(i64),
}

/// Parses `--from` (see the help's list).
pub(crate) fn parse_start(text: &str) -> Result<Start, CliError> {
    let text = text.trim();
    let bad = || {
        CliError::usage(format!(
            "--from `{text}`: expected earliest, latest, an offset N, -N, @MS, a time like 2024-05-01T12:00:00Z, or now-15m"
        ))
    };
    match text {
        "earliest" | "beginning" => return Ok(Start::Earliest),
        "latest" | "end" => return Ok(Start::Latest),
        _ => {}
    }
    if let Some(back) = text.strip_prefix('-') {
        let n: i64 = back.parse().map_err(|_| bad())?;
        return Ok(Start::FromEnd(n));
    }
    if let Some(ms) = text.strip_prefix('@') {
        let ms: i64 = ms.parse().map_err(|_| bad())?;
        return Ok(Start::Time(ms));
    }
    if let Ok(offset) = text.parse::<i64>() {
        return Ok(Start::Offset(offset));
    }
    crate::time::parse_time(text)
        .map(Start::Time)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn record() -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from("t"),
            partition: 2,
            offset: 17,
            leader_epoch: None,
            timestamp: 1000,
            key: Some(Bytes::from_static(b"k1")),
            value: Some(Bytes::from_static(b"hello")),
            headers: vec![
                ("a".into(), Some(Bytes::from_static(b"1"))),
                ("b".into(), None),
            ],
        }
    }

    fn render(format: &Format, record: &ConsumerRecord) -> String {
        let mut out = Vec::new();
        format.write(record, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn templates_print_every_field() {
        let f = Format::template("%t %p %o %T %k %v %h %K %S %%").unwrap();
        assert_eq!(render(&f, &record()), "t 2 17 1000 k1 hello a=1,b= 2 5 %\n");
        let f = Format::template("%k\\t%v\\n").unwrap();
        assert_eq!(render(&f, &record()), "k1\thello\n");
        let mut null = record();
        null.key = None;
        let f = Format::template("[%k] %K").unwrap();
        assert_eq!(render(&f, &null), "[] -1\n");
    }

    #[test]
    fn bad_templates_are_usage_errors() {
        assert!(Format::template("%x").is_err());
        assert!(Format::template("50%").is_err());
    }

    #[test]
    fn json_lines_round_trip_binary_and_null_fields() {
        let mut r = record();
        r.value = Some(Bytes::from_static(&[0xff, 0x00, 0x80]));
        let line = json_line(&r);
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["offset"], 17);
        assert_eq!(parsed["value_encoding"], "base64");
        let back = parse_json_record(&line).unwrap();
        assert_eq!(back.key, r.key);
        assert_eq!(back.value, r.value);
        assert_eq!(back.headers, r.headers);
        assert_eq!(back.timestamp, Some(1000));
        let minimal = parse_json_record(r#"{"value":"v","headers":{"h":"x"}}"#).unwrap();
        assert_eq!(minimal.key, None);
        assert_eq!(
            minimal.headers,
            [("h".to_owned(), Some(Bytes::from_static(b"x")))]
        );
        for bad in [
            "[1]",
            "{\"value\":5}",
            "nope",
            "{\"key\":\"%\",\"key_encoding\":\"base64\"}",
        ] {
            assert!(parse_json_record(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn starting_points_parse() {
        assert_eq!(parse_start("earliest").unwrap(), Start::Earliest);
        assert_eq!(parse_start("latest").unwrap(), Start::Latest);
        assert_eq!(parse_start("42").unwrap(), Start::Offset(42));
        assert_eq!(parse_start("-10").unwrap(), Start::FromEnd(10));
        assert_eq!(parse_start("@1000").unwrap(), Start::Time(1000));
        assert_eq!(
            parse_start("1970-01-01T00:00:02Z").unwrap(),
            Start::Time(2000)
        );
        assert!(matches!(parse_start("now-1h").unwrap(), Start::Time(_)));
        for bad in ["soon", "-x", "@y", ""] {
            assert!(parse_start(bad).is_err(), "{bad}");
        }
    }
}
