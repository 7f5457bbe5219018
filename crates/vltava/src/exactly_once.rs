//! Exactly-once consume-transform-produce: what a transactional producer
//! needs from a group consumer to commit the consumed offsets in the same
//! transaction as the records it produced, and to start over after an
//! abort.
//!
//! The loop, per batch of records: `begin_transaction`, produce the
//! results, [`send_consumer_offsets`], `commit_transaction`. If anything
//! fails, `abort_transaction` and [`rewind_to_committed`]: the records of
//! the aborted transaction are read again, and the next transaction
//! produces their results again (the aborted ones are never seen by a
//! read_committed reader). Java's applications do the same by hand
//! (`consumer.committed` then `seek` per partition); franz-go's
//! `GroupTransactSession` does it inside `End`.

use vltava_consumer::{ConsumeError, Consumer};
use vltava_producer::{
    CommitOffset, ConsumerGroupMetadata, ProduceError, Producer, TopicPartition,
};

/// The consumer's positions (the next offsets to read, for every partition
/// it owns, each with the leader epoch of the last record read:
/// [`Consumer::position_with_epoch`]) and its group identity, as
/// [`Producer::send_offsets_to_transaction`] takes them. `None` for a
/// consumer without a group.
///
/// Call it after processing what `poll` returned and producing the
/// results, inside the producer's transaction: the positions then cover
/// exactly the records the transaction's output came from. The member id
/// and generation let the group coordinator refuse the commit if this
/// consumer lost its partitions meanwhile (KIP-447), so a zombie cannot
/// commit over the new owner. The epochs let the consumer that next
/// starts at these offsets validate them against the leader's log
/// (KIP-320), as it does offsets it committed itself.
pub fn transaction_offsets(
    consumer: &Consumer,
) -> Option<(Vec<(TopicPartition, CommitOffset)>, ConsumerGroupMetadata)> {
    let member = consumer.group_member()?;
    let offsets = consumer
        .assignment()
        .into_iter()
        .filter_map(|tp| {
            let position = consumer.position_with_epoch(&tp)?;
            Some((tp, position))
        })
        .collect();
    let metadata = ConsumerGroupMetadata::new(member_group(consumer)?)
        .member(member.generation(), member.member_id());
    Some((offsets, metadata))
}

/// Sends the consumer's positions to `producer`'s open transaction (see
/// [`transaction_offsets`]); nothing for a consumer without a group.
pub async fn send_consumer_offsets(
    producer: &Producer,
    consumer: &Consumer,
) -> Result<(), ProduceError> {
    let Some((offsets, metadata)) = transaction_offsets(consumer) else {
        return Ok(());
    };
    if offsets.is_empty() {
        return Ok(());
    }
    producer
        .send_offsets_to_transaction(offsets, &metadata)
        .await
}

/// After an aborted transaction: moves every partition the consumer owns
/// back to its committed offset, so that the next transaction processes
/// the aborted records again.
///
/// The committed offsets are read with OffsetFetch and `require_stable`
/// ([`Consumer::committed`]): an offset commit of a transaction still in
/// flight (this producer's abort, or a previous owner's commit) is waited
/// for, never read half-done; the read is retried until the group's
/// offsets timeout. A partition with an offset that carries a leader epoch
/// goes back there through [`Consumer::seek_with_epoch`] (validated before
/// it is fetched); a partition with nothing committed starts over by the
/// reset policy ([`Consumer::reset_position`]), as a new owner would.
/// Records buffered for the old positions are dropped.
///
/// [`ConsumeError::NotInGroup`] for a consumer without a group (it has no
/// committed offsets); an error reading the offsets moves nothing, and the
/// call can be made again.
pub async fn rewind_to_committed(consumer: &Consumer) -> Result<(), ConsumeError> {
    if consumer.group_member().is_none() {
        return Err(ConsumeError::NotInGroup);
    }
    let owned = consumer.assignment();
    if owned.is_empty() {
        return Ok(());
    }
    let committed = consumer.committed(&owned).await?;
    for tp in &owned {
        match committed.get(tp).cloned().flatten() {
            Some(at) => consumer.seek_with_epoch(tp, at.offset, at.leader_epoch),
            None => consumer.reset_position(tp),
        };
    }
    Ok(())
}

fn member_group(consumer: &Consumer) -> Option<String> {
    consumer.group_id().map(str::to_owned)
}
