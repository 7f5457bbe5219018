//! A tiny blocking probe that speaks three fixed-layout Kafka requests.
//!
//! The testkit must not depend on the crates it helps test, so it carries
//! its own encoder for Metadata v5, FindCoordinator v2 and CreateTopics v4:
//! versions every broker from 2.1 to 4.x answers, all with non-flexible
//! (classic) encodings. It is a test tool, not a client: one request per
//! connection, strict timeouts, no retries.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::{Error, Result};

const METADATA: i16 = 3;
const FIND_COORDINATOR: i16 = 10;
const CREATE_TOPICS: i16 = 19;
/// Largest response the probe accepts; metadata of a test cluster is far smaller.
const MAX_RESPONSE: usize = 16 << 20;

/// A broker as metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The node id.
    pub node_id: i32,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: i32,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition index.
    pub partition: i32,
    /// The Kafka error code for this partition, 0 if none.
    pub error_code: i16,
    /// The leader's node id, -1 if there is none.
    pub leader: i32,
    /// The replicas' node ids.
    pub replicas: Vec<i32>,
    /// The in-sync replicas' node ids.
    pub isr: Vec<i32>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic name.
    pub name: String,
    /// The Kafka error code for this topic, 0 if none.
    pub error_code: i16,
    /// Its partitions.
    pub partitions: Vec<PartitionInfo>,
}

/// A metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataInfo {
    /// The brokers registered with the cluster.
    pub brokers: Vec<BrokerInfo>,
    /// The node id the broker reports as controller.
    pub controller_id: i32,
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// The topics asked for.
    pub topics: Vec<TopicInfo>,
}

/// Sends a Metadata v5 request. `topics: None` asks for every topic.
pub(crate) fn metadata(
    addr: SocketAddr,
    topics: Option<&[&str]>,
    timeout: Duration,
) -> Result<MetadataInfo> {
    let mut body = Vec::new();
    match topics {
        None => put_i32(&mut body, -1),
        Some(names) => {
            put_i32(&mut body, names.len() as i32);
            for name in names {
                put_str(&mut body, name);
            }
        }
    }
    body.push(0); // allow_auto_topic_creation = false
    let response = round_trip(addr, METADATA, 5, &body, timeout)?;
    let mut r = Reader::new(&response);
    r.i32()?; // throttle
    let mut brokers = Vec::new();
    for _ in 0..r.count()? {
        let node_id = r.i32()?;
        let host = r.string()?;
        let port = r.i32()?;
        r.nullable_string()?; // rack
        brokers.push(BrokerInfo {
            node_id,
            host,
            port,
        });
    }
    let cluster_id = r.nullable_string()?;
    let controller_id = r.i32()?;
    let mut topics = Vec::new();
    for _ in 0..r.count()? {
        let error_code = r.i16()?;
        let name = r.string()?;
        r.i8()?; // is_internal
        let mut partitions = Vec::new();
        for _ in 0..r.count()? {
            let error_code = r.i16()?;
            let partition = r.i32()?;
            let leader = r.i32()?;
            let replicas = r.i32_array()?;
            let isr = r.i32_array()?;
            r.i32_array()?; // offline replicas
            partitions.push(PartitionInfo {
                partition,
                error_code,
                leader,
                replicas,
                isr,
            });
        }
        topics.push(TopicInfo {
            name,
            error_code,
            partitions,
        });
    }
    Ok(MetadataInfo {
        brokers,
        controller_id,
        cluster_id,
        topics,
    })
}

/// Sends FindCoordinator v2 for a group and returns (error code, node id).
pub(crate) fn find_group_coordinator(
    addr: SocketAddr,
    group: &str,
    timeout: Duration,
) -> Result<(i16, i32)> {
    let mut body = Vec::new();
    put_str(&mut body, group);
    body.push(0); // key type: group
    let response = round_trip(addr, FIND_COORDINATOR, 2, &body, timeout)?;
    let mut r = Reader::new(&response);
    r.i32()?; // throttle
    let error_code = r.i16()?;
    r.nullable_string()?;
    let node_id = r.i32()?;
    Ok((error_code, node_id))
}

/// Sends CreateTopics v4 for one topic and returns (error code, error message).
pub(crate) fn create_topic(
    addr: SocketAddr,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(&str, &str)],
    timeout: Duration,
) -> Result<(i16, Option<String>)> {
    let mut body = Vec::new();
    put_i32(&mut body, 1);
    put_str(&mut body, name);
    put_i32(&mut body, partitions);
    body.extend_from_slice(&replication_factor.to_be_bytes());
    put_i32(&mut body, 0); // no manual assignments
    put_i32(&mut body, configs.len() as i32);
    for (key, value) in configs {
        put_str(&mut body, key);
        put_str(&mut body, value);
    }
    put_i32(&mut body, timeout.as_millis().min(i32::MAX as u128) as i32);
    body.push(0); // validate_only = false
    let response = round_trip(addr, CREATE_TOPICS, 4, &body, timeout)?;
    let mut r = Reader::new(&response);
    r.i32()?; // throttle
    if r.count()? != 1 {
        return Err(Error::Broker("CreateTopics: expected one topic".into()));
    }
    r.string()?;
    let error_code = r.i16()?;
    let message = r.nullable_string()?;
    Ok((error_code, message))
}

/// Sends one request on a fresh connection and returns the response body.
fn round_trip(
    addr: SocketAddr,
    api_key: i16,
    api_version: i16,
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>> {
    let fail = |what: &str, e: std::io::Error| Error::Broker(format!("{addr}: {what}: {e}"));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail("connect", e))?;
    stream.set_read_timeout(Some(timeout)).ok();
    stream.set_write_timeout(Some(timeout)).ok();
    let correlation_id = 1;
    let mut frame = Vec::with_capacity(body.len() + 32);
    put_i32(&mut frame, 0); // length, patched below
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&api_version.to_be_bytes());
    put_i32(&mut frame, correlation_id);
    put_str(&mut frame, "vltava-testkit");
    frame.extend_from_slice(body);
    let length = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    stream.write_all(&frame).map_err(|e| fail("send", e))?;
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .map_err(|e| fail("receive", e))?;
    let size = i32::from_be_bytes(size);
    if size < 4 || size as usize > MAX_RESPONSE {
        return Err(Error::Broker(format!("{addr}: bad response size {size}")));
    }
    let mut response = vec![0u8; size as usize];
    stream
        .read_exact(&mut response)
        .map_err(|e| fail("receive", e))?;
    if response[..4] != correlation_id.to_be_bytes() {
        return Err(Error::Broker(format!("{addr}: correlation id mismatch")));
    }
    response.drain(..4);
    Ok(response)
}

fn put_i32(buf: &mut Vec<u8>, value: i32) {
    buf.extend_from_slice(&value.to_be_bytes());
}

fn put_str(buf: &mut Vec<u8>, value: &str) {
    buf.extend_from_slice(&(value.len() as i16).to_be_bytes());
    buf.extend_from_slice(value.as_bytes());
}

/// A bounds-checked big-endian reader over a response body.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::Broker("truncated response".into()));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn i8(&mut self) -> Result<i8> {
        Ok(self.take(1)?[0] as i8)
    }

    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().unwrap()))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }

    /// An array length; null arrays count as empty. Checked against what remains.
    fn count(&mut self) -> Result<usize> {
        let n = self.i32()?.max(0) as usize;
        if n > self.buf.len() {
            return Err(Error::Broker("array longer than response".into()));
        }
        Ok(n)
    }

    fn nullable_string(&mut self) -> Result<Option<String>> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
    }

    fn string(&mut self) -> Result<String> {
        self.nullable_string()?
            .ok_or_else(|| Error::Broker("null string".into()))
    }

    fn i32_array(&mut self) -> Result<Vec<i32>> {
        let n = self.count()?;
        (0..n).map(|_| self.i32()).collect()
    }
}
