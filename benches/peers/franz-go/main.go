// A franz-go peer for `cargo xtask bench peers`: consumes a topic from the
// earliest offset, or produces records, and prints what it measured.
//
//	franz-go-peer consume BOOTSTRAP TOPIC PARTITIONS RECORDS
//	franz-go-peer produce BOOTSTRAP TOPIC RECORDS VALUES_FILE VALUE_SIZE CODEC LINGER_MS BATCH_BYTES
//
// It prints `SETTING key=value` lines, then one `RESULT records=N bytes=B
// elapsed_ns=T` line: consume from the first record to the last, produce
// from the first send to the last acknowledgement (after one warm-up record).
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "franz-go-peer: "+format+"\n", args...)
	os.Exit(1)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fail("%q is not a number", s)
	}
	return n
}

func setting(key string, value any) {
	fmt.Printf("SETTING %s=%v\n", key, value)
}

func version() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/twmb/franz-go" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println(version())
		return
	}
	if len(os.Args) < 2 {
		fail("usage: consume|produce|version ...")
	}
	switch os.Args[1] {
	case "consume":
		if len(os.Args) != 6 {
			fail("usage: consume BOOTSTRAP TOPIC PARTITIONS RECORDS")
		}
		consume(os.Args[2], os.Args[3], atoi(os.Args[4]), atoi(os.Args[5]))
	case "produce":
		if len(os.Args) != 10 {
			fail("usage: produce BOOTSTRAP TOPIC RECORDS VALUES_FILE VALUE_SIZE CODEC LINGER_MS BATCH_BYTES")
		}
		produce(os.Args[2], os.Args[3], atoi(os.Args[4]), os.Args[5], atoi(os.Args[6]), os.Args[7], atoi(os.Args[8]), atoi(os.Args[9]))
	default:
		fail("unknown mode %q", os.Args[1])
	}
}

func consume(bootstrap, topic string, partitions, records int) {
	offsets := make(map[int32]kgo.Offset, partitions)
	for p := 0; p < partitions; p++ {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	const fetchMaxBytes = 50 << 20
	const partitionBytes = 1 << 20
	const maxWait = 500 * time.Millisecond
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxBytes(fetchMaxBytes),
		kgo.FetchMaxPartitionBytes(partitionBytes),
		kgo.FetchMaxWait(maxWait),
		kgo.FetchMinBytes(1),
	)
	if err != nil {
		fail("client: %v", err)
	}
	defer cl.Close()
	setting("client", "franz-go "+version())
	setting("api", "kgo.Client, ConsumePartitions (assigned, no group), PollFetches, EachRecord")
	setting("fetch.max.bytes", fetchMaxBytes)
	setting("max.partition.fetch.bytes", partitionBytes)
	setting("fetch.max.wait.ms", maxWait.Milliseconds())
	setting("fetch.min.bytes", 1)
	setting("crc", "always checked (franz-go validates every batch CRC; no switch)")
	setting("isolation", "read_uncommitted")

	ctx := context.Background()
	var start time.Time
	read, bytes, sum := 0, 0, 0
	for read < records {
		fetches := cl.PollFetches(ctx)
		fetches.EachError(func(t string, p int32, err error) {
			fail("fetch %s[%d]: %v", t, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if read == 0 {
				start = time.Now()
			}
			if n := len(r.Value); n > 0 {
				sum += int(r.Value[n-1])
			}
			bytes += len(r.Value)
			read++
		})
	}
	elapsed := time.Since(start)
	fmt.Fprintf(os.Stderr, "checksum %d\n", sum)
	fmt.Printf("RESULT records=%d bytes=%d elapsed_ns=%d\n", read, bytes, elapsed.Nanoseconds())
}

func produce(bootstrap, topic string, records int, valuesFile string, valueSize int, codec string, lingerMs, batchBytes int) {
	data, err := os.ReadFile(valuesFile)
	if err != nil {
		fail("reading %s: %v", valuesFile, err)
	}
	var values [][]byte
	for off := 0; off+valueSize <= len(data); off += valueSize {
		values = append(values, data[off:off+valueSize])
	}
	if len(values) == 0 {
		fail("%s holds no value of %d bytes", valuesFile, valueSize)
	}
	var compression kgo.CompressionCodec
	switch codec {
	case "none":
		compression = kgo.NoCompression()
	case "lz4":
		compression = kgo.Lz4Compression()
	case "zstd":
		compression = kgo.ZstdCompression()
	default:
		fail("unknown codec %q", codec)
	}
	linger := time.Duration(lingerMs) * time.Millisecond
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(compression),
		kgo.ProducerLinger(linger),
		kgo.ProducerBatchMaxBytes(int32(batchBytes)),
	)
	if err != nil {
		fail("client: %v", err)
	}
	defer cl.Close()
	setting("client", "franz-go "+version())
	setting("api", "kgo.Client.Produce with a callback, Flush")
	setting("acks", "all")
	setting("enable.idempotence", "true (franz-go default)")
	setting("compression", codec)
	setting("linger.ms", lingerMs)
	setting("batch.max.bytes", batchBytes)
	setting("max.buffered.records", "50000 (default)")
	setting("partitioner", "UniformBytesPartitioner (default; sticky, no keys)")

	ctx := context.Background()
	// Warm up: metadata, producer id, connections.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: values[0]}).FirstErr(); err != nil {
		fail("warm-up record: %v", err)
	}
	var failed atomic.Int64
	callback := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	start := time.Now()
	bytes := 0
	for i := 0; i < records; i++ {
		v := values[i%len(values)]
		bytes += len(v)
		cl.Produce(ctx, &kgo.Record{Value: v}, callback)
	}
	if err := cl.Flush(ctx); err != nil {
		fail("flush: %v", err)
	}
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		fail("%d records failed", n)
	}
	fmt.Printf("RESULT records=%d bytes=%d elapsed_ns=%d\n", records, bytes, elapsed.Nanoseconds())
}
