// chaos-member: one franz-go consumer group member for the vltava-chaos
// reliability suite. It consumes one topic at least once and prints one line
// per event on stdout (see README.md for the format), until stdin reaches EOF,
// a line "close" arrives on stdin, or SIGTERM; then it commits what it
// processed, leaves the group, prints X and exits 0.
//
// Committing follows franz-go's documented at-least-once pattern for an
// application that commits only what it has processed (the "marks" style of
// franz-go's examples/group_committing, and docs/producing-and-consuming.md):
//
//   - BlockRebalanceOnPoll: no rebalance (and so no revoke) can happen between
//     a poll and AllowRebalance, which we call once every record of the poll is
//     processed and marked.
//   - AutoCommitMarks + MarkCommitRecords: the autocommit loop commits only
//     marked offsets, and a record is marked after its R line is written, so a
//     commit never covers a record that was not processed.
//   - OnPartitionsRevoked commits the marked offsets synchronously before the
//     partitions go; OnPartitionsLost commits nothing (the partitions may
//     already belong to another member).
//   - Before closing, one synchronous commit of the marked offsets, then
//     CloseAllowingRebalance, which leaves the group.
//
// franz-go retries broker and group errors by itself; this program never
// exits because of one, it prints it as an E line and keeps polling.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// outMu keeps the lines of the callbacks and of the poll loop whole.
var outMu sync.Mutex

// emit writes one event line, prefixed with the Unix time in milliseconds.
// os.Stdout is unbuffered: every line is one write, seen by the reader at once.
func emit(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	line := strconv.FormatInt(time.Now().UnixMilli(), 10) + " " + fmt.Sprintf(format, args...) + "\n"
	if _, err := os.Stdout.WriteString(line); err != nil {
		fmt.Fprintf(os.Stderr, "chaos-member: writing stdout: %v\n", err)
		os.Exit(1)
	}
}

// emitErr prints an E line, fatal (1) or not (0), with the error on one line.
func emitErr(fatal bool, where string, err error) {
	f := 0
	if fatal {
		f = 1
	}
	emit("E %d %s", f, strings.Join(strings.Fields(where+": "+err.Error()), " "))
}

// fatalPollError tells whether an error from a poll is fatal: the client is
// closed, or a partition has a Kafka error that franz-go does not retry.
// Group-session errors (franz-go rejoins) and data-loss notices (franz-go
// resets the offset) are not, even when they wrap a non-retriable code.
func fatalPollError(err error) bool {
	var ke *kerr.Error
	var gs *kgo.ErrGroupSession
	var dl *kgo.ErrDataLoss
	switch {
	case errors.Is(err, kgo.ErrClientClosed):
		return true
	case errors.As(err, &gs), errors.As(err, &dl):
		return false
	default:
		return errors.As(err, &ke) && !ke.Retriable
	}
}

// closing is set once the member is told to stop: the commits franz-go
// cancels while leaving the group are then not reported.
var closing atomic.Bool

// partitionList is the sorted, comma-separated partitions of topic in m, or "-".
func partitionList(m map[string][]int32, topic string) string {
	ps := slices.Clone(m[topic])
	if len(ps) == 0 {
		return "-"
	}
	slices.Sort(ps)
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// onCommit prints a C line per committed partition and an E line per error;
// it is the callback of every commit, automatic or not.
func onCommit(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err != nil {
		if !(closing.Load() && errors.Is(err, context.Canceled)) {
			emitErr(errors.Is(err, kgo.ErrClientClosed), "commit", err)
		}
		return
	}
	sent := make(map[string]map[int32]int64)
	for _, t := range req.Topics {
		sent[t.Topic] = make(map[int32]int64)
		for _, p := range t.Partitions {
			sent[t.Topic][p.Partition] = p.Offset
		}
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil {
				// A failed commit is retried by the next one, or the
				// partition's next owner re-reads from the last commit.
				emitErr(false, fmt.Sprintf("commit %s %d", t.Topic, p.Partition), perr)
				continue
			}
			emit("C %d %d", p.Partition, sent[t.Topic][p.Partition])
		}
	}
}

// commitMarked synchronously commits every processed and not yet committed
// offset.
func commitMarked(ctx context.Context, cl *kgo.Client) {
	if marked := cl.MarkedOffsets(); len(marked) > 0 {
		cl.CommitOffsetsSync(ctx, marked, onCommit)
	}
}

// fallbackHook notices a JoinGroup request, which a client asked for the
// KIP-848 protocol sends only after falling back to the classic protocol
// because the broker does not serve ConsumerGroupHeartbeat v1.
type fallbackHook struct{}

func (fallbackHook) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, _ error) {
	if key == int16(kmsg.JoinGroup) {
		fmt.Fprintln(os.Stderr, "unsupported: the broker does not serve the KIP-848 consumer protocol (franz-go fell back to the classic protocol)")
		os.Exit(3)
	}
}

func usage(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "chaos-member: "+format+"\n", args...)
	flag.Usage()
	os.Exit(2)
}

func main() {
	brokers := flag.String("brokers", "", "comma-separated bootstrap brokers (required)")
	topic := flag.String("topic", "", "topic to consume (required)")
	group := flag.String("group", "", "consumer group (required)")
	protocol := flag.String("protocol", "cooperative-sticky", "cooperative-sticky, range, or consumer (KIP-848)")
	sessionMs := flag.Int("session-timeout-ms", 10000, "session timeout (classic protocols; KIP-848 takes it from the broker)")
	heartbeatMs := flag.Int("heartbeat-ms", 1000, "heartbeat interval (classic protocols; KIP-848 takes it from the broker)")
	rebalanceMs := flag.Int("rebalance-timeout-ms", 0, "rebalance timeout (0: franz-go's default, 60000)")
	autoCommitMs := flag.Int("auto-commit-ms", 1000, "autocommit interval of the marked offsets")
	name := flag.String("name", "member", "name of this member, for the client ID and stderr logs")
	flag.Parse()

	if flag.NArg() > 0 {
		usage("unexpected argument %q", flag.Arg(0))
	}
	if *brokers == "" || *topic == "" || *group == "" {
		usage("--brokers, --topic and --group are required")
	}
	for flagName, v := range map[string]int{"session-timeout-ms": *sessionMs, "heartbeat-ms": *heartbeatMs, "auto-commit-ms": *autoCommitMs} {
		if v <= 0 {
			usage("--%s must be positive", flagName)
		}
	}
	if *rebalanceMs < 0 {
		usage("--rebalance-timeout-ms must not be negative")
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }

	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ClientID("chaos-member-" + *name),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelWarn, func() string {
			return time.Now().Format("15:04:05.000 ") + *name + " "
		})),
		kgo.ConsumeTopics(*topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ConsumerGroup(*group),
		kgo.SessionTimeout(ms(*sessionMs)),
		kgo.HeartbeatInterval(ms(*heartbeatMs)),
		kgo.AutoCommitInterval(ms(*autoCommitMs)),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitCallback(onCommit),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
			member, generation := cl.GroupMetadata()
			emit("J %d %s", generation, member)
			emit("A %s", partitionList(assigned, *topic))
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
			emit("V %s", partitionList(revoked, *topic))
			commitMarked(ctx, cl)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			emit("L %s", partitionList(lost, *topic))
		}),
	}
	if *rebalanceMs > 0 {
		opts = append(opts, kgo.RebalanceTimeout(ms(*rebalanceMs)))
	}
	switch *protocol {
	case "cooperative-sticky":
		opts = append(opts, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	case "range":
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()))
	case "consumer":
		// KIP-848 since franz-go v1.20: ServerSideBalancer with a sticky
		// balancer asks the broker's "uniform" assignor, Java's default.
		opts = append(opts,
			kgo.Balancers(kgo.CooperativeStickyBalancer()),
			kgo.ServerSideBalancer(),
			kgo.WithHooks(fallbackHook{}),
		)
	default:
		usage("--protocol must be cooperative-sticky, range or consumer, not %q", *protocol)
	}

	cl, err := kgo.NewClient(opts...)
	if err != nil {
		usage("%v", err)
	}

	// Stop polling at EOF or "close" on stdin, or at SIGTERM / SIGINT.
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		lines := bufio.NewScanner(os.Stdin)
		for lines.Scan() {
			if strings.TrimSpace(lines.Text()) == "close" {
				break
			}
		}
		stop()
	}()
	go func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
		<-signals
		stop()
	}()

	for ctx.Err() == nil {
		fetches := cl.PollRecords(ctx, 1000)
		for _, e := range fetches.Errors() {
			if errors.Is(e.Err, context.Canceled) && ctx.Err() != nil {
				continue // our own stop
			}
			where := "fetch " + e.Topic + " " + strconv.Itoa(int(e.Partition))
			if e.Topic == "" { // an error injected by franz-go, not a partition's
				where = "poll"
			}
			emitErr(fatalPollError(e.Err), where, e.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			emit("R %d %d %s", r.Partition, r.Offset, r.Value)
			cl.MarkCommitRecords(r)
		})
		cl.AllowRebalance()
	}

	closing.Store(true)
	commitMarked(cl.Context(), cl)
	cl.CloseAllowingRebalance()
	emit("X")
}
