//! [`Connection`]: one TCP connection to one broker, with pipelined requests.
//!
//! The shape: every request is encoded by its caller, registered in a map of
//! requests in flight (correlation id to a oneshot sender) and queued to a
//! writer task, all without an `.await` in between, so a caller that gives
//! up can never leave half a request behind. One reader task reads frames
//! and hands each to the sender its correlation id names; a frame for a
//! caller that gave up is read whole and dropped, so the stream stays in
//! step. When either task fails, the connection closes: the map is drained
//! and every request in flight fails at once with the reason.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::AbortHandle;
use vltava_wire::messages::{
    ApiVersionsRequest, ApiVersionsResponse, ProduceRequest, RequestHeader,
};
use vltava_wire::{ApiKey, DecodeError, ErrorCode, Request, Response, Segments, VersionRange};

use crate::config::ConnectionConfig;
use crate::error::{DisconnectReason, NetError};
use crate::frame::{self, FrameError};
use crate::sasl::SaslSession;
use crate::versions::{ApiVersions, client_range};

/// A connection to one broker: pipelined requests over one TCP stream, with
/// the API versions negotiated when it opened.
///
/// Requests take `&self`, so many can be in flight at once (share the
/// connection with an `Arc` across tasks, or join futures in one task);
/// responses are matched to them by correlation id, in whatever order the
/// broker sends them. Every request future is cancellation safe: dropping
/// it never desynchronises the connection.
///
/// Dropping the connection closes it.
pub struct Connection {
    shared: Arc<Shared>,
    outgoing: mpsc::UnboundedSender<Vec<Bytes>>,
    config: ConnectionConfig,
    versions: ApiVersions,
    handshake_version: i16,
    sasl_session: Option<SaslSession>,
    /// One permit per request that may be in flight.
    permits: Arc<Semaphore>,
}

/// What the caller side and the two tasks share.
struct Shared {
    broker: String,
    state: Mutex<State>,
}

struct State {
    next_correlation_id: i32,
    in_flight: HashMap<i32, InFlight>,
    /// Set once, when the connection closes; nothing is registered after.
    closed: Option<DisconnectReason>,
    /// The reader and writer tasks, aborted when the connection closes.
    tasks: Vec<AbortHandle>,
    /// When a request was last sent or a response last received.
    last_activity: Instant,
    /// Until when the broker asked us to hold back requests (KIP-219).
    throttled_until: Option<Instant>,
}

/// A request waiting for its response.
struct InFlight {
    api_key: ApiKey,
    reply: oneshot::Sender<Result<Bytes, NetError>>,
    /// Released when the request leaves the map: answered, or failed by
    /// the connection closing.
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    /// Opens a TCP connection to `broker` (`host:port`) within the dial
    /// timeout, runs the TLS handshake if [`ConnectionConfig::tls`] is set,
    /// then the ApiVersions handshake (see [`Connection::api_versions`]),
    /// then SASL authentication if [`ConnectionConfig::sasl`] is set (see
    /// [`Connection::sasl_session`]).
    pub async fn connect(broker: &str, config: ConnectionConfig) -> Result<Self, NetError> {
        let dial = tokio::time::timeout(config.dial_timeout, TcpStream::connect(broker));
        let stream = match dial.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                return Err(NetError::Dial {
                    broker: broker.to_owned(),
                    source,
                });
            }
            Err(_) => {
                return Err(NetError::DialTimeout {
                    broker: broker.to_owned(),
                    timeout: config.dial_timeout,
                });
            }
        };
        // Requests are small and latency-bound; the writer task batches
        // pipelined frames itself.
        stream.set_nodelay(true).map_err(|source| NetError::Dial {
            broker: broker.to_owned(),
            source,
        })?;
        #[cfg(feature = "tls")]
        if let Some(tls) = &config.tls {
            let stream = crate::tls::handshake(tls, broker, stream, config.dial_timeout).await?;
            let (reader, writer) = tokio::io::split(stream);
            return Self::over(broker.to_owned(), reader, writer, config).await;
        }
        let (reader, writer) = stream.into_split();
        Self::over(broker.to_owned(), reader, writer, config).await
    }

    /// Runs a connection over any byte stream (the tests use in-memory
    /// pipes), starting with the ApiVersions handshake and SASL.
    pub(crate) async fn over<R, W>(
        broker: String,
        reader: R,
        writer: W,
        config: ConnectionConfig,
    ) -> Result<Self, NetError>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let shared = Arc::new(Shared {
            broker,
            state: Mutex::new(State {
                next_correlation_id: 0,
                in_flight: HashMap::new(),
                closed: None,
                tasks: Vec::new(),
                last_activity: Instant::now(),
                throttled_until: None,
            }),
        });
        let (outgoing, queued) = mpsc::unbounded_channel();
        let read_task = tokio::spawn(read_loop(reader, shared.clone(), config.max_frame_size));
        let write_task = tokio::spawn(write_loop(writer, queued, shared.clone()));
        shared.adopt_tasks([read_task.abort_handle(), write_task.abort_handle()]);
        let mut connection = Self {
            shared,
            outgoing,
            versions: ApiVersions::default(),
            handshake_version: 0,
            sasl_session: None,
            permits: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            config,
        };
        connection.handshake().await?;
        connection.authenticate().await?;
        Ok(connection)
    }

    /// The broker's address, as given to [`Connection::connect`].
    pub fn broker(&self) -> &str {
        &self.shared.broker
    }

    /// The API versions the broker announced in the handshake.
    pub fn api_versions(&self) -> &ApiVersions {
        &self.versions
    }

    /// What SASL authentication left, when the connection authenticated.
    pub fn sasl_session(&self) -> Option<&SaslSession> {
        self.sasl_session.as_ref()
    }

    /// The ApiVersions version the handshake succeeded at (lower than the
    /// latest when the broker is older than this client, see KIP-511).
    pub fn handshake_version(&self) -> i16 {
        self.handshake_version
    }

    /// The highest version of `api_key` both this client and the broker
    /// speak, or [`NetError::UnsupportedApi`].
    pub fn version_for(&self, api_key: ApiKey) -> Result<i16, NetError> {
        self.versions
            .negotiate(api_key)
            .ok_or_else(|| NetError::UnsupportedApi {
                broker: self.shared.broker.clone(),
                api_key,
                ours: client_range(api_key),
                theirs: self.versions.broker_range(api_key),
            })
    }

    /// Whether the connection has closed; every request then fails with
    /// [`NetError::Disconnected`] and a new connection is needed.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed.is_some()
    }

    /// Closes the connection now: requests in flight fail with a retriable
    /// [`NetError::Disconnected`] ([`DisconnectReason::ClientClosed`]), as
    /// do later ones. Dropping the last handle does the same.
    pub fn close(&self) {
        self.shared.close(DisconnectReason::ClientClosed);
    }

    /// How many requests wait for their response.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().in_flight.len()
    }

    /// How long ago a request was last sent or a response last received.
    pub fn idle_for(&self) -> Duration {
        self.shared.lock().last_activity.elapsed()
    }

    /// Until when the broker asked this client to hold back requests on
    /// this connection (KIP-219), if that is still in the future.
    pub fn throttled_until(&self) -> Option<Instant> {
        self.shared
            .lock()
            .throttled_until
            .filter(|&until| until > Instant::now())
    }

    /// Sends `body` at the negotiated version ([`Connection::version_for`])
    /// and waits for the response, at most the request timeout.
    ///
    /// Cancellation safe: dropping the future forgets the request, and its
    /// response, if one comes, is read and discarded.
    pub async fn send<R: Request>(&self, body: R) -> Result<R::Response, NetError> {
        let version = self.version_for(R::API_KEY)?;
        self.send_at(version, body).await
    }

    /// Sends `body` at `version`, which the broker must have announced, and
    /// waits for the response, at most the request timeout.
    ///
    /// Cancellation safe, like [`Connection::send`].
    pub async fn send_at<R: Request>(
        &self,
        version: i16,
        body: R,
    ) -> Result<R::Response, NetError> {
        self.enqueue_at(version, body).await?.response().await
    }

    /// Puts `body` (at the negotiated version) on the wire and returns
    /// once it is queued for writing, without waiting for the response:
    /// await [`PendingResponse::response`] for that.
    ///
    /// Requests are written in the order their `enqueue` calls return, so
    /// a caller that needs an order on the wire (the idempotent producer:
    /// a partition's sequences must arrive in order) starts each request
    /// after the previous one's `enqueue` returned. [`Connection::send`]
    /// gives no such order between concurrent callers.
    ///
    /// Waits for a throttle (KIP-219) and for a free in-flight slot first;
    /// the request timeout counts from the call, that wait included.
    /// Cancellation safe: dropping the future or the [`PendingResponse`]
    /// forgets the request, and its response is read and discarded.
    pub async fn enqueue<R: Request>(&self, body: R) -> Result<PendingResponse<R>, NetError> {
        let version = self.version_for(R::API_KEY)?;
        self.enqueue_at(version, body).await
    }

    /// [`Connection::enqueue`] at `version`, which the broker must have
    /// announced.
    pub async fn enqueue_at<R: Request>(
        &self,
        version: i16,
        body: R,
    ) -> Result<PendingResponse<R>, NetError> {
        let theirs = self.versions.broker_range(R::API_KEY);
        if !theirs.is_some_and(|range| range.contains(version)) {
            return Err(NetError::UnsupportedVersion {
                broker: self.shared.broker.clone(),
                api_key: R::API_KEY,
                version,
                theirs: theirs.unwrap_or(VersionRange::NONE),
            });
        }
        // KIP-219: a throttled broker answers at once and then ignores the
        // connection for the throttle time; sending into that only makes
        // requests wait in its buffers. Waiting here is cancellation safe:
        // nothing is registered yet.
        if let Some(until) = self.throttled_until() {
            tokio::time::sleep_until(until.into()).await;
        }
        let reply = self.queue::<R>(version, &body).await?;
        Ok(PendingResponse {
            reply,
            _response: PhantomData,
        })
    }

    /// Sends a Produce request with `acks = 0`, which the broker does not
    /// answer: the future ends once the request is queued for writing.
    /// Nothing tells whether the broker took the records; that is what
    /// `acks = 0` means.
    ///
    /// A request with any other `acks` is refused with
    /// [`NetError::InvalidRequest`]: its answer would arrive for a request
    /// nobody waits for.
    pub async fn send_unanswered(&self, body: ProduceRequest) -> Result<(), NetError> {
        if body.acks != 0 {
            return Err(NetError::InvalidRequest {
                api_key: ApiKey::Produce,
                reason: "only a Produce request with acks = 0 goes unanswered",
            });
        }
        let version = self.version_for(ApiKey::Produce)?;
        if let Some(until) = self.throttled_until() {
            tokio::time::sleep_until(until.into()).await;
        }
        let buf = self.encode(version, &body)?;
        let mut state = self.shared.lock();
        if state.closed.is_some() {
            drop(state);
            return Err(self.shared.closed_error());
        }
        let mut buf = buf;
        frame::set_correlation_id(buf.head_mut(), state.allocate_correlation_id());
        state.last_activity = Instant::now();
        if self.outgoing.send(buf.into_parts()).is_err() {
            drop(state);
            return Err(self.shared.closed_error());
        }
        Ok(())
    }

    /// Sends a request and waits for its response frame (header included),
    /// at most the request timeout, waiting for a free in-flight slot
    /// included.
    async fn round_trip<R: Request>(&self, version: i16, body: &R) -> Result<Bytes, NetError> {
        self.queue::<R>(version, body).await?.frame().await
    }

    /// Encodes a request, waits for a free in-flight slot (within the
    /// request timeout) and queues it for writing; returns the receiver of
    /// its response frame, which keeps the rest of the request timeout.
    async fn queue<R: Request>(&self, version: i16, body: &R) -> Result<Reply, NetError> {
        let deadline = tokio::time::Instant::now() + self.config.request_timeout;
        let timeout = || NetError::Timeout {
            broker: self.shared.broker.clone(),
            api_key: R::API_KEY,
            timeout: self.config.request_timeout,
        };
        let buf = self.encode(version, body)?;
        let permit =
            match tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return Err(self.shared.closed_error()),
                Err(_) => return Err(timeout()),
            };
        let receiver = self.start::<R>(buf, permit)?;
        Ok(Reply {
            receiver,
            deadline,
            shared: self.shared.clone(),
            api_key: R::API_KEY,
            version,
            timeout: self.config.request_timeout,
        })
    }

    /// Encodes a request frame with a placeholder correlation id, patched
    /// under the lock when it is registered: encoding a large request does
    /// not hold up the reader. Record batches (and any `bytes` field) of at
    /// least [`frame::WRITE_BUFFER`] bytes are not copied: the frame is
    /// written in pieces, those straight from the producer's buffers.
    fn encode<R: Request>(&self, version: i16, body: &R) -> Result<Segments, NetError> {
        let header = RequestHeader::for_request::<R>(version, 0, self.config.client_id.as_deref());
        let mut buf = Segments::new(frame::request_buffer(), frame::WRITE_BUFFER);
        vltava_wire::encode_request_segments(&header, body, &mut buf)?;
        if frame::finish_request(&mut buf).is_none() {
            return Err(NetError::RequestTooLarge {
                broker: self.shared.broker.clone(),
                api_key: R::API_KEY,
                size: buf.len(),
            });
        }
        Ok(buf)
    }

    /// Encodes a request, registers it and queues it for the writer. Never
    /// awaits, so a request is either wholly queued and registered or not
    /// at all.
    fn start<R: Request>(
        &self,
        mut buf: Segments,
        permit: OwnedSemaphorePermit,
    ) -> Result<oneshot::Receiver<Result<Bytes, NetError>>, NetError> {
        let (reply, response) = oneshot::channel();
        let mut state = self.shared.lock();
        if state.closed.is_some() {
            drop(state);
            return Err(self.shared.closed_error());
        }
        let correlation_id = state.allocate_correlation_id();
        frame::set_correlation_id(buf.head_mut(), correlation_id);
        state.last_activity = Instant::now();
        if self.outgoing.send(buf.into_parts()).is_err() {
            // The writer task is gone; it closes the state as it ends.
            drop(state);
            return Err(self.shared.closed_error());
        }
        // Registered before the reader can look it up: it needs the lock.
        state.in_flight.insert(
            correlation_id,
            InFlight {
                api_key: R::API_KEY,
                reply,
                _permit: permit,
            },
        );
        Ok(response)
    }

    /// The ApiVersions handshake (KIP-511): the latest version we speak,
    /// with our software name and version. A broker that does not know that
    /// version answers at v0 with UNSUPPORTED_VERSION and its own list; we
    /// then retry at the highest version it lists for ApiVersions (as the
    /// Java client does), or at v0 if it lists none.
    async fn handshake(&mut self) -> Result<(), NetError> {
        let request = ApiVersionsRequest {
            client_software_name: self.config.client_software_name.clone(),
            client_software_version: self.config.client_software_version.clone(),
            ..Default::default()
        };
        let mut version = client_range(ApiKey::ApiVersions).max;
        loop {
            let frame = self.round_trip(version, &request).await?;
            let response = decode_api_versions(version, &frame)?;
            let code = ErrorCode::from(response.error_code);
            if code == ErrorCode::UNSUPPORTED_VERSION && version > 0 {
                // Strictly lower each time, so this ends.
                version = fallback_version(&response, version);
                continue;
            }
            if code.is_err() {
                return Err(NetError::Handshake {
                    broker: self.shared.broker.clone(),
                    code,
                });
            }
            self.versions = ApiVersions::from_response(&response);
            self.handshake_version = version;
            return Ok(());
        }
    }

    /// SASL authentication, when configured ([`crate::sasl`]). Runs before
    /// the connection is handed out, so nothing else is sent until it ends.
    async fn authenticate(&mut self) -> Result<(), NetError> {
        if let Some(sasl) = self.config.sasl.clone() {
            self.sasl_session = Some(crate::sasl::authenticate(self, &sasl).await?);
        }
        Ok(())
    }
}

/// A request on the wire, waiting for its response: what
/// [`Connection::enqueue`] returns. Dropping it forgets the request; its
/// response is read and discarded when it comes.
#[must_use = "the request is on the wire; await `response` for its answer"]
pub struct PendingResponse<R: Request> {
    reply: Reply,
    _response: PhantomData<fn() -> R>,
}

impl<R: Request> PendingResponse<R> {
    /// Waits for the response, at most what is left of the request
    /// timeout, and decodes it. Cancellation safe.
    pub async fn response(self) -> Result<R::Response, NetError> {
        let shared = self.reply.shared.clone();
        let version = self.reply.version;
        let frame = self.reply.frame().await?;
        let (_header, response) = vltava_wire::decode_response::<R::Response>(version, &frame)?;
        shared.throttle(response.throttle_time_ms());
        Ok(response)
    }
}

impl<R: Request> fmt::Debug for PendingResponse<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingResponse")
            .field("broker", &self.reply.shared.broker)
            .field("api_key", &self.reply.api_key)
            .field("version", &self.reply.version)
            .finish_non_exhaustive()
    }
}

/// The receiving end of one queued request, with its deadline.
struct Reply {
    receiver: oneshot::Receiver<Result<Bytes, NetError>>,
    deadline: tokio::time::Instant,
    shared: Arc<Shared>,
    api_key: ApiKey,
    version: i16,
    timeout: Duration,
}

impl Reply {
    /// The response frame (header included), by the deadline.
    async fn frame(self) -> Result<Bytes, NetError> {
        match tokio::time::timeout_at(self.deadline, self.receiver).await {
            Ok(Ok(result)) => result,
            // The sender went away unanswered: only when the tasks were
            // torn down without closing, e.g. the runtime is shutting down.
            Ok(Err(_)) => Err(self.shared.closed_error()),
            Err(_) => Err(NetError::Timeout {
                broker: self.shared.broker.clone(),
                api_key: self.api_key,
                timeout: self.timeout,
            }),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.close(DisconnectReason::ClientClosed);
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("broker", &self.shared.broker)
            .field("handshake_version", &self.handshake_version)
            .field("api_keys", &self.versions.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Decodes an ApiVersions response to a request sent at `version`. A broker
/// that does not know `version` answers at v0 instead (KIP-511), so a frame
/// that does not decode at `version` is tried at v0, and accepted only if it
/// says UNSUPPORTED_VERSION.
fn decode_api_versions(version: i16, frame: &Bytes) -> Result<ApiVersionsResponse, DecodeError> {
    match vltava_wire::decode_response::<ApiVersionsResponse>(version, frame) {
        Ok((_, response)) => Ok(response),
        Err(error) if version > 0 => {
            match vltava_wire::decode_response::<ApiVersionsResponse>(0, frame) {
                Ok((_, response))
                    if ErrorCode::from(response.error_code) == ErrorCode::UNSUPPORTED_VERSION =>
                {
                    Ok(response)
                }
                _ => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// The ApiVersions version to retry at after `tried` was refused.
fn fallback_version(response: &ApiVersionsResponse, tried: i16) -> i16 {
    response
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ApiVersions.as_i16())
        .map(|k| k.max_version.min(tried - 1))
        .filter(|&v| v >= 0)
        .unwrap_or(0)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every unlock; a panic elsewhere
        // while holding it must not take the connection down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn adopt_tasks(&self, tasks: [AbortHandle; 2]) {
        let mut state = self.lock();
        if state.closed.is_some() {
            tasks.iter().for_each(AbortHandle::abort);
        } else {
            state.tasks.extend(tasks);
        }
    }

    /// Holds back requests for `throttle_time_ms` from now (KIP-219).
    fn throttle(&self, throttle_time_ms: i32) {
        let Ok(ms) = u64::try_from(throttle_time_ms) else {
            return;
        };
        if ms == 0 {
            return;
        }
        let until = Instant::now() + Duration::from_millis(ms);
        let mut state = self.lock();
        if state.throttled_until.is_none_or(|t| t < until) {
            state.throttled_until = Some(until);
        }
    }

    /// The error for a request on a closed connection.
    fn closed_error(&self) -> NetError {
        let reason = self
            .lock()
            .closed
            .clone()
            .unwrap_or(DisconnectReason::ClientClosed);
        NetError::Disconnected {
            broker: self.broker.clone(),
            in_flight: 0,
            reason,
        }
    }

    /// Closes the connection once: fails every request in flight with
    /// `reason` and stops both tasks.
    fn close(&self, reason: DisconnectReason) {
        let (waiting, tasks) = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(reason.clone());
            let waiting: Vec<InFlight> = state.in_flight.drain().map(|(_, w)| w).collect();
            (waiting, std::mem::take(&mut state.tasks))
        };
        let in_flight = waiting.iter().filter(|w| !w.reply.is_closed()).count();
        for waiter in waiting {
            // A caller that already gave up is not there to be told.
            let _ = waiter.reply.send(Err(NetError::Disconnected {
                broker: self.broker.clone(),
                in_flight,
                reason: reason.clone(),
            }));
        }
        tasks.iter().for_each(AbortHandle::abort);
    }
}

impl State {
    /// The next correlation id not in flight (non-negative, wrapping).
    fn allocate_correlation_id(&mut self) -> i32 {
        loop {
            let id = self.next_correlation_id;
            self.next_correlation_id = id.checked_add(1).unwrap_or(0);
            if !self.in_flight.contains_key(&id) {
                return id;
            }
        }
    }
}

/// The reader task: reads frames and hands each to its request.
async fn read_loop<R: AsyncRead + Unpin>(mut reader: R, shared: Arc<Shared>, max: usize) {
    let reason = loop {
        match frame::read_frame(&mut reader, max).await {
            Ok(frame) => {
                let id = frame::response_correlation_id(&frame);
                let waiter = {
                    let mut state = shared.lock();
                    state.last_activity = Instant::now();
                    state.in_flight.remove(&id)
                };
                match waiter {
                    // If the caller gave up, the frame is simply dropped.
                    Some(waiter) => drop(waiter.reply.send(Ok(frame))),
                    None => break DisconnectReason::UnknownCorrelationId(id),
                }
            }
            Err(FrameError::Eof) => break DisconnectReason::PeerClosed,
            Err(FrameError::Io(error)) => break DisconnectReason::Io(Arc::new(error)),
            Err(FrameError::Malformed(what)) => break DisconnectReason::MalformedFrame(what),
            Err(FrameError::TooLarge {
                size,
                correlation_id,
            }) => {
                // The request the frame answers gets the typed error; the
                // others only lose their connection.
                let waiter = correlation_id.and_then(|id| shared.lock().in_flight.remove(&id));
                if let Some(waiter) = waiter {
                    let _ = waiter.reply.send(Err(NetError::FrameTooLarge {
                        broker: shared.broker.clone(),
                        api_key: waiter.api_key,
                        size,
                        max,
                    }));
                }
                break DisconnectReason::FrameTooLarge { size, max };
            }
        }
    };
    shared.close(reason);
}

/// The writer task: writes queued frames, flushing once the queue is empty
/// so that pipelined requests share system calls.
async fn write_loop<W: AsyncWrite + Unpin>(
    writer: W,
    mut queued: mpsc::UnboundedReceiver<Vec<Bytes>>,
    shared: Arc<Shared>,
) {
    // Pieces smaller than the buffer are gathered in it; larger ones (the
    // shared record batches) go to the socket straight from where they are.
    let mut writer = BufWriter::with_capacity(frame::WRITE_BUFFER, writer);
    let result: io::Result<()> = async {
        while let Some(frame) = queued.recv().await {
            for part in &frame {
                writer.write_all(part).await?;
            }
            while let Ok(frame) = queued.try_recv() {
                for part in &frame {
                    writer.write_all(part).await?;
                }
            }
            writer.flush().await?;
        }
        Ok(())
    }
    .await;
    match result {
        Err(error) => shared.close(DisconnectReason::Io(Arc::new(error))),
        // Every sender is gone: the connection was dropped.
        Ok(()) => shared.close(DisconnectReason::ClientClosed),
    }
}

#[cfg(test)]
mod tests;
