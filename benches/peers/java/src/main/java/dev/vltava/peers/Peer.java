package dev.vltava.peers;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.utils.internals.AppInfoParser;

/**
 * The Java client peer of {@code cargo xtask bench peers}: consumes a topic
 * from the earliest offset with assigned partitions, or produces records, and
 * prints what it measured.
 *
 * <pre>
 * Peer consume BOOTSTRAP TOPIC PARTITIONS RECORDS
 * Peer produce BOOTSTRAP TOPIC RECORDS VALUES_FILE VALUE_SIZE CODEC LINGER_MS BATCH_BYTES
 * </pre>
 *
 * It prints {@code SETTING key=value} lines, then one
 * {@code RESULT records=N bytes=B elapsed_ns=T} line: consume from the first
 * record to the last, produce from the first send to the last acknowledgement
 * (after one warm-up record).
 */
public final class Peer {
    private Peer() {}

    public static void main(String[] args) throws Exception {
        if (args.length >= 1 && args[0].equals("version")) {
            System.out.println("kafka-clients " + AppInfoParser.getVersion());
        } else if (args.length == 5 && args[0].equals("consume")) {
            consume(args[1], args[2], Integer.parseInt(args[3]), Long.parseLong(args[4]));
        } else if (args.length == 9 && args[0].equals("produce")) {
            produce(args[1], args[2], Long.parseLong(args[3]), args[4], Integer.parseInt(args[5]),
                    args[6], Integer.parseInt(args[7]), Integer.parseInt(args[8]));
        } else {
            System.err.println("usage: consume BOOTSTRAP TOPIC PARTITIONS RECORDS | produce BOOTSTRAP TOPIC "
                    + "RECORDS VALUES_FILE VALUE_SIZE CODEC LINGER_MS BATCH_BYTES");
            System.exit(2);
        }
    }

    private static Properties settings(String bootstrap, Map<String, Object> settings) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        for (Map.Entry<String, Object> e : settings.entrySet()) {
            System.out.println("SETTING " + e.getKey() + "=" + e.getValue());
            props.put(e.getKey(), e.getValue().toString());
        }
        return props;
    }

    private static void jvm() {
        System.out.println("SETTING client=kafka-clients " + AppInfoParser.getVersion() + " on Java "
                + System.getProperty("java.version"));
        System.out.println("SETTING jvm=" + String.join(" ",
                java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()));
    }

    static void consume(String bootstrap, String topic, int partitions, long records) {
        jvm();
        System.out.println("SETTING api=KafkaConsumer, assign + seekToBeginning (no group), poll");
        Map<String, Object> s = new TreeMap<>();
        s.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        s.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        s.put("enable.auto.commit", false);
        s.put("auto.offset.reset", "earliest");
        s.put("check.crcs", true);
        s.put("fetch.max.bytes", 50 << 20);
        s.put("max.partition.fetch.bytes", 1 << 20);
        s.put("fetch.max.wait.ms", 500);
        s.put("fetch.min.bytes", 1);
        s.put("max.poll.records", 10000);
        s.put("receive.buffer.bytes", 65536);
        s.put("isolation.level", "read_uncommitted");
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(settings(bootstrap, s))) {
            List<TopicPartition> assigned = new ArrayList<>();
            for (int p = 0; p < partitions; p++) {
                assigned.add(new TopicPartition(topic, p));
            }
            consumer.assign(assigned);
            consumer.seekToBeginning(assigned);
            long started = 0;
            long read = 0;
            long bytes = 0;
            long checksum = 0;
            while (read < records) {
                ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofSeconds(1));
                for (ConsumerRecord<byte[], byte[]> record : batch) {
                    if (read == 0) {
                        started = System.nanoTime();
                    }
                    byte[] value = record.value();
                    if (value != null && value.length > 0) {
                        checksum += value[value.length - 1] & 0xff;
                        bytes += value.length;
                    }
                    read++;
                }
            }
            long elapsed = System.nanoTime() - started;
            System.err.println("checksum " + checksum);
            System.out.println("RESULT records=" + read + " bytes=" + bytes + " elapsed_ns=" + elapsed);
        }
    }

    static void produce(String bootstrap, String topic, long records, String valuesFile, int valueSize,
            String codec, int lingerMs, int batchBytes) throws Exception {
        byte[] data = Files.readAllBytes(Path.of(valuesFile));
        List<byte[]> values = new ArrayList<>();
        for (int off = 0; off + valueSize <= data.length; off += valueSize) {
            byte[] v = new byte[valueSize];
            System.arraycopy(data, off, v, 0, valueSize);
            values.add(v);
        }
        if (values.isEmpty()) {
            throw new IllegalArgumentException(valuesFile + " holds no value of " + valueSize + " bytes");
        }
        jvm();
        System.out.println("SETTING api=KafkaProducer.send with a callback, flush");
        Map<String, Object> s = new TreeMap<>();
        s.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
        s.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
        s.put("acks", "all");
        s.put("enable.idempotence", true);
        s.put("compression.type", codec);
        s.put("linger.ms", lingerMs);
        s.put("batch.size", batchBytes);
        s.put("buffer.memory", 32L << 20);
        s.put("max.in.flight.requests.per.connection", 5);
        System.out.println("SETTING partitioner=built-in (default; unkeyed records: sticky by bytes)");
        AtomicLong failed = new AtomicLong();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(settings(bootstrap, s))) {
            // Warm up: metadata, producer id, connections.
            producer.send(new ProducerRecord<>(topic, values.get(0))).get();
            long started = System.nanoTime();
            long bytes = 0;
            for (long i = 0; i < records; i++) {
                byte[] v = values.get((int) (i % values.size()));
                bytes += v.length;
                producer.send(new ProducerRecord<>(topic, v), (metadata, e) -> {
                    if (e != null) {
                        failed.incrementAndGet();
                    }
                });
            }
            producer.flush();
            long elapsed = System.nanoTime() - started;
            if (failed.get() > 0) {
                System.err.println(failed.get() + " records failed");
                System.exit(1);
            }
            System.out.println("RESULT records=" + records + " bytes=" + bytes + " elapsed_ns=" + elapsed);
        }
    }
}
