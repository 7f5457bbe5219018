//! Requests and responses behind their headers: header versions, framing
//! helpers, and dispatch by API key at run time.

use bytes::{Bytes, BytesMut};
use vltava_wire::messages::{
    ControlledShutdownRequest, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse,
    RequestBody, RequestHeader, ResponseBody, fetch_response,
};
use vltava_wire::{
    ApiKey, DecodeErrorKind, EncodeErrorKind, Message, Request, Response, UnknownApiKey,
    request_header_version, response_header_version,
};

#[test]
fn header_versions() {
    assert_eq!(request_header_version(ApiKey::Produce, 8), 1);
    assert_eq!(request_header_version(ApiKey::Produce, 9), 2);
    assert_eq!(request_header_version(ApiKey::ControlledShutdown, 0), 0);
    assert_eq!(request_header_version(ApiKey::ControlledShutdown, 1), 1);
    assert_eq!(response_header_version(ApiKey::Fetch, 11), 0);
    assert_eq!(response_header_version(ApiKey::Fetch, 12), 1);
    // ApiVersions responses always use header v0 (KIP-511).
    assert_eq!(response_header_version(ApiKey::ApiVersions, 3), 0);
    assert_eq!(request_header_version(ApiKey::ApiVersions, 3), 2);
}

#[test]
fn api_keys() {
    assert_eq!(ApiKey::ALL.len(), 88);
    for (i, key) in ApiKey::ALL.into_iter().enumerate() {
        assert_eq!(key.as_i16(), i as i16, "keys are dense from 0");
        assert_eq!(ApiKey::try_from(key.as_i16()), Ok(key));
        assert!(!key.versions().is_empty());
    }
    assert_eq!(ApiKey::try_from(88), Err(UnknownApiKey(88)));
    assert_eq!(ApiKey::try_from(-1), Err(UnknownApiKey(-1)));
    assert_eq!(ApiKey::Fetch.name(), "Fetch");
    assert_eq!(ApiKey::ApiVersions.to_string(), "ApiVersions");
    assert_eq!(ApiKey::Fetch.versions(), FetchRequest::VERSIONS);
    assert_eq!(ApiKey::Fetch.flexible_versions().min, 12);
    assert!(ApiKey::ShareFetch.latest_version_unstable());
    assert!(!ApiKey::Fetch.latest_version_unstable());
}

fn response_key<R: Request>() -> ApiKey {
    <R::Response as Response>::API_KEY
}

#[test]
fn requests_name_their_responses() {
    assert_eq!(response_key::<FetchRequest>(), ApiKey::Fetch);
    assert_eq!(<FetchResponse as Response>::API_KEY, ApiKey::Fetch);
    assert_eq!(MetadataResponse::NAME, "MetadataResponse");
}

#[test]
fn request_frames_round_trip_at_every_version() {
    for version in MetadataRequest::VERSIONS.min..=MetadataRequest::VERSIONS.max {
        let body = MetadataRequest {
            topics: Some(Vec::new()),
            ..Default::default()
        };
        let header = RequestHeader::for_request::<MetadataRequest>(version, 7, Some("client"));
        let mut buf = BytesMut::new();
        vltava_wire::encode_request(&header, &body, &mut buf).unwrap();
        let (decoded_header, decoded_body) = vltava_wire::decode_request(&buf.freeze()).unwrap();
        assert_eq!(decoded_header, header, "v{version}");
        assert_eq!(decoded_body, RequestBody::Metadata(body), "v{version}");
    }
}

#[test]
fn controlled_shutdown_v0_has_no_client_id() {
    let header = RequestHeader::for_request::<ControlledShutdownRequest>(0, 1, Some("ignored"));
    let body = ControlledShutdownRequest {
        broker_id: 3,
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    vltava_wire::encode_request(&header, &body, &mut buf).unwrap();
    // Header v0 (key, version, correlation ID; the ignorable client ID is
    // dropped), then the broker ID.
    assert_eq!(&buf[..], &[0, 7, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3]);
}

#[test]
fn response_frames_decode_by_api_key() {
    let response = FetchResponse {
        throttle_time_ms: 5,
        session_id: 9,
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    vltava_wire::encode_response(77, 13, &response, &mut buf).unwrap();
    let frame = buf.freeze();
    let (header, body) = vltava_wire::decode_response_body(ApiKey::Fetch, 13, &frame).unwrap();
    assert_eq!(header.correlation_id, 77);
    assert_eq!(body, ResponseBody::Fetch(response.clone()));
    let (_, typed) = vltava_wire::decode_response::<FetchResponse>(13, &frame).unwrap();
    assert_eq!(typed, response);
    // The wrong version reads the frame wrongly, and says so.
    assert!(vltava_wire::decode_response::<FetchResponse>(11, &frame).is_err());
}

#[test]
fn mismatched_header_is_an_error() {
    let header = RequestHeader::for_request::<FetchRequest>(12, 1, None);
    let mut buf = BytesMut::new();
    let error =
        vltava_wire::encode_request(&header, &MetadataRequest::default(), &mut buf).unwrap_err();
    assert!(matches!(
        error.kind(),
        EncodeErrorKind::ApiKeyMismatch {
            header_api_key: 1,
            body_api_key: 3
        }
    ));
    assert!(buf.is_empty());
    // The same in segments.
    let mut segments = vltava_wire::Segments::new(BytesMut::new(), 1024);
    let error =
        vltava_wire::encode_request_segments(&header, &MetadataRequest::default(), &mut segments)
            .unwrap_err();
    assert!(matches!(
        error.kind(),
        EncodeErrorKind::ApiKeyMismatch { .. }
    ));
    assert!(segments.into_parts().iter().all(|part| part.is_empty()));
}

#[test]
fn unknown_api_key_in_a_request_frame() {
    let frame = Bytes::from_static(&[0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0, 0]);
    let error = vltava_wire::decode_request(&frame).unwrap_err();
    assert_eq!(error.kind(), &DecodeErrorKind::UnknownApiKey(999));
}

#[test]
fn records_are_zero_copy_slices_of_the_frame() {
    let records = Bytes::from(vec![0xab; 64]);
    let response = FetchResponse {
        responses: vec![fetch_response::FetchableTopicResponse {
            topic: "t".into(),
            partitions: vec![fetch_response::PartitionData {
                records: Some(records.clone()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    response.encode(&mut buf, 11).unwrap();
    let frame = buf.freeze();
    let decoded = FetchResponse::decode(&frame, 11).unwrap();
    let decoded_records = decoded.responses[0].partitions[0].records.as_ref().unwrap();
    assert_eq!(decoded_records, &records);
    let start = frame.as_ptr() as usize;
    let at = decoded_records.as_ptr() as usize;
    assert!(
        start <= at && at + 64 <= start + frame.len(),
        "not a slice of the frame"
    );
}
