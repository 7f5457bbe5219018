//! Tests of batches end to end: builder round trips, fetch iteration, partial batches, corruption.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::legacy::write as legacy_write;
use super::*;
use crate::compression::{Compression, CompressionError, DecompressionLimit};

const LIMIT: DecompressionLimit = DecompressionLimit::DEFAULT;

/// A record as plain data, to compare what goes in with what comes out.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plain {
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn plain(record: Record<'_>) -> Plain {
    Plain {
        offset: record.offset(),
        timestamp: record.timestamp(),
        key: record.key().map(<[u8]>::to_vec),
        value: record.value().map(<[u8]>::to_vec),
        headers: record
            .headers()
            .map(|h| {
                let h = h.unwrap();
                (
                    h.key_str().unwrap().to_owned(),
                    h.value().map(<[u8]>::to_vec),
                )
            })
            .collect(),
    }
}

fn all_records(batch: &Batch) -> Vec<Plain> {
    let records = batch.records(LIMIT).unwrap();
    records.iter().map(|r| plain(r.unwrap())).collect()
}

fn build(builder: &RecordBatchBuilder) -> Bytes {
    let mut out = BytesMut::new();
    let written = builder.build(&mut out).unwrap();
    assert_eq!(written, out.len());
    out.freeze()
}

/// A batch of `count` records with keys, values and headers.
fn sample_batch(codec: Compression, base_offset: i64, count: usize) -> Bytes {
    let mut builder = RecordBatchBuilder::new(codec)
        .base_offset(base_offset)
        .producer(7, 1, 100);
    for i in 0..count {
        let key = format!("key-{i}");
        let value = format!("value-{i}-{}", "x".repeat(i % 50));
        let headers = [
            RecordHeader::new("h1", b"v1"),
            RecordHeader {
                key: "null",
                value: None,
            },
        ];
        let headers = if i % 3 == 0 { &headers[..] } else { &[] };
        builder
            .append(
                1_000 + i as i64,
                Some(key.as_bytes()),
                Some(value.as_bytes()),
                headers,
            )
            .unwrap();
    }
    build(&builder)
}

/// A legacy magic-1 gzip wrapper holding offsets `last - 1` and `last`.
fn sample_legacy(last: i64) -> Bytes {
    let mut inner = Vec::new();
    legacy_write::message(&mut inner, 0, 1, 0, 5, Some(b"a"), Some(b"1"));
    legacy_write::message(&mut inner, 1, 1, 0, 6, None, Some(b"2"));
    let mut out = Vec::new();
    legacy_write::wrapper(
        &mut out,
        last,
        1,
        Compression::Gzip,
        TimestampType::CreateTime,
        6,
        &inner,
    );
    Bytes::from(out)
}

/// A fetch response's records: batches of every codec and a legacy message.
fn sample_fetch() -> (Bytes, Vec<usize>) {
    let mut fetch = BytesMut::new();
    let mut boundaries = vec![0];
    let mut offset = 0;
    for codec in Compression::ALL {
        fetch.extend_from_slice(&sample_batch(codec, offset, 5));
        offset += 5;
        boundaries.push(fetch.len());
    }
    fetch.extend_from_slice(&sample_legacy(offset + 1));
    boundaries.push(fetch.len());
    (fetch.freeze(), boundaries)
}

/// Everything a consumer would read from `fetch`: every record of every
/// batch, headers and control records included. An error anywhere is the
/// outcome; otherwise the records and the partial notice.
fn consume(
    fetch: Bytes,
    verify_crc: bool,
) -> Result<(Vec<Plain>, Option<PartialBatch>), RecordsError> {
    let mut batches = RecordBatches::new(fetch).verify_crc(verify_crc);
    let mut out = Vec::new();
    for batch in &mut batches {
        let batch = batch?;
        let records = batch.records(DecompressionLimit::new(1 << 20))?;
        for record in &records {
            let record = record?;
            for header in record.headers() {
                header?;
            }
            if record.is_control() {
                let _ = record.control_record()?;
            }
            out.push(Plain {
                offset: record.offset(),
                timestamp: record.timestamp(),
                key: record.key().map(<[u8]>::to_vec),
                value: record.value().map(<[u8]>::to_vec),
                headers: Vec::new(),
            });
        }
    }
    Ok((out, batches.partial()))
}

/// Rewrites the CRC32C of a magic-2 batch after a test edits it.
fn fix_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[layout::ATTRIBUTES..]);
    batch[layout::CRC..layout::ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn every_field_of_a_batch_round_trips() {
    for codec in Compression::ALL {
        let mut builder = RecordBatchBuilder::new(codec)
            .base_offset(1 << 40)
            .partition_leader_epoch(12)
            .producer(123_456, 7, 2_000)
            .transactional(true);
        builder
            .append(
                1_700_000_000_500,
                Some(b"k1"),
                Some(b"v1"),
                &[RecordHeader::new("a", b"b")],
            )
            .unwrap();
        builder.append(1_700_000_000_000, None, None, &[]).unwrap();
        builder
            .append_at(5, 1_700_000_000_900, Some(b""), Some(b"v3"), &[])
            .unwrap();
        let bytes = build(&builder);
        let batch = RecordBatch::decode(bytes.clone()).unwrap();
        assert_eq!(batch.base_offset(), 1 << 40);
        assert_eq!(batch.last_offset_delta(), 5);
        assert_eq!(batch.last_offset(), (1 << 40) + 5);
        assert_eq!(batch.next_offset(), (1 << 40) + 6);
        assert_eq!(batch.partition_leader_epoch(), 12);
        assert_eq!(batch.magic(), 2);
        assert_eq!(batch.compression(), codec);
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        assert!(batch.is_transactional());
        assert!(!batch.is_control());
        assert!(!batch.has_delete_horizon());
        assert_eq!(batch.delete_horizon_ms(), None);
        assert_eq!(batch.base_timestamp(), 1_700_000_000_500);
        assert_eq!(batch.max_timestamp(), 1_700_000_000_900);
        assert_eq!(batch.producer_id(), 123_456);
        assert_eq!(batch.producer_epoch(), 7);
        assert_eq!(batch.base_sequence(), 2_000);
        assert_eq!(batch.last_sequence(), 2_005);
        assert_eq!(batch.record_count(), 3);
        assert_eq!(batch.size_in_bytes(), bytes.len());
        assert_eq!(batch.as_bytes(), &bytes);

        let records = batch.records(LIMIT).unwrap();
        assert_eq!(records.len(), 3);
        let got: Vec<Plain> = records.iter().map(|r| plain(r.unwrap())).collect();
        let base = 1i64 << 40;
        assert_eq!(
            got,
            [
                Plain {
                    offset: base,
                    timestamp: 1_700_000_000_500,
                    key: Some(b"k1".to_vec()),
                    value: Some(b"v1".to_vec()),
                    headers: vec![("a".to_owned(), Some(b"b".to_vec()))],
                },
                Plain {
                    offset: base + 1,
                    timestamp: 1_700_000_000_000,
                    key: None,
                    value: None,
                    headers: vec![],
                },
                Plain {
                    offset: base + 5,
                    timestamp: 1_700_000_000_900,
                    key: Some(vec![]),
                    value: Some(b"v3".to_vec()),
                    headers: vec![],
                },
            ],
            "{codec}"
        );
    }
}

#[test]
fn log_append_time_gives_every_record_the_max_timestamp() {
    let mut builder =
        RecordBatchBuilder::new(Compression::Snappy).timestamp_type(TimestampType::LogAppendTime);
    builder.append(10, None, Some(b"a"), &[]).unwrap();
    builder.append(30, None, Some(b"b"), &[]).unwrap();
    builder.append(20, None, Some(b"c"), &[]).unwrap();
    let batch = RecordBatch::decode(build(&builder)).unwrap();
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    let times: Vec<i64> = batch
        .records(LIMIT)
        .unwrap()
        .iter()
        .map(|r| r.unwrap().timestamp())
        .collect();
    assert_eq!(times, [30, 30, 30]);
}

#[test]
fn the_delete_horizon_is_the_base_timestamp_and_records_keep_theirs() {
    let mut builder = RecordBatchBuilder::new(Compression::None).delete_horizon_ms(5_000);
    builder.append(4_000, Some(b"k"), None, &[]).unwrap();
    builder.append(6_000, Some(b"k2"), Some(b"v"), &[]).unwrap();
    let batch = RecordBatch::decode(build(&builder)).unwrap();
    assert!(batch.has_delete_horizon());
    assert_eq!(batch.delete_horizon_ms(), Some(5_000));
    assert_eq!(batch.base_timestamp(), 5_000);
    let times: Vec<i64> = batch
        .records(LIMIT)
        .unwrap()
        .iter()
        .map(|r| r.unwrap().timestamp())
        .collect();
    assert_eq!(times, [4_000, 6_000]);
}

#[test]
fn transaction_markers_round_trip() {
    for (result, epoch) in [
        (TransactionResult::Commit, 3),
        (TransactionResult::Abort, 9),
    ] {
        let mut builder = RecordBatchBuilder::new(Compression::None)
            .producer(55, 2, -1)
            .transactional(true)
            .control(true);
        let marker = EndTxnMarker {
            result,
            coordinator_epoch: epoch,
        };
        builder.append_end_txn_marker(77, marker).unwrap();
        let batch = RecordBatch::decode(build(&builder)).unwrap();
        assert!(batch.is_control());
        assert!(batch.is_transactional());
        let records = batch.records(LIMIT).unwrap();
        let record = records.iter().next().unwrap().unwrap();
        assert!(record.is_control());
        let control = record.control_record().unwrap();
        assert_eq!(control.version, 0);
        assert_eq!(control.kind, result.control_type());
        assert_eq!(record.end_txn_marker().unwrap(), marker);
        // The exact bytes Java writes: key (version 0, type), value
        // (version 0, coordinator epoch).
        let kind = if result == TransactionResult::Commit {
            1
        } else {
            0
        };
        assert_eq!(record.key().unwrap(), [0, 0, 0, kind]);
        assert_eq!(record.value().unwrap(), [0, 0, 0, 0, 0, epoch as u8]);
    }
}

#[test]
fn control_records_that_are_not_markers_or_are_malformed_are_errors() {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    assert!(matches!(
        builder.append_end_txn_marker(
            0,
            EndTxnMarker {
                result: TransactionResult::Commit,
                coordinator_epoch: 0
            }
        ),
        Err(RecordsError::InvalidAppend(_))
    ));
    builder.append(0, Some(b"k"), Some(b"v"), &[]).unwrap();
    let batch = RecordBatch::decode(build(&builder)).unwrap();
    let records = batch.records(LIMIT).unwrap();
    let record = records.iter().next().unwrap().unwrap();
    assert!(record.control_record().is_err());

    let cases: [(&[u8], &[u8]); 5] = [
        (&[0, 0, 0], &[0, 0, 0, 0, 0, 0]),          // short key
        (&[0xFF, 0xFF, 0, 1], &[0, 0, 0, 0, 0, 0]), // negative key version
        (&[0, 0, 0, 2], &[0, 0, 0, 0, 0, 0]),       // LEADER_CHANGE, not a marker
        (&[0, 0, 0, 1], &[0, 0, 0, 0, 0]),          // short value
        (&[0, 0, 0, 0], &[0x80, 0, 0, 0, 0, 0]),    // negative value version
    ];
    for (key, value) in cases {
        let mut builder = RecordBatchBuilder::new(Compression::None).control(true);
        builder.append(0, Some(key), Some(value), &[]).unwrap();
        let batch = RecordBatch::decode(build(&builder)).unwrap();
        let records = batch.records(LIMIT).unwrap();
        let record = records.iter().next().unwrap().unwrap();
        assert!(record.end_txn_marker().is_err(), "{key:?} {value:?}");
    }
    // A newer value version is read as version 0.
    let mut builder = RecordBatchBuilder::new(Compression::None).control(true);
    builder
        .append(0, Some(&[0, 0, 0, 1]), Some(&[0, 1, 0, 0, 0, 4, 0xAA]), &[])
        .unwrap();
    let batch = RecordBatch::decode(build(&builder)).unwrap();
    let records = batch.records(LIMIT).unwrap();
    let marker = records
        .iter()
        .next()
        .unwrap()
        .unwrap()
        .end_txn_marker()
        .unwrap();
    assert_eq!(marker.coordinator_epoch, 4);
}

#[test]
fn the_builder_refuses_offsets_out_of_order() {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    builder.append_at(3, 0, None, None, &[]).unwrap();
    assert!(builder.append_at(3, 0, None, None, &[]).is_err());
    assert!(builder.append_at(2, 0, None, None, &[]).is_err());
    assert_eq!(builder.append(0, None, None, &[]).unwrap(), 4);
    assert!(
        RecordBatchBuilder::new(Compression::None)
            .append_at(-1, 0, None, None, &[])
            .is_err()
    );
    assert_eq!(builder.record_count(), 2);
    assert!(!builder.is_empty());
    assert!(builder.uncompressed_size() > layout::HEADER_LEN);
}

#[test]
fn an_empty_batch_builds_and_decodes() {
    for codec in Compression::ALL {
        let batch = RecordBatch::decode(build(&RecordBatchBuilder::new(codec))).unwrap();
        assert_eq!(batch.record_count(), 0);
        let records = batch.records(LIMIT).unwrap();
        assert!(records.is_empty());
        assert!(records.iter().next().is_none(), "{codec}");
    }
}

#[test]
fn a_fetch_of_mixed_batches_is_read_in_order() {
    let (fetch, boundaries) = sample_fetch();
    let mut batches = RecordBatches::new(fetch.clone());
    let mut offsets = Vec::new();
    let mut magics = Vec::new();
    for batch in &mut batches {
        let batch = batch.unwrap();
        magics.push(batch.magic());
        assert!(!batch.is_control());
        for record in &batch.records(LIMIT).unwrap() {
            offsets.push(record.unwrap().offset());
        }
        assert_eq!(batch.next_offset(), offsets.last().unwrap() + 1);
    }
    assert_eq!(batches.partial(), None);
    assert_eq!(batches.position(), fetch.len());
    assert_eq!(magics, [2, 2, 2, 2, 2, 1]);
    assert_eq!(offsets, (0..27).collect::<Vec<i64>>());
    assert_eq!(boundaries.len(), 7);
}

#[test]
fn a_fetch_cut_anywhere_yields_the_whole_batches_then_a_partial_notice() {
    let (fetch, boundaries) = sample_fetch();
    let (full, _) = consume(fetch.clone(), true).unwrap();
    for cut in 0..=fetch.len() {
        let (records, partial) =
            consume(fetch.slice(..cut), true).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        // The whole batches before the cut, exactly.
        let whole = boundaries.iter().rposition(|&b| b <= cut).unwrap();
        let batch_start = boundaries[whole];
        let expected: usize = consume(fetch.slice(..batch_start), true).unwrap().0.len();
        assert_eq!(records.len(), expected, "cut at {cut}");
        assert_eq!(records[..], full[..expected]);
        if cut == batch_start {
            assert_eq!(partial, None, "cut at {cut}");
        } else {
            let partial = partial.unwrap_or_else(|| panic!("no partial notice at {cut}"));
            assert_eq!(partial.available, cut - batch_start);
            let base = i64::from_be_bytes(fetch[batch_start..batch_start + 8].try_into().unwrap());
            let expected_base = (partial.available >= 8).then_some(base);
            assert_eq!(partial.base_offset, expected_base);
            let expected_needed =
                (partial.available >= 12).then(|| boundaries[whole + 1] - batch_start);
            assert_eq!(partial.needed, expected_needed);
        }
    }
}

#[test]
fn a_single_batch_cut_anywhere_is_an_error() {
    let batch = sample_batch(Compression::Lz4, 0, 4);
    for cut in 0..batch.len() {
        assert!(
            RecordBatch::decode(batch.slice(..cut)).is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = BytesMut::from(&batch[..]);
    longer.extend_from_slice(&[0]);
    assert!(matches!(
        RecordBatch::decode(longer.freeze()),
        Err(RecordsError::InvalidBatchLength { .. })
    ));
}

#[test]
fn flipping_any_checked_byte_of_a_fetch_is_an_error_or_a_partial_batch() {
    let (fetch, boundaries) = sample_fetch();
    let (full, _) = consume(fetch.clone(), true).unwrap();
    let legacy_start = boundaries[boundaries.len() - 2];
    for at in 0..fetch.len() {
        let batch_start = boundaries[boundaries.iter().rposition(|&b| b <= at).unwrap()];
        let within = at - batch_start;
        // Not covered by any check, as in Kafka: the base offset, and in
        // magic 2 the partition leader epoch.
        let unchecked = within < 8 || (batch_start < legacy_start && (12..16).contains(&within));
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut bad = fetch.to_vec();
            bad[at] ^= flip;
            let outcome = consume(Bytes::from(bad.clone()), true);
            if unchecked {
                match outcome {
                    Ok((records, partial)) => {
                        assert_eq!(records.len(), full.len());
                        assert_eq!(partial, None);
                    }
                    // A legacy wrapper's offset anchors its inner offsets,
                    // and some values cannot.
                    Err(RecordsError::InvalidLegacyMessage { .. })
                        if batch_start == legacy_start => {}
                    Err(e) => panic!("flip {flip:#x} at {at}: {e}"),
                }
            } else {
                match outcome {
                    Err(_) => {}
                    Ok((_, Some(partial))) => {
                        // Only a length grown past the end of the input can
                        // look like a cut batch (as in any Kafka client).
                        assert!(
                            (8..12).contains(&within)
                                && partial.needed > Some(fetch.len() - batch_start),
                            "flip {flip:#x} at {at} ({within} into the batch at {batch_start})"
                        );
                    }
                    Ok((records, None)) => {
                        panic!(
                            "flip {flip:#x} at {at} went unnoticed: {} records",
                            records.len()
                        )
                    }
                }
            }
            // With the CRC check off nothing may panic either.
            let _ = consume(Bytes::from(bad), false);
        }
    }
}

#[test]
fn lies_inside_a_batch_with_a_valid_crc_are_errors() {
    let batch = sample_batch(Compression::None, 0, 3);
    let decode_all = |bytes: Vec<u8>| -> Result<usize, RecordsError> {
        let batch = RecordBatch::decode(Bytes::from(bytes))?;
        let records = batch.records(LIMIT)?;
        let mut n = 0;
        for record in &records {
            for header in record?.headers() {
                header?;
            }
            n += 1;
        }
        Ok(n)
    };
    assert_eq!(decode_all(batch.to_vec()), Ok(3));

    // A record count larger, smaller or negative.
    for (count, expect) in [(4i32, "truncated"), (2, "left over"), (-1, "invalid")] {
        let mut bad = batch.to_vec();
        bad[layout::RECORDS_COUNT..layout::RECORDS].copy_from_slice(&count.to_be_bytes());
        fix_crc(&mut bad);
        let error = decode_all(bad).unwrap_err();
        assert!(error.to_string().contains(expect), "{count}: {error}");
    }
    // A huge record count does not allocate for it: it only ends in an error.
    let mut bad = batch.to_vec();
    bad[layout::RECORDS_COUNT..layout::RECORDS].copy_from_slice(&i32::MAX.to_be_bytes());
    fix_crc(&mut bad);
    assert!(decode_all(bad).is_err());

    // An unknown codec.
    let mut bad = batch.to_vec();
    bad[layout::ATTRIBUTES + 1] |= 0x07;
    fix_crc(&mut bad);
    assert!(matches!(
        decode_all(bad),
        Err(RecordsError::UnknownCompression { id: 7, .. })
    ));

    // The first record's length larger or smaller than the record, and
    // every single byte of the records area replaced, CRC fixed: never a
    // panic, and a changed length is always caught.
    for at in layout::RECORDS..batch.len() {
        for value in [0x00u8, 0x01, 0x7F, 0x80, 0xFF] {
            let mut bad = batch.to_vec();
            bad[at] = value;
            fix_crc(&mut bad);
            let _ = decode_all(bad);
        }
    }
    let mut bad = batch.to_vec();
    bad[layout::RECORDS] += 2; // zigzag: one more byte
    fix_crc(&mut bad);
    assert!(decode_all(bad).is_err());
}

#[test]
fn a_header_count_that_lies_is_an_error_on_reading_the_headers() {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    builder
        .append(
            0,
            None,
            Some(b"v"),
            &[RecordHeader::new("k", b"v"), RecordHeader::new("k2", b"v2")],
        )
        .unwrap();
    let good = build(&builder);
    // The header count is the byte before the headers: find it by
    // rebuilding without headers and comparing.
    let mut plain_builder = RecordBatchBuilder::new(Compression::None);
    plain_builder.append(0, None, Some(b"v"), &[]).unwrap();
    let count_at = build(&plain_builder).len() - 1;
    assert_eq!(good[count_at], 4); // zigzag(2)
    for (count, reading_fails) in [(1u8, true), (3, true)] {
        let mut bad = good.to_vec();
        bad[count_at] = count * 2;
        fix_crc(&mut bad);
        let batch = RecordBatch::decode(Bytes::from(bad)).unwrap();
        let records = batch.records(LIMIT).unwrap();
        let record = records.iter().next().unwrap();
        match record {
            Err(_) => {}
            Ok(record) => assert_eq!(
                record.headers().any(|h| h.is_err()),
                reading_fails,
                "count {count}"
            ),
        }
    }
}

#[test]
fn decompression_in_a_batch_is_bounded_by_the_limit() {
    let mut builder = RecordBatchBuilder::new(Compression::Zstd);
    builder
        .append(0, None, Some(&vec![0u8; 1 << 20]), &[])
        .unwrap();
    let batch = RecordBatch::decode(build(&builder)).unwrap();
    assert!(batch.size_in_bytes() < 1024);
    match batch.records(DecompressionLimit::new(64 * 1024)) {
        Err(RecordsError::Decompression {
            source: CompressionError::LimitExceeded { limit, .. },
            ..
        }) => assert_eq!(limit, 64 * 1024),
        other => panic!("{other:?}"),
    }
    assert!(batch.records(DecompressionLimit::new(2 << 20)).is_ok());
}

#[test]
fn records_are_zero_copy_views_and_bytes_slices() {
    let fetch = sample_batch(Compression::None, 0, 10);
    let range = fetch.as_ptr() as usize..fetch.as_ptr() as usize + fetch.len();
    let batch = RecordBatches::new(fetch.clone()).next().unwrap().unwrap();
    assert_eq!(batch.as_bytes().as_ptr(), fetch.as_ptr());
    let records = batch.records(LIMIT).unwrap();
    for record in &records {
        let record = record.unwrap();
        let value = record.value_bytes().unwrap();
        assert!(range.contains(&(value.as_ptr() as usize)));
        assert_eq!(&value[..], record.value().unwrap());
        let owned = record.into_owned().unwrap();
        assert_eq!(owned.value.as_ref(), Some(&value));
        assert_eq!(owned.key, record.key_bytes());
        assert_eq!(owned.headers.len(), record.header_count());
        for (header, owned) in record.headers().zip(&owned.headers) {
            let header = header.unwrap();
            assert_eq!(header.key_bytes(), owned.key);
            assert!(range.contains(&(owned.key.as_ptr() as usize)));
        }
    }
    // A compressed batch: views into its one decompressed buffer.
    let batch = RecordBatch::decode(sample_batch(Compression::Gzip, 0, 10)).unwrap();
    let records = batch.records(LIMIT).unwrap();
    let data =
        records.data().as_ptr() as usize..records.data().as_ptr() as usize + records.data().len();
    for record in &records {
        let value = record.unwrap().value_bytes().unwrap();
        assert!(data.contains(&(value.as_ptr() as usize)));
    }
}

#[test]
fn iterating_records_allocates_nothing_per_record() {
    let batch = RecordBatch::decode(sample_batch(Compression::None, 0, 1000)).unwrap();
    let records = batch.records(LIMIT).unwrap();
    let before = counting_allocator::allocations();
    let mut bytes = 0;
    for record in &records {
        let record = record.unwrap();
        bytes += record.value().map_or(0, <[u8]>::len);
        for header in record.headers() {
            bytes += header.unwrap().key().len();
        }
        bytes += record.value_bytes().map_or(0, |v| v.len());
    }
    let allocations = counting_allocator::allocations() - before;
    assert!(bytes > 0);
    assert_eq!(allocations, 0);

    // A compressed batch: a fixed handful for the one decompression buffer,
    // whatever the record count.
    for codec in [Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let small = RecordBatch::decode(sample_batch(codec, 0, 10)).unwrap();
        let large = RecordBatch::decode(sample_batch(codec, 0, 2000)).unwrap();
        let count = |batch: &RecordBatch| {
            let before = counting_allocator::allocations();
            let records = batch.records(LIMIT).unwrap();
            assert!(records.iter().all(|r| r.is_ok()));
            counting_allocator::allocations() - before
        };
        let (small, large) = (count(&small), count(&large));
        assert!(
            large <= small + 4,
            "{codec}: {small} vs {large} allocations"
        );
    }
}

/// Counts this thread's allocations, for the allocation test.
mod counting_allocator {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn allocations() -> usize {
        ALLOCATIONS.with(Cell::get)
    }

    struct Counting;

    // SAFETY: forwards to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
            // SAFETY: the caller's contract is passed on as is.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract is passed on as is.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
            // SAFETY: the caller's contract is passed on as is.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

#[test]
fn corrupt_batch_headers_are_typed_errors() {
    let batch = sample_batch(Compression::None, 9, 1);
    let first_error = |bytes: Vec<u8>| RecordBatches::new(Bytes::from(bytes)).next().unwrap();

    let mut bad_magic = batch.to_vec();
    bad_magic[layout::MAGIC] = 3;
    assert!(matches!(
        first_error(bad_magic),
        Err(RecordsError::UnknownMagic {
            base_offset: 9,
            magic: 3
        })
    ));

    let mut bad_crc = batch.to_vec();
    bad_crc[layout::CRC] ^= 1;
    assert!(matches!(
        first_error(bad_crc),
        Err(RecordsError::CrcMismatch { base_offset: 9, .. })
    ));

    for length in [-1i32, 0, 48] {
        let mut bad_length = batch.to_vec();
        bad_length[layout::LENGTH..layout::LENGTH + 4].copy_from_slice(&length.to_be_bytes());
        assert!(matches!(
            first_error(bad_length),
            Err(RecordsError::InvalidBatchLength { base_offset: 9, .. })
        ));
    }

    // After an error the iterator ends, even if good batches follow.
    let mut two = bad_crc_then_good(&batch);
    assert!(two.next().unwrap().is_err());
    assert!(two.next().is_none());
    assert_eq!(two.position(), 0);
}

fn bad_crc_then_good(batch: &Bytes) -> RecordBatches {
    let mut bytes = batch.to_vec();
    bytes[layout::CRC] ^= 1;
    bytes.extend_from_slice(batch);
    RecordBatches::new(Bytes::from(bytes))
}

#[test]
fn a_partial_notice_comes_with_what_arrived() {
    let batch = sample_batch(Compression::None, 1234, 2);
    let mut batches = RecordBatches::new(batch.slice(..5));
    assert!(batches.next().is_none());
    assert_eq!(
        batches.partial(),
        Some(PartialBatch {
            base_offset: None,
            available: 5,
            needed: None
        })
    );
    let mut batches = RecordBatches::new(batch.slice(..70));
    assert!(batches.next().is_none());
    assert_eq!(
        batches.partial(),
        Some(PartialBatch {
            base_offset: Some(1234),
            available: 70,
            needed: Some(batch.len())
        })
    );
    let mut batches = RecordBatches::new(Bytes::new());
    assert!(batches.next().is_none());
    assert_eq!(batches.partial(), None);
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A deterministic spray of inputs that look like batch starts.
    let good = sample_fetch().0;
    let mut state = 0x2545_F491u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    for _ in 0..3000 {
        let start = next() as usize % good.len();
        let len = next() as usize % 400;
        let mut bytes = good[start..(start + len).min(good.len())].to_vec();
        for _ in 0..next() % 3 {
            if !bytes.is_empty() {
                let at = next() as usize % bytes.len();
                bytes[at] = next() as u8;
            }
        }
        let _ = consume(Bytes::from(bytes.clone()), false);
        let _ = consume(Bytes::from(bytes), true);
    }
}

/// Timestamp, key, value and headers of one record.
type RecordParts = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
);

fn arbitrary_record() -> impl Strategy<Value = RecordParts> {
    (
        prop_oneof![any::<i64>(), 1_600_000_000_000i64..1_800_000_000_000],
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        proptest::collection::vec(
            (
                "[a-z\u{e9}\u{1F600}]{0,8}",
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            ),
            0..4,
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_batch_round_trips_with_every_codec(
        records in proptest::collection::vec(arbitrary_record(), 0..30),
        gaps in proptest::collection::vec(1i32..4, 30),
        base_offset in 0i64..(1 << 50),
        producer in (any::<i64>(), any::<i16>(), any::<i32>()),
        flags in (any::<bool>(), any::<bool>(), any::<i32>()),
    ) {
        for codec in Compression::ALL {
            let mut builder = RecordBatchBuilder::new(codec)
                .base_offset(base_offset)
                .producer(producer.0, producer.1, producer.2)
                .transactional(flags.0)
                .partition_leader_epoch(flags.2);
            if flags.1 {
                builder = builder.timestamp_type(TimestampType::LogAppendTime);
            }
            let mut expected = Vec::new();
            let mut delta = -1i32;
            for ((timestamp, key, value, headers), gap) in records.iter().zip(&gaps) {
                delta += gap;
                let header_refs: Vec<RecordHeader<'_>> = headers
                    .iter()
                    .map(|(k, v)| RecordHeader { key: k, value: v.as_deref() })
                    .collect();
                builder
                    .append_at(delta, *timestamp, key.as_deref(), value.as_deref(), &header_refs)
                    .unwrap();
                expected.push(Plain {
                    offset: base_offset + i64::from(delta),
                    timestamp: *timestamp,
                    key: key.clone(),
                    value: value.clone(),
                    headers: headers.clone(),
                });
            }
            if flags.1 {
                let max = builder_max_timestamp(&expected);
                for record in &mut expected {
                    record.timestamp = max;
                }
            }
            let bytes = build(&builder);
            let mut batches = RecordBatches::new(bytes.clone());
            let batch = batches.next().unwrap().unwrap();
            prop_assert!(batches.next().is_none());
            prop_assert_eq!(batches.partial(), None);
            prop_assert_eq!(batch.compression(), codec);
            prop_assert_eq!(batch.is_transactional(), flags.0);
            let v2 = batch.as_v2().unwrap();
            prop_assert_eq!(v2.producer_id(), producer.0);
            prop_assert_eq!(v2.producer_epoch(), producer.1);
            prop_assert_eq!(v2.base_sequence(), producer.2);
            prop_assert_eq!(v2.partition_leader_epoch(), flags.2);
            prop_assert_eq!(v2.record_count() as usize, records.len());
            let got = all_records(&batch);
            prop_assert_eq!(&got, &expected);
            if let Some(last) = expected.last() {
                prop_assert_eq!(batch.last_offset(), last.offset);
            }
        }
    }

    #[test]
    fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = consume(Bytes::from(bytes.clone()), false);
        let _ = consume(Bytes::from(bytes), true);
    }
}

/// The max timestamp a batch of `records` gets (0 records: -1).
fn builder_max_timestamp(records: &[Plain]) -> i64 {
    records.iter().map(|r| r.timestamp).max().unwrap_or(-1)
}
