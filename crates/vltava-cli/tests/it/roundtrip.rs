//! Produce and consume round trips in every format: lines with keys and
//! headers through a template, JSON lines both ways (binary values
//! included), every codec, a file, and every starting point.

use serde_json::Value;

use crate::{create_topic, run, shared_cluster, unique, vltava};

#[test]
fn lines_with_keys_and_headers_come_back_through_a_template() {
    let cluster = shared_cluster();
    let topic = unique("cli-template");
    create_topic(&cluster, &topic, 1, 1);
    let input: String = (0..50).map(|i| format!("key{i}:value {i}\n")).collect();
    let produced = run(
        vltava(&cluster).args([
            "produce", "-t", &topic, "-K", ":", "-H", "a=1", "-H", "b=x=y",
        ]),
        input.as_bytes(),
    )
    .ok();
    assert!(
        produced.stderr.contains("produced 50 records"),
        "{}",
        produced.stderr
    );
    let consumed = run(
        vltava(&cluster).args([
            "consume",
            "-t",
            &topic,
            "-e",
            "-f",
            "%t|%p|%o|%k|%v|%h|%K|%S",
        ]),
        b"",
    )
    .ok();
    let expected: Vec<String> = (0..50)
        .map(|i| {
            let value = format!("value {i}");
            format!(
                "{topic}|0|{i}|key{i}|{value}|a=1,b=x=y|{}|{}",
                format!("key{i}").len(),
                value.len()
            )
        })
        .collect();
    assert_eq!(consumed.lines(), expected);
    // The default format is the value alone; --count stops early.
    let three = run(
        vltava(&cluster).args(["consume", "-t", &topic, "-c", "3"]),
        b"",
    )
    .ok();
    assert_eq!(three.lines(), ["value 0", "value 1", "value 2"]);
}

#[test]
fn json_lines_round_trip_through_produce_and_consume() {
    let cluster = shared_cluster();
    let source = unique("cli-json-a");
    let copy = unique("cli-json-b");
    create_topic(&cluster, &source, 1, 1);
    create_topic(&cluster, &copy, 1, 1);
    // Text, a null key, a binary value (base64), headers, explicit timestamps.
    let input = [
        r#"{"key":"k1","value":"hello","headers":[{"key":"h","value":"1"}],"timestamp":1000}"#,
        r#"{"key":null,"value":"no key","timestamp":2000}"#,
        r#"{"key":"bin","value":"AP+AAQ==","value_encoding":"base64","headers":{"x":"y"},"timestamp":3000}"#,
    ]
    .join("\n");
    run(
        vltava(&cluster).args(["produce", "-t", &source, "--json"]),
        input.as_bytes(),
    )
    .ok();
    let first = run(
        vltava(&cluster).args(["consume", "-t", &source, "-e", "--json"]),
        b"",
    )
    .ok();
    let records: Vec<Value> = first
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(records.len(), 3, "{}", first.stdout);
    assert_eq!(records[0]["topic"], source.as_str());
    assert_eq!(records[0]["offset"], 0);
    assert_eq!(records[0]["key"], "k1");
    assert_eq!(records[0]["value"], "hello");
    assert_eq!(records[0]["timestamp"], 1000);
    assert_eq!(records[0]["headers"][0]["key"], "h");
    assert_eq!(records[1]["key"], Value::Null);
    assert_eq!(records[2]["value"], "AP+AAQ==");
    assert_eq!(records[2]["value_encoding"], "base64");
    assert_eq!(records[2]["headers"][0]["value"], "y");
    // What consume wrote, produce reads: a copy of the topic.
    run(
        vltava(&cluster).args(["produce", "-t", &copy, "--json"]),
        first.stdout.as_bytes(),
    )
    .ok();
    let second = run(
        vltava(&cluster).args(["consume", "-t", &copy, "-e", "--json"]),
        b"",
    )
    .ok();
    let same = |line: &str| {
        let mut v: Value = serde_json::from_str(line).unwrap();
        v.as_object_mut().unwrap().remove("topic");
        v
    };
    let a: Vec<Value> = first.lines().into_iter().map(same).collect();
    let b: Vec<Value> = second.lines().into_iter().map(same).collect();
    assert_eq!(a, b);
    // A bad line is reported on a line of its own, with its number; the
    // others go through, and the last line says how many failed.
    let bad = run(
        vltava(&cluster).args(["produce", "-t", &copy, "--json"]),
        b"{\"value\":\"ok\"}\nnot json\n",
    );
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    let lines: Vec<&str> = bad.stderr.lines().collect();
    assert!(
        lines[0].starts_with("error: line 2: not JSON"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.contains("produced 1 record to"),
        "{}",
        bad.stderr
    );
    assert_eq!(
        lines.last(),
        Some(&"error: 1 of 2 records were not delivered"),
        "{}",
        bad.stderr
    );
}

#[test]
fn every_codec_round_trips_synthetic_records() {
    let cluster = shared_cluster();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = unique(&format!("cli-codec-{codec}"));
        create_topic(&cluster, &topic, 2, 2);
        // acks=all: with acks=1 a record is acknowledged before the
        // follower has it, so the high watermark (where a consumer sees the
        // end, and `-e` stops) can still be below it when consuming starts.
        let produced = run(
            vltava(&cluster).args([
                "produce", "-t", &topic, "--count", "500", "--size", "300", "-z", codec, "--acks",
                "all",
            ]),
            b"",
        )
        .ok();
        assert!(
            produced.stderr.contains("produced 500 records"),
            "{codec}: {}",
            produced.stderr
        );
        let consumed = run(
            vltava(&cluster).args(["consume", "-t", &topic, "-e", "-f", "%v"]),
            b"",
        )
        .ok();
        let mut numbers: Vec<u64> = consumed
            .lines()
            .iter()
            .map(|v| {
                assert_eq!(v.len(), 300, "{codec}: {v}");
                v.trim_end_matches('.').parse().unwrap()
            })
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=500).collect::<Vec<u64>>(), "{codec}");
    }
}

#[test]
fn a_file_is_produced_and_consumption_starts_where_asked() {
    let cluster = shared_cluster();
    let topic = unique("cli-from");
    create_topic(&cluster, &topic, 1, 1);
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{topic}.jsonl"));
    let lines: String = (0..10)
        .map(|i| {
            format!(
                "{{\"value\":\"v{i}\",\"timestamp\":{}}}\n",
                10_000 + i * 1000
            )
        })
        .collect();
    std::fs::write(&file, lines).unwrap();
    run(
        vltava(&cluster)
            .args(["produce", "-t", &topic, "--json", "-i"])
            .arg(&file),
        b"",
    )
    .ok();
    let from = |start: &str| {
        run(
            vltava(&cluster).args(["consume", "-t", &topic, "-e", "--from", start]),
            b"",
        )
        .ok()
        .stdout
    };
    assert_eq!(from("earliest").lines().count(), 10);
    assert_eq!(from("7"), "v7\nv8\nv9\n");
    assert_eq!(from("-2"), "v8\nv9\n");
    assert_eq!(from("@14500"), "v5\nv6\nv7\nv8\nv9\n");
    assert_eq!(from("1970-01-01T00:00:18Z"), "v8\nv9\n");
    // A time after every record starts at the end: nothing to read.
    assert_eq!(from("now"), "");
    assert_eq!(from("latest"), "");
}

#[test]
fn records_the_broker_refuses_are_reported_one_by_one() {
    let cluster = shared_cluster();
    let topic = unique("cli-refused");
    run(
        vltava(&cluster).args([
            "topics",
            "create",
            &topic,
            "-p",
            "1",
            "-r",
            "1",
            "--config",
            "max.message.bytes=2000",
        ]),
        b"",
    )
    .ok();
    let big = "x".repeat(5000);
    let produced = run(
        vltava(&cluster).args(["produce", "-t", &topic]),
        format!("small\n{big}\n").as_bytes(),
    );
    assert_eq!(produced.code, 1, "{}", produced.stderr);
    let failed: Vec<&str> = produced
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: line "))
        .collect();
    // The large record fails, named by its line, with the broker's reason
    // (a record batched with it may fail with it).
    assert!(
        failed
            .iter()
            .any(|l| l.starts_with("error: line 2: ") && l.contains("MESSAGE_TOO_LARGE")),
        "{}",
        produced.stderr
    );
    let last = produced.stderr.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "error: {} of 2 records were not delivered",
            failed.len()
        )),
        "{}",
        produced.stderr
    );
    let consumed = run(vltava(&cluster).args(["consume", "-t", &topic, "-e"]), b"").ok();
    assert_eq!(
        consumed.lines().len(),
        2 - failed.len(),
        "{}",
        consumed.stdout
    );
}
