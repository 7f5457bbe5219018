//! `cargo xtask fixtures`: captures golden response frames from a real Kafka broker.
//!
//! The frames are written under `crates/vltava-wire/tests/fixtures/` and
//! committed; `vltava-wire`'s tests decode them without a cluster. The
//! records in the Fetch responses are written by Kafka's own console
//! producer, once per compression codec, so the codec is checked against
//! what the Java client writes, not against itself.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use vltava_testkit::Cluster;
use vltava_wire::messages::{
    ApiVersionsRequest, ConsumerProtocolSubscription, FetchRequest, FindCoordinatorRequest,
    JoinGroupRequest, JoinGroupResponse, MetadataRequest, MetadataResponse, RequestHeader,
    fetch_request::{FetchPartition, FetchTopic},
    join_group_request::JoinGroupRequestProtocol,
    metadata_request::MetadataRequestTopic,
};
use vltava_wire::{Message, Request};

use crate::flags::Flags;

pub(crate) const HELP: &str = "\
cargo xtask fixtures [--out DIR]

Starts (or reuses) the local cluster, writes records with Kafka's own console
producer once per compression codec, and captures response frames from the
broker: ApiVersions, Metadata, FindCoordinator, JoinGroup and Fetch. Writes
them, with a manifest, to crates/vltava-wire/tests/fixtures (or DIR).
";

/// Records per codec topic.
const RECORDS: usize = 200;
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut flags = Flags::new(args);
    if flags.switch("--help") {
        print!("{HELP}");
        return Ok(());
    }
    let out = flags
        .value("--out")?
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("crates/vltava-wire/tests/fixtures"));
    flags.finish()?;
    let (cluster, _) = crate::cluster::up_or_attach(crate::cluster::default_dir(), None, None)?;
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let mut capture = Capture {
        out,
        manifest: Vec::new(),
        correlation_id: 0,
    };
    let any = cluster.broker_addr(1).map_err(|e| e.to_string())?;

    capture.request(any, "api_versions_v0", 0, &ApiVersionsRequest::default())?;
    capture.request(
        any,
        "api_versions_v3",
        3,
        &ApiVersionsRequest {
            client_software_name: "vltava-fixtures".into(),
            client_software_version: "0.1.0".into(),
            ..Default::default()
        },
    )?;

    let suffix = format!("{:x}", std::process::id());
    let topics: Vec<String> = CODECS
        .iter()
        .map(|c| format!("fixture-{c}-{suffix}"))
        .collect();
    for (codec, topic) in CODECS.iter().zip(&topics) {
        cluster
            .create_topic(topic, 1, 3)
            .map_err(|e| e.to_string())?;
        produce(&cluster, topic, codec)?;
    }

    let metadata_request = MetadataRequest {
        topics: Some(
            topics
                .iter()
                .map(|t| MetadataRequestTopic {
                    name: Some(t.clone()),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    };
    let metadata_frame = capture.request(any, "metadata_v12", 12, &metadata_request)?;
    let (_, metadata) = vltava_wire::decode_response::<MetadataResponse>(12, &metadata_frame)
        .map_err(|e| format!("our decoder rejects the broker's Metadata v12 response: {e}"))?;
    capture.request(
        any,
        "metadata_v4",
        4,
        &MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(topics[0].clone()),
                ..Default::default()
            }]),
            ..Default::default()
        },
    )?;

    let group = format!("fixture-group-{suffix}");
    capture.request(
        any,
        "find_coordinator_v4",
        4,
        &FindCoordinatorRequest {
            key_type: 0,
            coordinator_keys: vec![group.clone()],
            ..Default::default()
        },
    )?;
    capture.request(
        any,
        "find_coordinator_v2",
        2,
        &FindCoordinatorRequest {
            key: group.clone(),
            ..Default::default()
        },
    )?;
    join_group(&mut capture, &cluster, &group, &topics[0])?;

    for (codec, topic) in CODECS.iter().zip(&topics) {
        let leader = cluster
            .partition_leader(topic, 0)
            .map_err(|e| e.to_string())?;
        let addr = cluster.broker_addr(leader).map_err(|e| e.to_string())?;
        let topic_id = metadata
            .topics
            .iter()
            .find(|t| t.name.as_deref() == Some(topic.as_str()))
            .map(|t| t.topic_id)
            .ok_or_else(|| format!("metadata lacks {topic}"))?;
        let fetch = |version: i16, max: i32| FetchRequest {
            replica_id: -1,
            max_wait_ms: 100,
            min_bytes: 1,
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                topic: if version < 13 {
                    topic.clone()
                } else {
                    String::new()
                },
                topic_id: if version >= 13 {
                    topic_id
                } else {
                    Default::default()
                },
                partitions: vec![FetchPartition {
                    partition: 0,
                    current_leader_epoch: -1,
                    fetch_offset: 0,
                    last_fetched_epoch: -1,
                    log_start_offset: -1,
                    partition_max_bytes: max,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        capture.request(addr, &format!("fetch_v12_{codec}"), 12, &fetch(12, 1 << 20))?;
        if *codec == "none" {
            capture.request(addr, "fetch_v16_none", 16, &fetch(16, 1 << 20))?;
            capture.request(addr, "fetch_v4_none", 4, &fetch(4, 1 << 20))?;
            // A limit that cuts the log mid-batch: the broker returns whole
            // batches and then the first bytes of the next one.
            capture.request(addr, "fetch_v12_none_truncated", 12, &fetch(12, 3000))?;
        }
    }

    capture.write_manifest(cluster.kafka_version())?;
    eprintln!(
        "wrote {} fixtures to {}",
        capture.manifest.len(),
        capture.out.display()
    );
    Ok(())
}

/// Two JoinGroup rounds: the first is answered MEMBER_ID_REQUIRED (KIP-394)
/// with a member id, the second with the full join as leader.
fn join_group(
    capture: &mut Capture,
    cluster: &Cluster,
    group: &str,
    topic: &str,
) -> Result<(), String> {
    let subscription = ConsumerProtocolSubscription {
        topics: vec![topic.to_owned()],
        generation_id: -1,
        ..Default::default()
    };
    let mut metadata = BytesMut::new();
    // The consumer protocol's version prefix, then the struct at that version.
    metadata.extend_from_slice(&3i16.to_be_bytes());
    subscription
        .encode(&mut metadata, 3)
        .map_err(|e| e.to_string())?;
    let mut join = JoinGroupRequest {
        group_id: group.to_owned(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: String::new(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: metadata.freeze(),
            ..Default::default()
        }],
        ..Default::default()
    };
    // A coordinator that has just been elected answers NOT_COORDINATOR (16) or
    // COORDINATOR_LOAD_IN_PROGRESS (14) until it has loaded the group's
    // partition: find it again and retry, as a client would.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let coordinator = cluster
            .group_coordinator(group)
            .map_err(|e| e.to_string())?;
        let addr = cluster
            .broker_addr(coordinator)
            .map_err(|e| e.to_string())?;
        let mut stream = connect(addr)?;
        join.member_id.clear();
        let first =
            capture.request_on(&mut stream, "join_group_v9_member_id_required", 9, &join)?;
        let (_, answer) = decode_join(&first)?;
        if matches!(answer.error_code, 14..=16) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        if answer.error_code != 79 {
            return Err(format!(
                "first JoinGroup answered error {}, not MEMBER_ID_REQUIRED",
                answer.error_code
            ));
        }
        join.member_id = answer.member_id;
        let second = capture.request_on(&mut stream, "join_group_v9_leader", 9, &join)?;
        let (_, answer) = decode_join(&second)?;
        if answer.error_code != 0 {
            return Err(format!(
                "second JoinGroup answered error {}",
                answer.error_code
            ));
        }
        return Ok(());
    }
}

fn decode_join(
    frame: &Bytes,
) -> Result<(vltava_wire::messages::ResponseHeader, JoinGroupResponse), String> {
    vltava_wire::decode_response::<JoinGroupResponse>(9, frame)
        .map_err(|e| format!("our decoder rejects the JoinGroup response: {e}"))
}

/// Writes `RECORDS` records to `topic` with Kafka's console producer and `codec`.
fn produce(cluster: &Cluster, topic: &str, codec: &str) -> Result<(), String> {
    let dist = cluster.distribution();
    let mut child = dist
        .tool_command("org.apache.kafka.tools.ConsoleProducer")
        .args(["--bootstrap-server", &cluster.bootstrap(), "--topic", topic])
        .args(["--compression-codec", codec])
        .args(["--producer-property", "linger.ms=200"])
        .args(["--producer-property", "batch.size=2048"])
        .args(["--property", "parse.key=true"])
        .args(["--property", "parse.headers=true"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting Kafka's console producer: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    for i in 0..RECORDS {
        // headers \t key \t value; the value repeats so that codecs have something to do.
        writeln!(
            stdin,
            "trace:t-{i},codec:{codec}\tkey-{i}\tvalue {i} {}",
            "lorem ipsum dolor ".repeat(i % 5)
        )
        .map_err(|e| format!("writing to the console producer: {e}"))?;
    }
    drop(stdin);
    let output = child
        .wait_with_output()
        .map_err(|e| format!("waiting for the console producer: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "Kafka's console producer failed for {topic} ({codec}):\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

struct Capture {
    out: PathBuf,
    manifest: Vec<(String, String, i16)>,
    correlation_id: i32,
}

impl Capture {
    fn request<R: Request>(
        &mut self,
        addr: SocketAddr,
        name: &str,
        version: i16,
        body: &R,
    ) -> Result<Bytes, String> {
        let mut stream = connect(addr)?;
        self.request_on(&mut stream, name, version, body)
    }

    /// Sends one request and saves the response frame (size prefix removed) as `<name>.bin`.
    fn request_on<R: Request>(
        &mut self,
        stream: &mut TcpStream,
        name: &str,
        version: i16,
        body: &R,
    ) -> Result<Bytes, String> {
        self.correlation_id += 1;
        let header =
            RequestHeader::for_request::<R>(version, self.correlation_id, Some("vltava-fixtures"));
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&[0; 4]);
        vltava_wire::encode_request(&header, body, &mut frame)
            .map_err(|e| format!("encoding {name}: {e}"))?;
        let size = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        let requests = self.out.join("requests");
        std::fs::create_dir_all(&requests)
            .map_err(|e| format!("creating {}: {e}", requests.display()))?;
        let path = requests.join(format!("{name}.bin"));
        std::fs::write(&path, &frame[4..])
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        stream
            .write_all(&frame)
            .map_err(|e| format!("sending {name}: {e}"))?;
        let mut size = [0u8; 4];
        stream
            .read_exact(&mut size)
            .map_err(|e| format!("reading {name}: {e}"))?;
        let size = i32::from_be_bytes(size);
        if !(4..=64 << 20).contains(&size) {
            return Err(format!("{name}: response size {size}"));
        }
        let mut response = vec![0u8; size as usize];
        stream
            .read_exact(&mut response)
            .map_err(|e| format!("reading {name}: {e}"))?;
        let path = self.out.join(format!("{name}.bin"));
        std::fs::write(&path, &response).map_err(|e| format!("writing {}: {e}", path.display()))?;
        self.manifest.push((
            name.to_owned(),
            R::NAME.trim_end_matches("Request").to_owned(),
            version,
        ));
        Ok(Bytes::from(response))
    }

    fn write_manifest(&self, kafka_version: &str) -> Result<(), String> {
        let mut text = format!(
            "# Golden response frames\n\n\
             Captured by `cargo xtask fixtures` from Apache Kafka {kafka_version} (a 3-node\n\
             KRaft cluster of `vltava-testkit`). Each `.bin` file is one response frame as it\n\
             came off the socket, without the 4-byte size prefix: the response header, then\n\
             the body. The records in the Fetch responses were written by Kafka's own console\n\
             producer, {RECORDS} records per topic with keys and two headers each, once per\n\
             compression codec. `requests/` holds the request frames that asked for them\n\
             (header + body, no size prefix), encoded by `vltava-wire`. Do not edit;\n\
             capture again instead.\n\n\
             | file | API | version |\n|---|---|---|\n"
        );
        for (name, api, version) in &self.manifest {
            text.push_str(&format!("| `{name}.bin` | {api} | {version} |\n"));
        }
        let path = self.out.join("README.md");
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(stream) => {
                stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
                return Ok(stream);
            }
            Err(e) if Instant::now() > deadline => {
                return Err(format!("connecting to {addr}: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
