//! Unit tests of [`Connection`] against a scripted peer over an in-memory pipe.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use vltava_wire::messages::api_versions_response::ApiVersion;
use vltava_wire::messages::metadata_request::MetadataRequestTopic;
use vltava_wire::messages::{
    ApiVersionsResponse, MetadataRequest, MetadataResponse, ProduceRequest, RequestBody,
    RequestHeader,
};
use vltava_wire::{ApiKey, Response};

use super::*;

const BROKER: &str = "fake-broker:9092";

/// The broker end of the pipe, driven by the test.
struct FakeBroker {
    reader: ReadHalf<DuplexStream>,
    writer: WriteHalf<DuplexStream>,
}

impl FakeBroker {
    async fn next_request(&mut self) -> (RequestHeader, RequestBody) {
        let frame = frame::read_frame(&mut self.reader, 1 << 20)
            .await
            .expect("a request frame");
        vltava_wire::decode_request(&frame).expect("a valid request")
    }

    async fn respond<R: Response>(&mut self, correlation_id: i32, version: i16, body: &R) {
        let mut buf = frame::request_buffer();
        vltava_wire::encode_response(correlation_id, version, body, &mut buf).unwrap();
        frame::finish_request(&mut buf).unwrap();
        self.send_raw(&buf).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
        self.writer.flush().await.unwrap();
    }

    /// Reads a Metadata request: its correlation id, version and the number
    /// in its first topic's name (`t7` -> 7), which the answer carries back
    /// as its cluster id.
    async fn next_metadata(&mut self) -> (i32, i16, i32) {
        let (header, body) = self.next_request().await;
        let RequestBody::Metadata(request) = body else {
            panic!("expected Metadata, got {}", header.request_api_key)
        };
        (
            header.correlation_id,
            header.request_api_version,
            tag_of(&request),
        )
    }
}

fn tagged(tag: i32) -> MetadataRequest {
    MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(format!("t{tag}")),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

fn tag_of(request: &MetadataRequest) -> i32 {
    let topics = request.topics.as_deref().unwrap_or_default();
    let name = topics
        .first()
        .and_then(|t| t.name.as_deref())
        .unwrap_or("t-1");
    name[1..].parse().unwrap()
}

fn tagged_response(tag: i32) -> MetadataResponse {
    MetadataResponse {
        cluster_id: Some(format!("t{tag}")),
        ..Default::default()
    }
}

/// The tag a [`tagged_response`] carries.
fn tag_in(response: &MetadataResponse) -> i32 {
    response.cluster_id.as_deref().unwrap_or("t-1")[1..]
        .parse()
        .unwrap()
}

fn versions_response(entries: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
    ApiVersionsResponse {
        api_keys: entries
            .iter()
            .map(|&(key, min, max)| ApiVersion {
                api_key: key.as_i16(),
                min_version: min,
                max_version: max,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn broker_table() -> ApiVersionsResponse {
    versions_response(&[(ApiKey::ApiVersions, 0, 4), (ApiKey::Metadata, 0, 12)])
}

fn pipe() -> (ReadHalf<DuplexStream>, WriteHalf<DuplexStream>, FakeBroker) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (client_reader, client_writer) = tokio::io::split(client);
    let (reader, writer) = tokio::io::split(server);
    (client_reader, client_writer, FakeBroker { reader, writer })
}

/// [`broker_table`] with Produce v3-v11.
fn producing_table() -> ApiVersionsResponse {
    versions_response(&[
        (ApiKey::ApiVersions, 0, 4),
        (ApiKey::Metadata, 0, 12),
        (ApiKey::Produce, 3, 11),
    ])
}

/// A connection whose handshake the fake broker answered with [`broker_table`].
async fn connect(config: ConnectionConfig) -> (Connection, FakeBroker) {
    connect_with(config, &broker_table()).await
}

/// A connection whose handshake the fake broker answered with `table`.
async fn connect_with(
    config: ConnectionConfig,
    table: &ApiVersionsResponse,
) -> (Connection, FakeBroker) {
    let (reader, writer, mut broker) = pipe();
    let (connection, ()) = tokio::join!(
        Connection::over(BROKER.to_owned(), reader, writer, config),
        async {
            let (header, body) = broker.next_request().await;
            assert!(matches!(body, RequestBody::ApiVersions(_)), "{body:?}");
            broker
                .respond(header.correlation_id, header.request_api_version, table)
                .await;
        }
    );
    (connection.unwrap(), broker)
}

#[tokio::test]
async fn handshake_sends_v4_with_the_software_name_and_keeps_the_table() {
    let (reader, writer, mut broker) = pipe();
    let (connection, ()) = tokio::join!(
        Connection::over(BROKER.to_owned(), reader, writer, ConnectionConfig::new()),
        async {
            let (header, body) = broker.next_request().await;
            let RequestBody::ApiVersions(request) = body else {
                panic!("expected ApiVersions, got {body:?}")
            };
            assert_eq!(header.request_api_version, 4);
            assert_eq!(header.client_id.as_deref(), Some("vltava"));
            assert_eq!(request.client_software_name, "vltava");
            assert_eq!(request.client_software_version, env!("CARGO_PKG_VERSION"));
            broker
                .respond(header.correlation_id, 4, &broker_table())
                .await;
        }
    );
    let connection = connection.unwrap();
    assert_eq!(connection.handshake_version(), 4);
    assert_eq!(connection.api_versions().len(), 2);
    assert_eq!(connection.version_for(ApiKey::Metadata).unwrap(), 12);
    let error = connection.version_for(ApiKey::Fetch).unwrap_err();
    assert!(matches!(
        error,
        NetError::UnsupportedApi { theirs: None, .. }
    ));
    assert!(error.to_string().contains(BROKER), "{error}");
    assert!(!error.is_retriable());
}

/// Answers an ApiVersions request the way a broker that does not know its
/// version does (KIP-511): at v0, UNSUPPORTED_VERSION, with its own list.
async fn refuse_version(broker: &mut FakeBroker, listed: &[(ApiKey, i16, i16)]) -> i16 {
    let (header, _) = broker.next_request().await;
    let refusal = ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION.code(),
        ..versions_response(listed)
    };
    broker.respond(header.correlation_id, 0, &refusal).await;
    header.request_api_version
}

#[tokio::test]
async fn unsupported_version_retries_at_the_version_the_broker_lists() {
    let (reader, writer, mut broker) = pipe();
    let (connection, ()) = tokio::join!(
        Connection::over(BROKER.to_owned(), reader, writer, ConnectionConfig::new()),
        async {
            let refused = refuse_version(&mut broker, &[(ApiKey::ApiVersions, 0, 2)]).await;
            assert_eq!(refused, 4);
            let (header, _) = broker.next_request().await;
            assert_eq!(header.request_api_version, 2);
            broker
                .respond(header.correlation_id, 2, &broker_table())
                .await;
        }
    );
    let connection = connection.unwrap();
    assert_eq!(connection.handshake_version(), 2);
    assert_eq!(connection.version_for(ApiKey::Metadata).unwrap(), 12);
}

#[tokio::test]
async fn unsupported_version_without_a_list_retries_at_v0() {
    let (reader, writer, mut broker) = pipe();
    let (connection, ()) = tokio::join!(
        Connection::over(BROKER.to_owned(), reader, writer, ConnectionConfig::new()),
        async {
            refuse_version(&mut broker, &[]).await;
            let (header, _) = broker.next_request().await;
            assert_eq!(header.request_api_version, 0);
            broker
                .respond(header.correlation_id, 0, &broker_table())
                .await;
        }
    );
    assert_eq!(connection.unwrap().handshake_version(), 0);
}

#[tokio::test]
async fn a_handshake_error_is_typed_and_names_the_broker() {
    let (reader, writer, mut broker) = pipe();
    let (connection, ()) = tokio::join!(
        Connection::over(BROKER.to_owned(), reader, writer, ConnectionConfig::new()),
        async {
            let (header, _) = broker.next_request().await;
            let refusal = ApiVersionsResponse {
                error_code: ErrorCode::INVALID_REQUEST.code(),
                ..Default::default()
            };
            broker.respond(header.correlation_id, 4, &refusal).await;
        }
    );
    let error = connection.unwrap_err();
    assert!(
        matches!(
            error,
            NetError::Handshake {
                code: ErrorCode::INVALID_REQUEST,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.broker(), Some(BROKER));
}

#[tokio::test]
async fn out_of_order_responses_reach_their_requests() {
    let (connection, mut broker) = connect(ConnectionConfig::new()).await;
    let (a, b, c, ()) = tokio::join!(
        connection.send(tagged(1)),
        connection.send(tagged(2)),
        connection.send(tagged(3)),
        async {
            let mut requests = Vec::new();
            for _ in 0..3 {
                requests.push(broker.next_metadata().await);
            }
            for (correlation_id, version, tag) in requests.into_iter().rev() {
                assert_eq!(version, 12);
                broker
                    .respond(correlation_id, version, &tagged_response(tag))
                    .await;
            }
        }
    );
    assert_eq!(tag_in(&a.unwrap()), 1);
    assert_eq!(tag_in(&b.unwrap()), 2);
    assert_eq!(tag_in(&c.unwrap()), 3);
}

#[tokio::test]
async fn enqueued_requests_are_written_in_order_and_answered_apart() {
    let (connection, mut broker) = connect(ConnectionConfig::new()).await;
    // Queued one after the other, before any answer: on the wire in that
    // order, each answer reaching its own request.
    let mut pending = Vec::new();
    for tag in 1..=4 {
        pending.push(connection.enqueue(tagged(tag)).await.unwrap());
    }
    assert_eq!(connection.in_flight(), 4);
    let mut requests = Vec::new();
    for _ in 0..4 {
        requests.push(broker.next_metadata().await);
    }
    assert_eq!(
        requests.iter().map(|r| r.2).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    // The third is given up: its answer is read and dropped.
    drop(pending.remove(2));
    for (correlation_id, version, tag) in requests.into_iter().rev() {
        broker
            .respond(correlation_id, version, &tagged_response(tag))
            .await;
    }
    let mut tags = Vec::new();
    for request in pending {
        tags.push(tag_in(&request.response().await.unwrap()));
    }
    assert_eq!(tags, [1, 2, 4]);
    assert_eq!(connection.in_flight(), 0);
    assert!(!connection.is_closed());
}

#[tokio::test]
async fn an_enqueued_request_keeps_the_request_timeout() {
    let config = ConnectionConfig::new().request_timeout(Duration::from_millis(50));
    let (connection, mut broker) = connect(config).await;
    let pending = connection.enqueue(tagged(1)).await.unwrap();
    broker.next_metadata().await;
    let started = Instant::now();
    let error = pending.response().await.unwrap_err();
    assert!(
        matches!(
            error,
            NetError::Timeout {
                api_key: ApiKey::Metadata,
                ..
            }
        ),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// Polls `future` once, so that its request is queued, then drops it.
/// Returns whether it was still pending.
async fn poll_once_then_drop(future: impl Future) -> bool {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_pending())).await
}

#[tokio::test]
async fn a_dropped_request_does_not_desynchronise_the_connection() {
    let (connection, mut broker) = connect(ConnectionConfig::new()).await;
    assert!(poll_once_then_drop(connection.send(tagged(1))).await);
    let (answer, ()) = tokio::join!(connection.send(tagged(2)), async {
        let first = broker.next_metadata().await;
        let second = broker.next_metadata().await;
        assert_eq!((first.2, second.2), (1, 2));
        // The abandoned request is answered first; it must be skipped.
        for (correlation_id, version, tag) in [first, second] {
            broker
                .respond(correlation_id, version, &tagged_response(tag))
                .await;
        }
    });
    assert_eq!(tag_in(&answer.unwrap()), 2);
    assert!(!connection.is_closed());
}

#[tokio::test]
async fn a_timed_out_request_leaves_the_connection_usable() {
    let config = ConnectionConfig::new().request_timeout(Duration::from_millis(50));
    let (connection, mut broker) = connect(config).await;
    let (late, ()) = tokio::join!(connection.send(tagged(1)), async {
        broker.next_metadata().await;
    });
    let error = late.unwrap_err();
    assert!(
        matches!(
            error,
            NetError::Timeout {
                api_key: ApiKey::Metadata,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_retriable());
    let (answer, ()) = tokio::join!(connection.send(tagged(2)), async {
        // The late answer to the first request, then the second.
        let (correlation_id, version, _) = broker.next_metadata().await;
        broker
            .respond(correlation_id - 1, version, &tagged_response(1))
            .await;
        broker
            .respond(correlation_id, version, &tagged_response(2))
            .await;
    });
    assert_eq!(tag_in(&answer.unwrap()), 2);
}

#[tokio::test]
async fn a_peer_announcing_2_gib_fails_its_request_and_closes_the_connection() {
    let config = ConnectionConfig::new().max_frame_size(1 << 20);
    let (connection, mut broker) = connect(config).await;
    let (big, other, ()) = tokio::join!(
        connection.send(tagged(1)),
        connection.send(tagged(2)),
        async {
            let (correlation_id, _, _) = broker.next_metadata().await;
            broker.next_metadata().await;
            let mut announce = vec![0x7f, 0xff, 0xff, 0xff];
            announce.extend_from_slice(&correlation_id.to_be_bytes());
            broker.send_raw(&announce).await;
        }
    );
    let error = big.unwrap_err();
    assert!(
        matches!(
            error,
            NetError::FrameTooLarge {
                size: 0x7fff_ffff,
                max: 1_048_576,
                ..
            }
        ),
        "{error}"
    );
    assert!(!error.is_retriable());
    let error = other.unwrap_err();
    assert!(
        matches!(
            error,
            NetError::Disconnected {
                in_flight: 1,
                reason: DisconnectReason::FrameTooLarge { .. },
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_retriable());
    assert!(connection.is_closed());
}

#[tokio::test]
async fn a_peer_closing_fails_every_request_in_flight_at_once() {
    let (connection, mut broker) = connect(ConnectionConfig::new()).await;
    let (a, b, c, ()) = tokio::join!(
        connection.send(tagged(1)),
        connection.send(tagged(2)),
        connection.send(tagged(3)),
        async move {
            for _ in 0..3 {
                broker.next_metadata().await;
            }
            drop(broker);
        }
    );
    for result in [a, b, c] {
        let error = result.unwrap_err();
        assert!(error.is_retriable());
        assert_eq!(
            error.to_string(),
            format!(
                "connection to {BROKER} closed with 3 requests in flight: the broker closed the connection"
            )
        );
    }
    assert!(connection.is_closed());
    // Later requests fail at once, without waiting for a timeout.
    let error = connection.send(tagged(4)).await.unwrap_err();
    assert!(
        matches!(
            error,
            NetError::Disconnected {
                reason: DisconnectReason::PeerClosed,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn an_unknown_correlation_id_closes_the_connection() {
    let (connection, mut broker) = connect(ConnectionConfig::new()).await;
    let (result, ()) = tokio::join!(connection.send(tagged(1)), async {
        let (_, version, _) = broker.next_metadata().await;
        broker.respond(999, version, &tagged_response(1)).await;
    });
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            NetError::Disconnected {
                reason: DisconnectReason::UnknownCorrelationId(999),
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn send_at_refuses_a_version_the_broker_did_not_announce() {
    let (connection, _broker) = connect(ConnectionConfig::new()).await;
    let error = connection.send_at(13, tagged(1)).await.unwrap_err();
    assert!(
        matches!(error, NetError::UnsupportedVersion { version: 13, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_refused_dial_is_retriable_and_names_the_broker() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let error = Connection::connect(&address, ConnectionConfig::new())
        .await
        .unwrap_err();
    assert!(matches!(error, NetError::Dial { .. }), "{error}");
    assert!(error.is_retriable());
    assert_eq!(error.broker(), Some(address.as_str()));
}

#[test]
fn correlation_ids_skip_ids_in_flight_and_wrap_to_zero() {
    let mut state = State {
        next_correlation_id: i32::MAX,
        in_flight: HashMap::new(),
        closed: None,
        tasks: Vec::new(),
        last_activity: Instant::now(),
        throttled_until: None,
    };
    let (reply, _response) = oneshot::channel();
    let _permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
    state.in_flight.insert(
        0,
        InFlight {
            api_key: ApiKey::Metadata,
            reply,
            _permit,
        },
    );
    assert_eq!(state.allocate_correlation_id(), i32::MAX);
    assert_eq!(state.allocate_correlation_id(), 1);
}

#[tokio::test]
async fn no_more_than_max_in_flight_requests_are_written_at_once() {
    let (connection, mut broker) = connect(ConnectionConfig::new().max_in_flight(2)).await;
    let (a, b, c, ()) = tokio::join!(
        connection.send(tagged(1)),
        connection.send(tagged(2)),
        connection.send(tagged(3)),
        async {
            let first = broker.next_metadata().await;
            let second = broker.next_metadata().await;
            // The third waits for a slot: nothing more arrives.
            let third = tokio::time::timeout(Duration::from_millis(100), broker.next_metadata());
            assert!(third.await.is_err(), "a third request was written");
            broker
                .respond(first.0, first.1, &tagged_response(first.2))
                .await;
            let third = broker.next_metadata().await;
            assert_eq!(third.2, 3);
            for (correlation_id, version, tag) in [second, third] {
                broker
                    .respond(correlation_id, version, &tagged_response(tag))
                    .await;
            }
        }
    );
    assert_eq!(
        [
            tag_in(&a.unwrap()),
            tag_in(&b.unwrap()),
            tag_in(&c.unwrap())
        ],
        [1, 2, 3]
    );
    assert_eq!(connection.in_flight(), 0);
}

#[tokio::test]
async fn a_throttled_response_holds_back_the_next_request() {
    let (connection, mut broker) = connect(ConnectionConfig::new()).await;
    let (answer, ()) = tokio::join!(connection.send(tagged(1)), async {
        let (correlation_id, version, tag) = broker.next_metadata().await;
        let throttled = MetadataResponse {
            throttle_time_ms: 300,
            ..tagged_response(tag)
        };
        broker.respond(correlation_id, version, &throttled).await;
    });
    assert_eq!(answer.unwrap().throttle_time_ms, 300);
    let until = connection.throttled_until().expect("throttled");
    let sent = Instant::now();
    let (answer, arrived) = tokio::join!(connection.send(tagged(2)), async {
        let (correlation_id, version, tag) = broker.next_metadata().await;
        let arrived = Instant::now();
        broker
            .respond(correlation_id, version, &tagged_response(tag))
            .await;
        arrived
    });
    assert_eq!(tag_in(&answer.unwrap()), 2);
    assert!(
        arrived >= until,
        "sent {:?} before the throttle ended",
        until - arrived
    );
    assert!(arrived - sent >= Duration::from_millis(250));
    assert_eq!(connection.throttled_until(), None);
}

#[tokio::test]
async fn acks_0_produce_goes_unanswered_and_the_connection_stays_in_step() {
    let (connection, mut broker) = connect_with(ConnectionConfig::new(), &producing_table()).await;
    let fire_and_forget = ProduceRequest {
        acks: 0,
        ..Default::default()
    };
    connection.send_unanswered(fire_and_forget).await.unwrap();
    assert_eq!(connection.in_flight(), 0);
    let (header, body) = broker.next_request().await;
    assert!(
        matches!(body, RequestBody::Produce(ref p) if p.acks == 0),
        "{body:?}"
    );
    assert_eq!(header.request_api_version, 11);
    // The next request is answered as usual.
    let (answer, ()) = tokio::join!(connection.send(tagged(5)), async {
        let (correlation_id, version, tag) = broker.next_metadata().await;
        assert!(correlation_id > header.correlation_id);
        broker
            .respond(correlation_id, version, &tagged_response(tag))
            .await;
    });
    assert_eq!(tag_in(&answer.unwrap()), 5);

    let answered = ProduceRequest {
        acks: -1,
        ..Default::default()
    };
    let error = connection.send_unanswered(answered).await.unwrap_err();
    assert!(matches!(error, NetError::InvalidRequest { .. }), "{error}");
    assert!(!error.is_retriable());
}

#[tokio::test]
async fn a_dial_that_gets_no_answer_times_out() {
    // A listener that never accepts, with its accept queue filled: the
    // kernel then drops further SYNs, so a connect hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let address = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    let config = ConnectionConfig::new().dial_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let error = loop {
        // Each attempt either fills the queue (connected, kept open) or
        // hangs and times out; a few suffice on Linux.
        assert!(fillers.len() < 16, "the accept queue never filled");
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(address),
        )
        .await
        {
            Ok(Ok(stream)) => fillers.push(stream),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => {
                break Connection::connect(&address.to_string(), config.clone())
                    .await
                    .unwrap_err();
            }
        }
    };
    assert!(matches!(error, NetError::DialTimeout { .. }), "{error}");
    assert!(error.is_retriable());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn record_batches_are_written_in_pieces_and_arrive_whole_and_in_order() {
    use vltava_wire::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let (connection, mut broker) = connect_with(ConnectionConfig::new(), &producing_table()).await;
    // Batches larger than the write buffer (shared, not copied), one
    // smaller (copied), with small fields between them.
    let batch = |fill: u8, len: usize| Some(bytes::Bytes::from(vec![fill; len]));
    let request = ProduceRequest {
        acks: 0,
        timeout_ms: 1_000,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            partition_data: vec![
                PartitionProduceData {
                    index: 0,
                    records: batch(1, 3 * frame::WRITE_BUFFER + 5),
                    ..Default::default()
                },
                PartitionProduceData {
                    index: 1,
                    records: batch(2, 100),
                    ..Default::default()
                },
                PartitionProduceData {
                    index: 2,
                    records: batch(3, frame::WRITE_BUFFER),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let sent = request.clone();
    let reading = async {
        let frame = frame::read_frame(&mut broker.reader, 1 << 20)
            .await
            .expect("the produce frame");
        let (_, body) = vltava_wire::decode_request(&frame).expect("a valid request");
        let next = broker.next_metadata().await;
        (body, next)
    };
    let (body, (correlation_id, version, tag)) = tokio::join!(reading, async {
        connection.send_unanswered(sent).await.unwrap();
        // Pipelined right behind it, without waiting.
        let _pending = connection.queue(12, &tagged(9)).await.unwrap();
    })
    .0;
    assert_eq!(body, RequestBody::Produce(request));
    assert_eq!(tag, 9);
    assert!(correlation_id >= 0 && version > 0);
}
