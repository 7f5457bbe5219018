//! Exactly-once consume-transform-produce: what a transactional producer
//! needs from a group consumer to commit the consumed offsets in the same
//! transaction as the records it produced.

use vltava_consumer::Consumer;
use vltava_producer::{ConsumerGroupMetadata, ProduceError, Producer, TopicPartition};

/// The consumer's positions (the next offsets to read, for every partition
/// it owns) and its group identity, as
/// [`Producer::send_offsets_to_transaction`] takes them. `None` for a
/// consumer without a group.
///
/// Call it after processing what `poll` returned and producing the
/// results, inside the producer's transaction: the positions then cover
/// exactly the records the transaction's output came from. The member id
/// and generation let the group coordinator refuse the commit if this
/// consumer lost its partitions meanwhile (KIP-447), so a zombie cannot
/// commit over the new owner.
pub fn transaction_offsets(
    consumer: &Consumer,
) -> Option<(Vec<(TopicPartition, i64)>, ConsumerGroupMetadata)> {
    let member = consumer.group_member()?;
    let offsets = consumer
        .assignment()
        .into_iter()
        .filter_map(|tp| {
            let position = consumer.position(&tp)?;
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
        .send_offsets_to_transaction(&offsets, &metadata)
        .await
}

fn member_group(consumer: &Consumer) -> Option<String> {
    consumer.group_id().map(str::to_owned)
}
