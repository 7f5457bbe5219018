//! A cluster of its own, started, faulted and taken down by the test.

use vltava_testkit::{Cluster, ClusterConfig, NodeState};

fn states(cluster: &Cluster) -> Vec<NodeState> {
    cluster.status().iter().map(|n| n.state).collect()
}

/// Which running nodes answer metadata right now.
fn serving(cluster: &Cluster) -> Vec<u32> {
    cluster
        .status()
        .iter()
        .filter(|n| n.serves_metadata)
        .map(|n| n.id)
        .collect()
}

#[test]
fn three_nodes_survive_kill_restart_pause_and_a_second_handle() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("testkit-lifecycle");
    if let Ok(old) = Cluster::attach(&dir) {
        old.down().unwrap();
    }
    let cluster = Cluster::start(ClusterConfig::new(&dir)).unwrap();
    let guard = Down(&cluster);

    assert_eq!(states(&cluster), [NodeState::Running; 3]);
    assert_eq!(serving(&cluster), [1, 2, 3]);

    // kill -9 one node: it is down, the other two still serve metadata.
    cluster.kill(2).unwrap();
    assert_eq!(
        states(&cluster),
        [NodeState::Running, NodeState::Stopped, NodeState::Running]
    );
    assert_eq!(serving(&cluster), [1, 3]);
    assert!(cluster.metadata().is_ok());

    // Restart it: all three serve, and each sees all three registered.
    cluster.start_node(2).unwrap();
    cluster.wait_ready().unwrap();
    assert_eq!(serving(&cluster), [1, 2, 3]);
    let mut ids: Vec<i32> = cluster
        .metadata()
        .unwrap()
        .brokers
        .iter()
        .map(|b| b.node_id)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3]);

    // Pause one: the process is there but answers nothing; resume: it serves again.
    cluster.pause(3).unwrap();
    assert_eq!(cluster.status()[2].state, NodeState::Paused);
    assert_eq!(serving(&cluster), [1, 2]);
    cluster.resume(3).unwrap();
    assert_eq!(cluster.status()[2].state, NodeState::Running);
    cluster.wait_ready().unwrap();
    assert_eq!(serving(&cluster), [1, 2, 3]);

    // A second handle attaches through the pid files and drives the same processes.
    let second = Cluster::attach(&dir).unwrap();
    let pids = |c: &Cluster| c.status().iter().map(|n| n.pid).collect::<Vec<_>>();
    assert_eq!(pids(&second), pids(&cluster));
    assert!(pids(&second).iter().all(Option::is_some));
    second.stop(1).unwrap();
    assert_eq!(cluster.status()[0].state, NodeState::Stopped);
    cluster.restart(1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.status()[0].state, NodeState::Running);

    // A stale pid file (here: a pid that belongs to another program, this test)
    // is recognised and removed, and the node counts as stopped.
    cluster.kill(3).unwrap();
    let pid_file = dir.join("node-3").join("pid");
    std::fs::write(&pid_file, format!("{}\n", std::process::id())).unwrap();
    assert_eq!(cluster.status()[2].state, NodeState::Stopped);
    assert!(!pid_file.exists(), "the stale pid file is removed");
    cluster.start_node(3).unwrap();

    // down ends every node and leaves no process behind.
    let before = pids(&cluster);
    drop(guard);
    assert_eq!(states(&cluster), [NodeState::Stopped; 3]);
    for pid in before.into_iter().flatten() {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z"));
        assert!(!alive, "pid {pid} is still alive after down");
    }
}

/// Takes the cluster down even when an assertion fails.
struct Down<'a>(&'a Cluster);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.down() {
            eprintln!("could not take the test cluster down: {e}");
        }
    }
}
