//! A scripted broker: one Kafka node on a loopback TCP port that answers
//! what the idempotent producer needs (ApiVersions, Metadata,
//! InitProducerId, FindCoordinator, Produce), records every request, and
//! answers each Produce batch as the test's script says.
//!
//! Besides the script, it checks sequences the way a broker does (per
//! partition and producer id: the epoch, the next sequence, the last five
//! batches): a batch the script lets through is written only if its
//! sequence follows; a batch it already has is answered
//! DUPLICATE_SEQUENCE_NUMBER; a gap is answered OUT_OF_ORDER_SEQUENCE_NUMBER;
//! an older epoch INVALID_PRODUCER_EPOCH. So the log it keeps is what a
//! broker would hold, and a producer that renumbers wrongly shows there.
//!
//! Every loop is bounded: at most [`MAX_CONNECTIONS`] connections, at most
//! [`MAX_FRAMES`] requests per connection, and dropping the broker aborts
//! every task.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use vltava_wire::messages::api_versions_response::ApiVersion;
use vltava_wire::messages::find_coordinator_response::Coordinator;
use vltava_wire::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use vltava_wire::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use vltava_wire::messages::{
    ApiVersionsResponse, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest,
    InitProducerIdResponse, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
    RequestBody,
};
use vltava_wire::{ApiKey, Batch, DecompressionLimit, ErrorCode, RecordBatches, Response, Uuid};

/// The topic the broker hosts.
pub(crate) const TOPIC: &str = "t";
/// The broker's node id.
const NODE_ID: i32 = 1;
/// The producer id the first InitProducerId gets.
pub(crate) const PRODUCER_ID: i64 = 1000;
/// The connections the broker accepts, at most.
const MAX_CONNECTIONS: usize = 64;
/// The requests one connection may carry, at most.
const MAX_FRAMES: usize = 10_000;
/// The largest request frame read.
const MAX_FRAME_SIZE: usize = 16 << 20;
/// How long an answer deferred until the next request waits for it.
const DEFER_LIMIT: Duration = Duration::from_secs(5);

/// One batch of a Produce request, as the script sees it.
#[derive(Debug, Clone)]
pub(crate) struct BatchView {
    pub(crate) partition: i32,
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) base_sequence: i32,
    pub(crate) values: Vec<Vec<u8>>,
    /// How many batches with the same producer id, epoch and base
    /// sequence the broker received before this one.
    pub(crate) seen_before: usize,
}

/// What the broker does with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Writes it if its sequence follows (the broker's own checks decide
    /// the answer).
    Write,
    /// Refuses it with this code; nothing is written.
    Refuse(ErrorCode),
    /// Writes it (if its sequence follows) but answers this code, as a
    /// broker that appended and then failed (e.g.
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    WriteAndRefuse(ErrorCode),
    /// Never answers the request that carries it; nothing is written.
    Hold,
}

/// The script's answer for one batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reply {
    pub(crate) answer: Answer,
    /// Answer the request only once the next request on the same
    /// connection arrived (at most [`DEFER_LIMIT`] later), so that the
    /// producer has a second request on the wire when this answer lands.
    pub(crate) after_next_request: bool,
}

impl Reply {
    pub(crate) fn write() -> Self {
        Self::from(Answer::Write)
    }

    pub(crate) fn refuse(code: ErrorCode) -> Self {
        Self::from(Answer::Refuse(code))
    }

    pub(crate) fn after_next_request(mut self) -> Self {
        self.after_next_request = true;
        self
    }
}

impl From<Answer> for Reply {
    fn from(answer: Answer) -> Self {
        Self {
            answer,
            after_next_request: false,
        }
    }
}

/// Decides the reply to each Produce batch.
pub(crate) type Script = Box<dyn FnMut(&BatchView) -> Reply + Send>;

/// A Produce batch as received, and what became of it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) view: BatchView,
    /// The batch's bytes, exactly as sent.
    pub(crate) bytes: Bytes,
    /// The code the broker answered (`None`: held, never answered).
    pub(crate) answered: Option<ErrorCode>,
    pub(crate) written: bool,
}

/// One Produce request.
#[derive(Debug, Clone)]
pub(crate) struct ProduceCall {
    pub(crate) batches: Vec<Received>,
    /// When it arrived and when it was answered, on the broker's clock
    /// (a counter of arrivals and answers over every connection).
    pub(crate) arrived: u64,
    pub(crate) answered: Option<u64>,
}

/// One InitProducerId request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InitCall {
    pub(crate) asked_id: i64,
    pub(crate) asked_epoch: i16,
    pub(crate) answered: (ErrorCode, i64, i16),
    pub(crate) arrived: u64,
}

/// A batch the broker wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) base_sequence: i32,
    pub(crate) values: Vec<Vec<u8>>,
}

/// What the broker tells the test as it happens.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A Produce request was answered (its index in [`Log::produces`]).
    ProduceAnswered(usize),
    /// A Produce request is held: it will never be answered.
    ProduceHeld(usize),
    /// An InitProducerId was answered.
    InitProducerId(InitCall),
}

/// Everything the broker saw and did.
#[derive(Debug, Default, Clone)]
pub(crate) struct Log {
    pub(crate) produces: Vec<ProduceCall>,
    pub(crate) inits: Vec<InitCall>,
    pub(crate) written: Vec<Written>,
}

impl Log {
    /// The values written to `partition`, in offset order.
    pub(crate) fn values(&self, partition: i32) -> Vec<Vec<u8>> {
        self.written
            .iter()
            .filter(|w| w.partition == partition)
            .flat_map(|w| w.values.iter().cloned())
            .collect()
    }

    /// Every batch received, in arrival order, with the index of its request.
    pub(crate) fn batches(&self) -> impl Iterator<Item = (usize, &Received)> {
        self.produces
            .iter()
            .enumerate()
            .flat_map(|(i, call)| call.batches.iter().map(move |b| (i, b)))
    }
}

/// The broker's memory of one producer on one partition.
#[derive(Debug)]
struct ProducerEntry {
    epoch: i16,
    next_sequence: i32,
    /// The last five batches written: base sequence, record count, offset.
    recent: VecDeque<(i32, i32, i64)>,
}

/// What the sequence check says about a batch.
enum Check {
    Append,
    Duplicate,
    Refuse(ErrorCode),
}

struct State {
    script: Script,
    log: Log,
    clock: u64,
    /// The producer id and epoch InitProducerId handed out last.
    identity: Option<(i64, i16)>,
    producers: HashMap<(i32, i64), ProducerEntry>,
    /// The next offset of each partition.
    offsets: HashMap<i32, i64>,
    /// Batches received, per producer id, epoch and base sequence.
    seen: HashMap<(i32, i64, i16, i32), usize>,
    /// Where Metadata says every partition's leader is: another broker
    /// (its node id and port, listed beside this one), or this one.
    leader_elsewhere: Option<(i32, u16)>,
    /// The leader epoch Metadata gives every partition.
    leader_epoch: i32,
}

impl State {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn check(&self, partition: i32, view: &BatchView, count: i32) -> Check {
        if view.producer_id < 0 {
            return Check::Append;
        }
        let Some(entry) = self.producers.get(&(partition, view.producer_id)) else {
            return if view.base_sequence == 0 {
                Check::Append
            } else {
                Check::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        };
        if view.epoch < entry.epoch {
            return Check::Refuse(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        if view.epoch > entry.epoch {
            return if view.base_sequence == 0 {
                Check::Append
            } else {
                Check::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        }
        if entry
            .recent
            .iter()
            .any(|&(seq, n, _)| seq == view.base_sequence && n == count)
        {
            return Check::Duplicate;
        }
        if view.base_sequence == entry.next_sequence {
            Check::Append
        } else {
            Check::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        }
    }

    /// Writes a batch: returns its base offset.
    fn append(&mut self, view: &BatchView, count: i32) -> i64 {
        let next = self.offsets.entry(view.partition).or_default();
        let offset = *next;
        *next += i64::from(count);
        if view.producer_id >= 0 {
            let entry = self
                .producers
                .entry((view.partition, view.producer_id))
                .or_insert(ProducerEntry {
                    epoch: view.epoch,
                    next_sequence: 0,
                    recent: VecDeque::new(),
                });
            if view.epoch != entry.epoch {
                entry.epoch = view.epoch;
                entry.recent.clear();
            }
            entry.next_sequence = view.base_sequence.wrapping_add(count) & i32::MAX;
            entry.recent.push_back((view.base_sequence, count, offset));
            if entry.recent.len() > 5 {
                entry.recent.pop_front();
            }
        }
        self.log.written.push(Written {
            partition: view.partition,
            offset,
            producer_id: view.producer_id,
            epoch: view.epoch,
            base_sequence: view.base_sequence,
            values: view.values.clone(),
        });
        offset
    }
}

/// The broker; dropping it stops it.
pub(crate) struct ScriptedBroker {
    address: String,
    state: Arc<Mutex<State>>,
    events: mpsc::UnboundedReceiver<Event>,
    /// While set, every Produce request is held (never answered).
    holding: Arc<AtomicBool>,
    /// How long each Produce request is worked on, in microseconds.
    produce_delay_us: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl ScriptedBroker {
    /// A broker hosting topic [`TOPIC`] with `partitions` partitions, all
    /// led by itself, answering Produce batches as `script` says.
    pub(crate) async fn start(partitions: i32, script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State {
            script,
            log: Log::default(),
            clock: 0,
            identity: None,
            producers: HashMap::new(),
            offsets: HashMap::new(),
            seen: HashMap::new(),
            leader_elsewhere: None,
            leader_epoch: 0,
        }));
        let (events_tx, events) = mpsc::unbounded_channel();
        let holding = Arc::new(AtomicBool::new(false));
        let produce_delay_us = Arc::new(AtomicU64::new(0));
        let node = Node {
            port: listener.local_addr().unwrap().port(),
            partitions,
            state: state.clone(),
            events: events_tx,
            holding: holding.clone(),
            produce_delay_us: produce_delay_us.clone(),
        };
        let task = tokio::spawn(async move {
            // Owned here: aborting this task drops the set, which aborts
            // every connection's tasks.
            let mut connections = JoinSet::new();
            for _ in 0..MAX_CONNECTIONS {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let (reader, writer) = stream.into_split();
                let (frames_tx, frames_rx) = mpsc::channel(64);
                connections.spawn(read_frames(reader, frames_tx, node.state.clone()));
                connections.spawn(node.clone().serve(frames_rx, writer));
            }
            // No more connections: serve the ones open until dropped.
            while connections.join_next().await.is_some() {}
        });
        Self {
            address,
            state,
            events,
            holding,
            produce_delay_us,
            task,
        }
    }

    /// `host:port`, to bootstrap from.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// A copy of everything the broker saw and did so far.
    pub(crate) fn log(&self) -> Log {
        self.lock().log.clone()
    }

    /// From now on Metadata names, as every partition's leader, the
    /// broker `elsewhere` (node id and port on 127.0.0.1, listed beside
    /// this one; nothing needs to listen there), or this one with `None`,
    /// at leader epoch `epoch`.
    pub(crate) fn set_leader(&self, elsewhere: Option<(i32, u16)>, epoch: i32) {
        let mut state = self.lock();
        state.leader_elsewhere = elsewhere;
        state.leader_epoch = epoch;
    }

    /// Holds (never answers) every Produce request from now on, or stops.
    pub(crate) fn hold_produce(&self, hold: bool) {
        self.holding.store(hold, Ordering::SeqCst);
    }

    /// Works on each Produce request for `delay` before answering it, as a
    /// busy broker would; requests behind it on the connection keep
    /// arriving (and are logged as they do) meanwhile.
    pub(crate) fn delay_produce(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.produce_delay_us.store(micros, Ordering::SeqCst);
    }

    /// The next event, within `limit`.
    pub(crate) async fn next_event(&mut self, limit: Duration) -> Event {
        tokio::time::timeout(limit, self.events.recv())
            .await
            .unwrap_or_else(|_| panic!("no event from the broker within {limit:?}"))
            .expect("the broker is running")
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ScriptedBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads request frames (without their size prefix) into `frames`, at
/// most [`MAX_FRAMES`], until the peer closes; each with its arrival on
/// the broker's clock, taken as it is read.
async fn read_frames(
    mut reader: OwnedReadHalf,
    frames: mpsc::Sender<(u64, Bytes)>,
    state: Arc<Mutex<State>>,
) {
    for _ in 0..MAX_FRAMES {
        let Ok(size) = reader.read_i32().await else {
            return;
        };
        let Ok(size) = usize::try_from(size) else {
            return;
        };
        if size > MAX_FRAME_SIZE {
            return;
        }
        let mut frame = BytesMut::zeroed(size);
        if reader.read_exact(&mut frame).await.is_err() {
            return;
        }
        let arrived = state.lock().unwrap_or_else(PoisonError::into_inner).tick();
        if frames.send((arrived, frame.freeze())).await.is_err() {
            return;
        }
    }
}

/// What every connection's server shares.
#[derive(Clone)]
struct Node {
    port: u16,
    partitions: i32,
    state: Arc<Mutex<State>>,
    events: mpsc::UnboundedSender<Event>,
    holding: Arc<AtomicBool>,
    produce_delay_us: Arc<AtomicU64>,
}

/// An encoded response frame (size prefix included), or none (held).
type Answered = Option<BytesMut>;

impl Node {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers the connection's requests in order.
    async fn serve(self, mut frames: mpsc::Receiver<(u64, Bytes)>, mut writer: OwnedWriteHalf) {
        let mut next: Option<(u64, Bytes)> = None;
        for _ in 0..MAX_FRAMES {
            let (arrived, frame) = match next.take() {
                Some(frame) => frame,
                None => match frames.recv().await {
                    Some(frame) => frame,
                    None => return,
                },
            };
            let Ok((header, body)) = vltava_wire::decode_request(&frame) else {
                return;
            };
            let (id, version) = (header.correlation_id, header.request_api_version);
            let (answer, defer) = match body {
                RequestBody::ApiVersions(_) => (encode(id, version, &versions()), None),
                RequestBody::Metadata(request) => {
                    (encode(id, version, &self.metadata(&request)), None)
                }
                RequestBody::FindCoordinator(request) => {
                    (encode(id, version, &self.coordinator(&request)), None)
                }
                RequestBody::InitProducerId(request) => (
                    encode(id, version, &self.init_producer_id(&request, arrived)),
                    None,
                ),
                RequestBody::Produce(request) => {
                    let delay = self.produce_delay_us.load(Ordering::SeqCst);
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_micros(delay)).await;
                    }
                    let (index, response, defer) = self.produce(&request, arrived);
                    match response {
                        Some(response) => (encode(id, version, &response), Some((index, defer))),
                        None => (None, Some((index, false))),
                    }
                }
                _ => return,
            };
            if let Some((_, true)) = defer {
                // The next request is read before this one is answered.
                next = tokio::time::timeout(DEFER_LIMIT, frames.recv())
                    .await
                    .ok()
                    .flatten();
            }
            if let Some((index, _)) = defer {
                let event = {
                    let mut state = self.lock();
                    if answer.is_some() {
                        let now = state.tick();
                        state.log.produces[index].answered = Some(now);
                        Event::ProduceAnswered(index)
                    } else {
                        Event::ProduceHeld(index)
                    }
                };
                let _ = self.events.send(event);
            }
            if let Some(buf) = answer
                && writer.write_all(&buf).await.is_err()
            {
                return;
            }
        }
    }

    fn metadata(&self, request: &MetadataRequest) -> MetadataResponse {
        let names: Vec<String> = match &request.topics {
            Some(topics) => topics.iter().filter_map(|t| t.name.clone()).collect(),
            None => vec![TOPIC.to_owned()],
        };
        let (elsewhere, leader_epoch) = {
            let state = self.lock();
            (state.leader_elsewhere, state.leader_epoch)
        };
        let mut brokers = vec![(NODE_ID, self.port)];
        brokers.extend(elsewhere);
        let leader = elsewhere.map_or(NODE_ID, |(node, _)| node);
        MetadataResponse {
            brokers: brokers
                .into_iter()
                .map(|(node_id, port)| MetadataResponseBroker {
                    node_id,
                    host: "127.0.0.1".to_owned(),
                    port: i32::from(port),
                    rack: None,
                    ..Default::default()
                })
                .collect(),
            cluster_id: Some("scripted".to_owned()),
            controller_id: NODE_ID,
            topics: names
                .into_iter()
                .map(|name| {
                    if name == TOPIC {
                        MetadataResponseTopic {
                            name: Some(name),
                            topic_id: Uuid::from_u128(0x7e57),
                            partitions: (0..self.partitions)
                                .map(|p| MetadataResponsePartition {
                                    partition_index: p,
                                    leader_id: leader,
                                    leader_epoch,
                                    replica_nodes: vec![NODE_ID],
                                    isr_nodes: vec![NODE_ID],
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        }
                    } else {
                        MetadataResponseTopic {
                            name: Some(name),
                            error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code(),
                            ..Default::default()
                        }
                    }
                })
                .collect(),
            ..Default::default()
        }
    }

    fn coordinator(&self, request: &FindCoordinatorRequest) -> FindCoordinatorResponse {
        let keys = if request.coordinator_keys.is_empty() {
            vec![request.key.clone()]
        } else {
            request.coordinator_keys.clone()
        };
        FindCoordinatorResponse {
            node_id: NODE_ID,
            host: "127.0.0.1".to_owned(),
            port: i32::from(self.port),
            coordinators: keys
                .into_iter()
                .map(|key| Coordinator {
                    key,
                    node_id: NODE_ID,
                    host: "127.0.0.1".to_owned(),
                    port: i32::from(self.port),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// A fresh id when asked with none; the same id at the next epoch when
    /// asked with the current id and epoch (KIP-360); otherwise refused.
    fn init_producer_id(
        &self,
        request: &InitProducerIdRequest,
        arrived: u64,
    ) -> InitProducerIdResponse {
        let mut state = self.lock();
        let asked = (request.producer_id, request.producer_epoch);
        let (code, id, epoch) = match (asked, state.identity) {
            ((-1, -1), None) => (ErrorCode::NONE, PRODUCER_ID, 0),
            ((-1, -1), Some((id, _))) => (ErrorCode::NONE, id + 1, 0),
            (asked, Some(current)) if asked == current => {
                (ErrorCode::NONE, current.0, current.1 + 1)
            }
            _ => (ErrorCode::INVALID_PRODUCER_EPOCH, -1, -1),
        };
        if code.is_ok() {
            state.identity = Some((id, epoch));
        }
        let call = InitCall {
            asked_id: asked.0,
            asked_epoch: asked.1,
            answered: (code, id, epoch),
            arrived,
        };
        state.log.inits.push(call);
        let _ = self.events.send(Event::InitProducerId(call));
        InitProducerIdResponse {
            error_code: code.code(),
            producer_id: id,
            producer_epoch: epoch,
            ..Default::default()
        }
    }

    /// Records a Produce request and decides its answer: the request's
    /// index in the log, the response (`None`: held), and whether it waits
    /// for the next request.
    fn produce(
        &self,
        request: &ProduceRequest,
        arrived: u64,
    ) -> (usize, Option<ProduceResponse>, bool) {
        let mut state = self.lock();
        let mut received = Vec::new();
        let mut responses: Vec<TopicProduceResponse> = Vec::new();
        let mut defer = false;
        let mut hold = self.holding.load(Ordering::SeqCst);
        let mut plans = Vec::new();
        for topic in &request.topic_data {
            for data in &topic.partition_data {
                let bytes = data.records.clone().unwrap_or_default();
                let (view, count) = decode(data.index, &bytes);
                let key = (
                    view.partition,
                    view.producer_id,
                    view.epoch,
                    view.base_sequence,
                );
                let seen = state.seen.entry(key).or_default();
                let view = BatchView {
                    seen_before: *seen,
                    ..view
                };
                *seen += 1;
                let reply = (state.script)(&view);
                defer |= reply.after_next_request;
                hold |= reply.answer == Answer::Hold;
                plans.push((topic.name.clone(), view, count, bytes, reply.answer));
            }
        }
        for (topic, view, count, bytes, answer) in plans {
            let (code, offset, written) = if hold {
                (None, -1, false)
            } else {
                let (code, offset, written) = match answer {
                    Answer::Refuse(code) => (code, -1, false),
                    Answer::Write | Answer::WriteAndRefuse(_) | Answer::Hold => {
                        match state.check(view.partition, &view, count) {
                            Check::Append => {
                                let offset = state.append(&view, count);
                                match answer {
                                    Answer::WriteAndRefuse(code) => (code, -1, true),
                                    _ => (ErrorCode::NONE, offset, true),
                                }
                            }
                            Check::Duplicate => (ErrorCode::DUPLICATE_SEQUENCE_NUMBER, -1, false),
                            Check::Refuse(code) => (code, -1, false),
                        }
                    }
                };
                (Some(code), offset, written)
            };
            if let Some(code) = code {
                let entry = match responses.iter_mut().position(|t| t.name == topic) {
                    Some(i) => &mut responses[i],
                    None => {
                        responses.push(TopicProduceResponse {
                            name: topic.clone(),
                            ..Default::default()
                        });
                        responses.last_mut().unwrap()
                    }
                };
                entry.partition_responses.push(PartitionProduceResponse {
                    index: view.partition,
                    error_code: code.code(),
                    base_offset: offset,
                    log_start_offset: 0,
                    ..Default::default()
                });
            }
            received.push(Received {
                view,
                bytes,
                answered: code,
                written,
            });
        }
        state.log.produces.push(ProduceCall {
            batches: received,
            arrived,
            answered: None,
        });
        let index = state.log.produces.len() - 1;
        let response = (!hold).then(|| ProduceResponse {
            responses,
            ..Default::default()
        });
        (index, response, defer && !hold)
    }
}

/// The one batch of a partition's records: what the script sees, and its
/// record count.
fn decode(partition: i32, bytes: &Bytes) -> (BatchView, i32) {
    let mut batches = RecordBatches::new(bytes.clone());
    let batch = match batches.next() {
        Some(Ok(Batch::V2(batch))) => batch,
        other => panic!("expected one magic-2 batch, got {other:?}"),
    };
    assert!(batches.next().is_none(), "one batch per partition");
    let values = batch
        .records(DecompressionLimit::DEFAULT)
        .unwrap()
        .iter()
        .map(|r| r.unwrap().value().unwrap_or_default().to_vec())
        .collect();
    let view = BatchView {
        partition,
        producer_id: batch.producer_id(),
        epoch: batch.producer_epoch(),
        base_sequence: batch.base_sequence(),
        values,
        seen_before: 0,
    };
    (view, i32::try_from(batch.record_count()).unwrap())
}

/// The versions this broker speaks.
fn versions() -> ApiVersionsResponse {
    ApiVersionsResponse {
        api_keys: [
            (ApiKey::Produce, 3, 11),
            (ApiKey::Metadata, 0, 12),
            (ApiKey::ApiVersions, 0, 4),
            (ApiKey::FindCoordinator, 0, 6),
            (ApiKey::InitProducerId, 0, 5),
        ]
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

/// A response frame, size prefix included.
fn encode<R: Response>(correlation_id: i32, version: i16, body: &R) -> Answered {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    vltava_wire::encode_response(correlation_id, version, body, &mut buf).unwrap();
    let size = u32::try_from(buf.len() - 4).unwrap();
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Some(buf)
}
