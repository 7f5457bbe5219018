//! Golden vectors: response frames captured from a real Kafka 4.4 broker by
//! `cargo xtask fixtures`, decoded here without a cluster. The Fetch
//! responses carry batches written by Kafka's own console producer, once per
//! compression codec.

use bytes::Bytes;
use vltava_wire::messages::{
    ApiVersionsResponse, ConsumerProtocolSubscription, FetchResponse, FindCoordinatorResponse,
    JoinGroupResponse, MetadataResponse,
};
use vltava_wire::{
    ApiKey, Batch, Compression, DecompressionLimit, Message, RecordBatches, Response,
};

/// Records per topic that the fixtures' producer wrote.
const RECORDS: usize = 200;

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/tests/fixtures/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn decode<R: Response>(name: &str, version: i16) -> R {
    let frame = fixture(name);
    let (_, body) = vltava_wire::decode_response::<R>(version, &frame)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    body
}

#[test]
fn api_versions_v0_and_v3_list_the_apis_a_client_needs() {
    for (name, version) in [("api_versions_v0", 0), ("api_versions_v3", 3)] {
        let body: ApiVersionsResponse = decode(name, version);
        assert_eq!(body.error_code, 0, "{name}");
        for (key, min_max) in [
            (ApiKey::Fetch, 12),
            (ApiKey::Metadata, 12),
            (ApiKey::JoinGroup, 9),
        ] {
            let api = body
                .api_keys
                .iter()
                .find(|a| a.api_key == key.as_i16())
                .unwrap_or_else(|| panic!("{name} lacks {key:?}"));
            assert!(api.max_version >= min_max, "{name}: {api:?}");
        }
        // Every key the broker lists that our specs know decodes to an ApiKey.
        let known = body
            .api_keys
            .iter()
            .filter(|a| ApiKey::try_from(a.api_key).is_ok())
            .count();
        assert!(known >= 60, "{name}: only {known} known keys");
    }
    let v3: ApiVersionsResponse = decode("api_versions_v3", 3);
    assert!(
        v3.finalized_features
            .iter()
            .any(|f| f.name == "metadata.version"),
        "v3 carries finalized features as tagged fields"
    );
}

#[test]
fn metadata_v12_and_v4_describe_three_brokers_and_the_fixture_topics() {
    let v12: MetadataResponse = decode("metadata_v12", 12);
    assert_eq!(v12.brokers.len(), 3);
    assert!(v12.brokers.iter().all(|b| b.host == "127.0.0.1"));
    assert_eq!(v12.topics.len(), 5);
    for topic in &v12.topics {
        assert_eq!(topic.error_code, 0);
        assert!(topic.name.as_deref().unwrap().starts_with("fixture-"));
        assert_ne!(topic.topic_id, Default::default(), "v10+ carries topic ids");
        let p = &topic.partitions[0];
        assert_eq!(p.replica_nodes.len(), 3);
        assert!(p.replica_nodes.contains(&p.leader_id));
        assert!(p.leader_epoch >= 0);
    }
    let v4: MetadataResponse = decode("metadata_v4", 4);
    assert_eq!(v4.brokers.len(), 3);
    assert_eq!(v4.topics.len(), 1);
    assert!(v4.cluster_id.is_some());
}

#[test]
fn find_coordinator_v2_and_batched_v4_agree() {
    let v2: FindCoordinatorResponse = decode("find_coordinator_v2", 2);
    assert_eq!(v2.error_code, 0);
    let v4: FindCoordinatorResponse = decode("find_coordinator_v4", 4);
    assert_eq!(v4.coordinators.len(), 1);
    let c = &v4.coordinators[0];
    assert_eq!(c.error_code, 0);
    assert!(c.key.starts_with("fixture-group-"));
    assert_eq!(
        (c.node_id, &c.host, c.port),
        (v2.node_id, &v2.host, v2.port)
    );
}

#[test]
fn join_group_v9_first_asks_for_a_member_id_then_makes_us_leader() {
    let first: JoinGroupResponse = decode("join_group_v9_member_id_required", 9);
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED (KIP-394)");
    assert!(!first.member_id.is_empty());

    let second: JoinGroupResponse = decode("join_group_v9_leader", 9);
    assert_eq!(second.error_code, 0);
    assert_eq!(second.member_id, first.member_id);
    assert_eq!(second.leader, second.member_id);
    assert_eq!(second.protocol_name.as_deref(), Some("range"));
    assert_eq!(second.members.len(), 1);
    let metadata = &second.members[0].metadata;
    let version = i16::from_be_bytes([metadata[0], metadata[1]]);
    let subscription = ConsumerProtocolSubscription::decode(&metadata.slice(2..), version).unwrap();
    assert_eq!(subscription.topics.len(), 1);
    assert!(subscription.topics[0].starts_with("fixture-none-"));
}

/// Checks every record of a fetch fixture against what the producer wrote.
/// Returns the number of records and of batches seen, and the partial tail if any.
fn check_fetch(name: &str, version: i16, codec: Compression) -> (usize, usize, bool) {
    let body: FetchResponse = decode(name, version);
    assert_eq!(body.error_code, 0, "{name}");
    let partition = &body.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0, "{name}");
    assert_eq!(partition.high_watermark, RECORDS as i64, "{name}");
    let records = partition.records.clone().expect("records");
    let mut batches = RecordBatches::new(records);
    let (mut seen, mut batch_count) = (0usize, 0usize);
    for batch in batches.by_ref() {
        let batch = batch.unwrap_or_else(|e| panic!("{name}: {e}"));
        batch_count += 1;
        assert!(
            matches!(batch, Batch::V2(_)),
            "{name}: magic {}",
            batch.magic()
        );
        assert_eq!(batch.compression(), codec, "{name}");
        let v2 = batch.as_v2().expect("magic 2");
        assert!(v2.producer_id() >= 0, "the console producer is idempotent");
        let records = batch.records(DecompressionLimit::default()).unwrap();
        for record in records.iter() {
            let record = record.unwrap_or_else(|e| panic!("{name}: {e}"));
            let i = seen;
            assert_eq!(record.offset(), i as i64, "{name}");
            assert_eq!(record.key(), Some(format!("key-{i}").as_bytes()), "{name}");
            let value = std::str::from_utf8(record.value().unwrap()).unwrap();
            assert!(value.starts_with(&format!("value {i} ")), "{name}: {value}");
            let headers: Vec<(String, String)> = record
                .headers()
                .map(|h| {
                    let h = h.unwrap();
                    (
                        String::from_utf8(h.key().to_vec()).unwrap(),
                        String::from_utf8(h.value().unwrap().to_vec()).unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                headers,
                [
                    ("trace".to_owned(), format!("t-{i}")),
                    ("codec".to_owned(), codec.name().to_owned())
                ],
                "{name}"
            );
            seen += 1;
        }
    }
    (seen, batch_count, batches.partial().is_some())
}

#[test]
fn fetch_v12_reads_what_kafkas_producer_wrote_with_every_codec() {
    for codec in Compression::ALL {
        let name = format!("fetch_v12_{}", codec.name());
        let (records, batches, partial) = check_fetch(&name, 12, codec);
        assert_eq!(records, RECORDS, "{name}");
        assert!(batches > 1, "{name}: {batches} batches");
        assert!(!partial, "{name}");
    }
}

#[test]
fn fetch_v4_and_v16_carry_the_same_records() {
    assert_eq!(
        check_fetch("fetch_v4_none", 4, Compression::None).0,
        RECORDS
    );
    let v16: FetchResponse = decode("fetch_v16_none", 16);
    assert_ne!(
        v16.responses[0].topic_id,
        Default::default(),
        "v13+ names topics by id"
    );
    assert_eq!(
        check_fetch("fetch_v16_none", 16, Compression::None).0,
        RECORDS
    );
}

#[test]
fn a_fetch_cut_mid_batch_ends_in_a_partial_batch_not_an_error() {
    let (records, batches, partial) =
        check_fetch("fetch_v12_none_truncated", 12, Compression::None);
    assert!(partial, "the broker's size limit cut the last batch");
    assert!(records > 0 && records < RECORDS, "{records}");
    assert!(batches >= 1);
}

#[test]
fn a_flipped_byte_in_a_fetched_batch_is_a_crc_error() {
    let body: FetchResponse = decode("fetch_v12_none", 12);
    let records = body.responses[0].partitions[0].records.clone().unwrap();
    // Byte 70 lies in the first batch's records, past its 61-byte header.
    let mut corrupt = records.to_vec();
    corrupt[70] ^= 0x20;
    let first = RecordBatches::new(Bytes::from(corrupt)).next().unwrap();
    let error = first
        .expect_err("a flipped bit must not pass the CRC")
        .to_string();
    assert!(error.to_lowercase().contains("crc"), "{error}");
}

#[test]
fn every_truncation_of_a_golden_frame_is_an_error_not_a_panic() {
    for (name, key, version) in [
        ("api_versions_v3", ApiKey::ApiVersions, 3),
        ("metadata_v12", ApiKey::Metadata, 12),
        ("join_group_v9_leader", ApiKey::JoinGroup, 9),
        ("fetch_v12_zstd", ApiKey::Fetch, 12),
    ] {
        let frame = fixture(name);
        for len in 0..frame.len() {
            assert!(
                vltava_wire::decode_response_body(key, version, &frame.slice(..len)).is_err(),
                "{name} cut at {len} decoded"
            );
        }
    }
}
