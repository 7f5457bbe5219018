//! Byte vectors written out by hand from the protocol spec, decoded and
//! re-encoded byte for byte.

use bytes::{Bytes, BytesMut};
use vltava_wire::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey};
use vltava_wire::messages::{
    ApiVersionsRequest, ApiVersionsResponse, ConsumerProtocolSubscription, RequestBody,
    RequestHeader,
};
use vltava_wire::{ApiKey, Message, RawTaggedField};

/// An ApiVersions v3 request as a client sends it (size prefix removed).
const API_VERSIONS_V3_REQUEST: &[u8] = &[
    // Request header v2.
    0x00, 0x12, // RequestApiKey: 18
    0x00, 0x03, // RequestApiVersion: 3
    0x00, 0x00, 0x00, 0x2a, // CorrelationId: 42
    0x00, 0x06, b'v', b'l', b't', b'a', b'v', b'a', // ClientId: int16 length, always
    0x00, // no tagged fields
    // ApiVersionsRequest v3.
    0x0b, b'v', b'l', b't', b'a', b'v', b'a', b'-', b'c', b'l',
    b'i', // ClientSoftwareName, compact
    0x06, b'0', b'.', b'1', b'.', b'0', // ClientSoftwareVersion, compact
    0x00, // no tagged fields
];

#[test]
fn api_versions_v3_request_encodes_to_the_spec_bytes() {
    let header = RequestHeader::for_request::<ApiVersionsRequest>(3, 42, Some("vltava"));
    let body = ApiVersionsRequest {
        client_software_name: "vltava-cli".into(),
        client_software_version: "0.1.0".into(),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    vltava_wire::encode_request(&header, &body, &mut buf).unwrap();
    assert_eq!(&buf[..], API_VERSIONS_V3_REQUEST);

    let (decoded_header, decoded_body) =
        vltava_wire::decode_request(&Bytes::from_static(API_VERSIONS_V3_REQUEST)).unwrap();
    assert_eq!(decoded_header, header);
    assert_eq!(decoded_body, RequestBody::ApiVersions(body));
    assert_eq!(decoded_body.api_key(), ApiKey::ApiVersions);
}

/// An ApiVersions v3 response with two APIs, a known tagged field
/// (FinalizedFeaturesEpoch, tag 1) and an unknown one (tag 7).
const API_VERSIONS_V3_RESPONSE: &[u8] = &[
    // Response header v0, even though v3 is flexible (KIP-511).
    0x00, 0x00, 0x00, 0x2a, // CorrelationId: 42
    // ApiVersionsResponse v3.
    0x00, 0x00, // ErrorCode: 0
    0x03, // ApiKeys: compact array of 2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x00, // Produce 0-11, no tagged fields
    0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00, // ApiVersions 0-4, no tagged fields
    0x00, 0x00, 0x00, 0x00, // ThrottleTimeMs: 0
    0x03, // three tagged fields
    0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x05, // tag 1, 8 bytes: FinalizedFeaturesEpoch 5
    0x02, 0x0b, // tag 2, 11 bytes: FinalizedFeatures
    0x02, // compact array of 1
    0x05, b'k', b'r', b'a', b'f', // Name "kraf"
    0x00, 0x01, 0x00, 0x00, 0x00, // MaxVersionLevel 1, MinVersionLevel 0, no tags
    0x07, 0x02, 0xca, 0xfe, // tag 7, 2 bytes: unknown
];

#[test]
fn api_versions_v3_response_with_tagged_fields() {
    let frame = Bytes::from_static(API_VERSIONS_V3_RESPONSE);
    let (header, response) =
        vltava_wire::decode_response::<ApiVersionsResponse>(3, &frame).unwrap();
    assert_eq!(header.correlation_id, 42);
    let expected = ApiVersionsResponse {
        error_code: 0,
        api_keys: vec![
            ApiVersion {
                api_key: 0,
                min_version: 0,
                max_version: 11,
                ..Default::default()
            },
            ApiVersion {
                api_key: 18,
                min_version: 0,
                max_version: 4,
                ..Default::default()
            },
        ],
        throttle_time_ms: 0,
        finalized_features_epoch: 5,
        finalized_features: vec![FinalizedFeatureKey {
            name: "kraf".into(),
            max_version_level: 1,
            min_version_level: 0,
            ..Default::default()
        }],
        unknown_tagged_fields: vec![RawTaggedField {
            tag: 7,
            data: Bytes::from_static(&[0xca, 0xfe]),
        }],
        ..Default::default()
    };
    assert_eq!(response, expected);
    // The unknown field's bytes are a view into the frame.
    let unknown = &response.unknown_tagged_fields[0].data;
    assert_eq!(unknown.as_ptr(), frame[frame.len() - 2..].as_ptr());

    let mut buf = BytesMut::new();
    vltava_wire::encode_response(42, 3, &response, &mut buf).unwrap();
    assert_eq!(&buf[..], API_VERSIONS_V3_RESPONSE);
}

#[test]
fn api_versions_response_defaults_come_from_the_spec() {
    let response = ApiVersionsResponse::default();
    assert_eq!(response.finalized_features_epoch, -1);
    assert!(!response.zk_migration_ready);
    // Tagged fields at their default are not written: the body is error code,
    // empty array, throttle time and an empty tagged-field section.
    let mut buf = BytesMut::new();
    response.encode(&mut buf, 3).unwrap();
    assert_eq!(&buf[..], &[0, 0, 1, 0, 0, 0, 0, 0]);
}

#[test]
fn consumer_protocol_subscription_v0() {
    // Topics ["a", "bc"], UserData null: the classic consumer protocol's
    // metadata bytes inside JoinGroup (after their int16 version prefix).
    let bytes = Bytes::from_static(&[
        0, 0, 0, 2, // two topics
        0, 1, b'a', // "a"
        0, 2, b'b', b'c', // "bc"
        0xff, 0xff, 0xff, 0xff, // UserData: null
    ]);
    let subscription = ConsumerProtocolSubscription::decode(&bytes, 0).unwrap();
    assert_eq!(subscription.topics, ["a", "bc"]);
    assert_eq!(subscription.user_data, None);
    let mut buf = BytesMut::new();
    subscription.encode(&mut buf, 0).unwrap();
    assert_eq!(buf.freeze(), bytes);
}
