// A development check of chaos-member against a real cluster (it needs
// VLTAVA_BOOTSTRAP, e.g. from `cargo xtask cluster up`, and fails without it):
//
//	VLTAVA_BOOTSTRAP=127.0.0.1:9092 go test -v .
//
// For each protocol: 3 members consume a 6-partition topic; once the
// assignment is balanced one member is killed with SIGKILL, more records are
// produced, and the other two must take the dead member's partitions and
// consume everything. The two are then closed (a "close" line, and EOF on
// stdin or SIGTERM) and must commit every partition up to its end, print X
// and exit 0. Every output line must be well formed, and each R line must
// name the partition and offset its value was produced at.
package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const partitions = 6

// lineRe is the output format of README.md.
var lineRe = regexp.MustCompile(`^(\d{13}) (?:` +
	`R (\d+) (\d+) (\S*)` +
	`|C (\d+) (\d+)` +
	`|J (-?\d+) (\S+)` +
	`|([AVL]) (-|\d+(?:,\d+)*)` +
	`|E ([01]) (.*)` +
	`|X)$`)

type member struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan struct{} // closed when stdout reaches EOF
	exited chan error
}

// state is what every member printed; each line is checked as it arrives,
// the R lines again at the end, against what was produced.
type state struct {
	mu       sync.Mutex
	t        *testing.T
	produced map[string][2]int64          // value -> partition, offset
	seen     map[string]bool              // values in R lines
	rs       []string                     // R lines, "member line", checked at the end
	owner    map[string]map[int32]bool    // member -> partitions it owns
	commits  map[string]map[int32][]int64 // member -> partition -> C offsets in order
	last     map[string]string            // member -> its last line
}

func (s *state) line(name, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := lineRe.FindStringSubmatch(text)
	if m == nil {
		s.t.Errorf("%s: malformed line %q", name, text)
		return
	}
	if ts, _ := strconv.ParseInt(m[1], 10, 64); time.Since(time.UnixMilli(ts)).Abs() > time.Minute {
		s.t.Errorf("%s: timestamp far from now: %q", name, text)
	}
	s.last[name] = text
	switch {
	case m[2] != "":
		p, _ := strconv.ParseInt(m[2], 10, 32)
		s.rs = append(s.rs, name+" "+text)
		if !s.owner[name][int32(p)] {
			s.t.Errorf("%s: %q: record of a partition the member does not own", name, text)
		}
		s.seen[m[4]] = true
	case m[5] != "":
		p, _ := strconv.ParseInt(m[5], 10, 32)
		o, _ := strconv.ParseInt(m[6], 10, 64)
		s.commits[name][int32(p)] = append(s.commits[name][int32(p)], o)
	case m[9] != "":
		if m[10] == "-" {
			break
		}
		for _, f := range strings.Split(m[10], ",") {
			p, _ := strconv.ParseInt(f, 10, 32)
			s.owner[name][int32(p)] = m[9] == "A"
		}
	}
	if m[2] == "" && testing.Verbose() {
		s.t.Logf("%s: %s", name, text)
	}
}

// until polls cond under the lock for at most limit.
func (s *state) until(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("after %v, still not: %s (owners %v)", limit, what, s.owner)
		}
	}
}

func (s *state) owned(name string) []int32 {
	var ps []int32
	for p, ok := range s.owner[name] {
		if ok {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

func bootstrap(t *testing.T) string {
	b := os.Getenv("VLTAVA_BOOTSTRAP")
	if b == "" {
		t.Fatal("VLTAVA_BOOTSTRAP is not set: start a cluster (cargo xtask cluster up) and export its bootstrap")
	}
	return b
}

func TestMembers(t *testing.T) {
	brokers := bootstrap(t)
	bin := filepath.Join(t.TempDir(), "chaos-member")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for i, protocol := range []string{"cooperative-sticky", "range", "consumer"} {
		t.Run(protocol, func(t *testing.T) {
			// Alternate how the last member is told to stop.
			runScenario(t, bin, brokers, protocol, []string{"eof", "sigterm"}[i%2])
		})
	}
}

func runScenario(t *testing.T, bin, brokers, protocol, lastStop string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic, group := "chaos-fg-"+protocol+"-"+suffix, "chaos-fg-"+protocol+"-"+suffix

	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	createTopic(ctx, t, cl, topic)

	s := &state{t: t, produced: map[string][2]int64{}, seen: map[string]bool{},
		owner: map[string]map[int32]bool{}, commits: map[string]map[int32][]int64{}, last: map[string]string{}}
	ends := make([]int64, partitions) // end offset of each partition
	produce := func(from, to int) {
		for v := from; v < to; v++ {
			r, err := cl.ProduceSync(ctx, kgo.StringRecord(strconv.Itoa(v))).First()
			if err != nil {
				t.Fatalf("produce: %v", err)
			}
			s.mu.Lock()
			s.produced[string(r.Value)] = [2]int64{int64(r.Partition), r.Offset}
			ends[r.Partition] = max(ends[r.Partition], r.Offset+1)
			s.mu.Unlock()
		}
	}
	// A member may print a record before ProduceSync returns: compare counts.
	allSeen := func() bool { return len(s.seen) == len(s.produced) && len(s.seen) > 0 }

	produce(0, 600)
	names := []string{"m1", "m2", "m3"}
	members := map[string]*member{}
	for _, name := range names {
		members[name] = start(t, s, bin, name, "--brokers", brokers, "--topic", topic, "--group", group,
			"--protocol", protocol, "--name", name)
	}
	defer func() { // whatever happened, no member outlives the test
		for _, m := range members {
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	}()

	s.until(t, 60*time.Second, "all records consumed, 2 partitions per member", func() bool {
		return allSeen() && len(s.owned("m1")) == 2 && len(s.owned("m2")) == 2 && len(s.owned("m3")) == 2
	})

	victim := s.ownedLocked("m1")
	if err := members["m1"].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-members["m1"].done
	t.Logf("killed m1, owner of %v", victim)
	produce(600, 1200)

	s.until(t, 60*time.Second, "m2 and m3 own every partition and consumed every record", func() bool {
		return allSeen() && len(s.owned("m2"))+len(s.owned("m3")) == partitions
	})

	// Stop m2 with a "close" line, m3 with EOF or SIGTERM.
	if _, err := io.WriteString(members["m2"].stdin, "close\n"); err != nil {
		t.Fatal(err)
	}
	if lastStop == "sigterm" {
		err = members["m3"].cmd.Process.Signal(syscall.SIGTERM)
	} else {
		err = members["m3"].stdin.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"m2", "m3"} {
		select {
		case err := <-members[name].exited:
			if err != nil {
				t.Errorf("%s exited with %v", name, err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("%s did not exit within 60s of being told to", name)
		}
		members[name].exited = closedErr()
	}
	<-members["m1"].exited
	members["m1"].exited = closedErr()

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range []string{"m2", "m3"} {
		if !strings.HasSuffix(s.last[name], " X") {
			t.Errorf("%s: last line %q, not X", name, s.last[name])
		}
	}
	for _, r := range s.rs {
		f := strings.Fields(r) // member, ms, R, partition, offset, value
		p, _ := strconv.ParseInt(f[3], 10, 64)
		o, _ := strconv.ParseInt(f[4], 10, 64)
		if at, ok := s.produced[f[5]]; !ok || at != [2]int64{p, o} {
			t.Errorf("%s: value produced at %v (known: %v)", r, at, ok)
		}
	}
	committed := make([]int64, partitions)
	for name, byPartition := range s.commits {
		for p, offsets := range byPartition {
			if !slices.IsSorted(offsets) {
				t.Errorf("%s: commits of partition %d go back: %v", name, p, offsets)
			}
			committed[p] = max(committed[p], slices.Max(offsets))
		}
	}
	if !slices.Equal(committed, ends) {
		t.Errorf("highest commit per partition %v, end offsets %v", committed, ends)
	}
	if !t.Failed() {
		t.Logf("consumed %d records; commits reached the end offsets %v", len(s.seen), ends)
	}
}

func (s *state) ownedLocked(name string) []int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owned(name)
}

func closedErr() chan error {
	c := make(chan error, 1)
	c <- nil
	return c
}

func start(t *testing.T, s *state, bin, name string, args ...string) *member {
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(t.TempDir(), name+".stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.owner[name] = map[int32]bool{}
	s.commits[name] = map[int32][]int64{}
	s.mu.Unlock()
	m := &member{cmd: cmd, stdin: stdin, done: make(chan struct{}), exited: make(chan error, 1)}
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			s.line(name, lines.Text())
		}
		close(m.done)
		m.exited <- cmd.Wait()
	}()
	return m
}

func createTopic(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, -1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Logf("created topic %s", topic)
}
