//! The rules the codec follows beyond plain round trips: fields a version
//! cannot carry, null, trailing bytes, versions, tagged fields, and error
//! messages that name message, version and field.

use bytes::{Bytes, BytesMut};
use vltava_wire::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use vltava_wire::messages::{
    ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, MetadataRequest,
    ProduceRequest,
};
use vltava_wire::{DecodeErrorKind, EncodeErrorKind, Message, RawTaggedField, VersionRange};

fn encode<M: Message>(message: &M, version: i16) -> Result<Bytes, vltava_wire::EncodeError> {
    let mut buf = BytesMut::new();
    message.encode(&mut buf, version)?;
    Ok(buf.freeze())
}

#[test]
fn a_field_the_version_cannot_carry_is_an_error() {
    let request = ProduceRequest {
        transactional_id: Some("tx".into()),
        ..Default::default()
    };
    let error = encode(&request, 2).unwrap_err();
    assert_eq!(error.kind(), &EncodeErrorKind::UnsupportedField);
    assert_eq!(
        error.to_string(),
        "ProduceRequest v2: field TransactionalId: has a non-default value, \
         but this version cannot carry it"
    );
    assert_eq!(request.encoded_len(2).unwrap_err(), error);
    // At its default (null) it is fine, and v3 carries it.
    assert!(encode(&ProduceRequest::default(), 2).is_ok());
    assert!(encode(&request, 3).is_ok());
}

#[test]
fn nested_unsupported_fields_name_their_path() {
    let response = FetchResponse {
        responses: vec![FetchableTopicResponse {
            partitions: vec![
                PartitionData::default(),
                PartitionData {
                    diverging_epoch: EpochEndOffset {
                        epoch: 3,
                        end_offset: 10,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let error = encode(&response, 11).unwrap_err();
    assert_eq!(
        error.field_path(),
        "Responses[0].Partitions[1].DivergingEpoch"
    );
    assert!(encode(&response, 12).is_ok());
}

#[test]
fn an_ignorable_field_is_dropped_silently() {
    let response = ApiVersionsResponse {
        throttle_time_ms: 100,
        ..Default::default()
    };
    let bytes = encode(&response, 0).unwrap();
    let decoded = ApiVersionsResponse::decode(&bytes, 0).unwrap();
    assert_eq!(decoded.throttle_time_ms, 0);
    assert_eq!(
        ApiVersionsResponse::decode(&encode(&response, 1).unwrap(), 1).unwrap(),
        response
    );
}

#[test]
fn null_where_the_version_does_not_allow_it() {
    let request = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    let error = encode(&request, 0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "MetadataRequest v0: field Topics: is null, but this version does not allow null"
    );
    // v1 allows it: -1 is "all topics".
    assert_eq!(&encode(&request, 1).unwrap()[..], &[0xff, 0xff, 0xff, 0xff]);
    let error = MetadataRequest::decode(&Bytes::from_static(&[0xff; 4]), 0).unwrap_err();
    assert_eq!(error.kind(), &DecodeErrorKind::UnexpectedNull);
    assert_eq!(error.field_path(), "Topics");
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut bytes = encode(&MetadataRequest::default(), 4).unwrap().to_vec();
    bytes.push(0);
    let error = MetadataRequest::decode(&Bytes::from(bytes), 4).unwrap_err();
    assert_eq!(error.kind(), &DecodeErrorKind::TrailingBytes(1));
    assert_eq!(
        error.to_string(),
        "MetadataRequest v4: 1 trailing bytes after the message"
    );
}

#[test]
fn versions_outside_the_spec_are_errors() {
    let supported = VersionRange::new(0, 4);
    let error = ApiVersionsRequest::decode(&Bytes::new(), 5).unwrap_err();
    assert_eq!(
        error.kind(),
        &DecodeErrorKind::UnsupportedVersion { supported }
    );
    assert_eq!(
        error.to_string(),
        "ApiVersionsRequest v5: unsupported version (supported: 0-4)"
    );
    let error = encode(&ApiVersionsRequest::default(), -1).unwrap_err();
    assert_eq!(
        error.kind(),
        &EncodeErrorKind::UnsupportedVersion { supported }
    );
}

#[test]
fn decode_errors_name_message_version_and_field_path() {
    let response = FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "t".into(),
            partitions: vec![PartitionData {
                records: Some(Bytes::from(vec![0x5a; 100])),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let bytes = encode(&response, 12).unwrap();
    // The records are followed by three empty tagged-field sections
    // (partition, topic, response): cut 3 bytes into the records.
    let records_start = bytes.len() - 3 - 100;
    let error = FetchResponse::decode(&bytes.slice(..records_start + 3), 12).unwrap_err();
    assert_eq!(
        error.to_string(),
        "FetchResponse v12: field Responses[0].Partitions[0].Records: \
         truncated, need 100 bytes, 3 remain"
    );
    assert_eq!(error.message_name(), "FetchResponse");
    assert_eq!(error.version(), 12);
}

#[test]
fn invalid_utf8_is_a_typed_error() {
    // MetadataRequest v4: one topic named "\xff", then AllowAutoTopicCreation.
    let bytes = Bytes::from_static(&[0, 0, 0, 1, 0, 1, 0xff, 1]);
    let error = MetadataRequest::decode(&bytes, 4).unwrap_err();
    assert_eq!(error.kind(), &DecodeErrorKind::InvalidUtf8);
    assert_eq!(error.field_path(), "Topics[0].Name");
}

#[test]
fn unknown_tagged_fields_survive_and_are_checked() {
    let tagged = |tag: u32| RawTaggedField {
        tag,
        data: Bytes::from_static(b"xyz"),
    };
    let request = ApiVersionsRequest {
        unknown_tagged_fields: vec![tagged(4), tagged(9)],
        ..Default::default()
    };
    let bytes = encode(&request, 3).unwrap();
    assert_eq!(ApiVersionsRequest::decode(&bytes, 3).unwrap(), request);
    // v2 has no tagged fields at all.
    let error = encode(&request, 2).unwrap_err();
    assert_eq!(error.kind(), &EncodeErrorKind::TaggedFieldsNotSupported);
    // Out of order, or a tag the spec gives to a known field.
    let unordered = ApiVersionsRequest {
        unknown_tagged_fields: vec![tagged(9), tagged(4)],
        ..Default::default()
    };
    assert!(matches!(
        encode(&unordered, 3).unwrap_err().kind(),
        EncodeErrorKind::InvalidTaggedField { tag: 4, .. }
    ));
    let clash = ApiVersionsResponse {
        unknown_tagged_fields: vec![tagged(1)],
        ..Default::default()
    };
    assert!(matches!(
        encode(&clash, 3).unwrap_err().kind(),
        EncodeErrorKind::InvalidTaggedField { tag: 1, .. }
    ));
}

#[test]
fn a_known_tag_outside_its_versions_is_rejected() {
    // FetchRequest's tag 1 (ReplicaState) exists from v15 on.
    let mut bytes = encode(&FetchRequest::default(), 12).unwrap().to_vec();
    assert_eq!(
        bytes.pop(),
        Some(0),
        "the top-level tagged-field section is last"
    );
    bytes.extend_from_slice(&[1, 1, 1, 0]);
    let error = FetchRequest::decode(&Bytes::from(bytes), 12).unwrap_err();
    assert_eq!(error.kind(), &DecodeErrorKind::TagNotInVersion(1));
}

#[test]
fn array_counts_are_bounded_by_the_input() {
    // A MetadataRequest v4 announcing 2^31 - 1 topics in 5 bytes.
    let bytes = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0]);
    let error = MetadataRequest::decode(&bytes, 4).unwrap_err();
    assert!(matches!(
        error.kind(),
        DecodeErrorKind::Truncated { remaining: 1, .. }
    ));
}
