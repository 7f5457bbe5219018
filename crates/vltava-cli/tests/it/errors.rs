//! Errors: a bad broker address, a bad or unknown topic, bad flags, bad
//! config files and bad credentials each give one clear line and the exit
//! code `--help` documents; nothing is printed as a panic or a debug dump.

use std::time::{Duration, Instant};

use vltava_testkit::{Listener, SASL_PASSWORD, SASL_USERNAME};

use crate::{bare, run, shared_cluster, unique, vltava};

#[test]
fn a_bad_broker_address_fails_fast_and_names_the_brokers() {
    let started = Instant::now();
    let run1 = run(
        bare().args(["--brokers", "127.0.0.1:1", "topics", "list"]),
        b"",
    )
    .fails_with(3);
    assert!(run1.stderr.contains("127.0.0.1:1"), "{}", run1.stderr);
    assert!(run1.stderr.contains("--brokers"), "{}", run1.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let run2 = run(
        bare().args(["-b", "no-such-host.invalid:9092", "cluster"]),
        b"",
    )
    .fails_with(3);
    assert!(
        run2.stderr.contains("no-such-host.invalid"),
        "{}",
        run2.stderr
    );
    // From the environment, the line says so.
    let run3 = run(
        bare().env("VLTAVA_BROKERS", "127.0.0.1:1").arg("cluster"),
        b"",
    )
    .fails_with(3);
    assert!(run3.stderr.contains("VLTAVA_BROKERS"), "{}", run3.stderr);
    let run4 = run(bare().args(["-b", "not-an-address", "cluster"]), b"").fails_with(2);
    assert!(run4.stderr.contains("host:port"), "{}", run4.stderr);
    let none = run(bare().arg("cluster"), b"").fails_with(2);
    assert!(none.stderr.contains("no brokers given"), "{}", none.stderr);
}

#[test]
fn bad_and_unknown_topics_are_named() {
    let cluster = shared_cluster();
    let bad = run(vltava(&cluster).args(["consume", "-t", "no spaces!"]), b"").fails_with(2);
    assert!(
        bad.stderr.contains("not a valid topic name"),
        "{}",
        bad.stderr
    );
    let missing = unique("cli-missing");
    let consume = run(vltava(&cluster).args(["consume", "-t", &missing]), b"").fails_with(1);
    assert!(
        consume
            .stderr
            .contains(&format!("topic `{missing}` does not exist")),
        "{}",
        consume.stderr
    );
    let produce = run(vltava(&cluster).args(["produce", "-t", &missing]), b"x\n").fails_with(1);
    assert!(
        produce.stderr.contains("does not exist"),
        "{}",
        produce.stderr
    );
    let describe = run(vltava(&cluster).args(["topics", "describe", &missing]), b"").fails_with(1);
    assert!(
        describe.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        describe.stderr
    );
}

#[test]
fn bad_flags_are_one_line_and_exit_2() {
    let cluster = shared_cluster();
    let cases: &[(&[&str], &str)] = &[
        (&["consume"], "--topic"),
        (&["consume", "-t", "x", "--bogus"], "--bogus"),
        (&["produce", "-t", "x", "--acks", "2"], "possible values"),
        (&["produce", "-t", "x", "-z", "brotli"], "possible values"),
        (&["consume", "-t", "x", "--from", "yesterday"], "--from"),
        (&["consume", "-t", "x", "-f", "%q"], "%q"),
        (
            &["consume", "-t", "x", "-g", "g", "--from", "5"],
            "earliest or latest",
        ),
        (&["--timeout", "soon", "cluster"], "duration"),
        (&["topics", "create", "x", "-p", "0"], "--partitions"),
        (&["topics", "alter-config", "x"], "no change"),
        (&["produce", "-t", "x", "-H", "novalue"], "KEY=VALUE"),
        (&["topic", "list"], "topics"),
    ];
    for (args, says) in cases {
        let failed = run(vltava(&cluster).args(*args), b"").fails_with(2);
        assert!(failed.stderr.contains(says), "{args:?}: {}", failed.stderr);
    }
    // Help and version are not errors.
    let help = run(bare().arg("--help"), b"").ok();
    assert!(help.stdout.contains("Exit codes:"), "{}", help.stdout);
    run(bare().args(["consume", "--help"]), b"").ok();
    run(bare().arg("--version"), b"").ok();
}

#[test]
fn config_files_are_read_and_their_mistakes_named() {
    let cluster = shared_cluster();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let good = dir.join("vltava-cli-good.conf");
    std::fs::write(
        &good,
        format!(
            "# test\nbootstrap.servers={}\nclient.id=from-file\n",
            cluster.bootstrap()
        ),
    )
    .unwrap();
    run(bare().arg("--config-file").arg(&good).arg("cluster"), b"").ok();
    run(bare().env("VLTAVA_CONFIG", &good).arg("cluster"), b"").ok();
    let bad = dir.join("vltava-cli-bad.conf");
    std::fs::write(
        &bad,
        "bootstrap.servers=127.0.0.1:1\nssl.keystore.location=x\n",
    )
    .unwrap();
    let failed = run(bare().arg("--config-file").arg(&bad).arg("cluster"), b"").fails_with(2);
    assert!(failed.stderr.contains("line 2"), "{}", failed.stderr);
    let absent = run(
        bare().args(["--config-file", "/nonexistent/vltava.conf", "cluster"]),
        b"",
    )
    .fails_with(2);
    assert!(
        absent.stderr.contains("/nonexistent/vltava.conf"),
        "{}",
        absent.stderr
    );
}

#[test]
fn sasl_and_tls_work_and_bad_credentials_exit_4() {
    let cluster = shared_cluster();
    let sasl = cluster.bootstrap_for(Listener::SaslPlaintext).unwrap();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let ok = run(
            bare()
                .args([
                    "-b",
                    &sasl,
                    "--sasl-mechanism",
                    mechanism,
                    "--sasl-username",
                    SASL_USERNAME,
                ])
                .env("VLTAVA_SASL_PASSWORD", SASL_PASSWORD)
                .arg("cluster"),
            b"",
        )
        .ok();
        assert!(
            ok.stdout.contains("cluster id"),
            "{mechanism}: {}",
            ok.stdout
        );
    }
    let wrong = run(
        bare().args([
            "-b",
            &sasl,
            "--sasl-mechanism",
            "SCRAM-SHA-256",
            "--sasl-username",
            SASL_USERNAME,
            "--sasl-password",
            "wrong",
            "cluster",
        ]),
        b"",
    )
    .fails_with(4);
    assert!(wrong.stderr.contains("SASL"), "{}", wrong.stderr);
    assert!(
        !wrong.stderr.contains(SASL_PASSWORD),
        "a password in an error"
    );

    let tls = cluster.bootstrap_for(Listener::Ssl).unwrap();
    let ok = run(
        bare()
            .args(["-b", &tls, "--tls-ca"])
            .arg(cluster.ca_pem_path())
            .arg("cluster"),
        b"",
    )
    .ok();
    assert!(ok.stdout.contains("cluster id"), "{}", ok.stdout);
    let untrusted =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vltava-cli-untrusted.pem");
    std::fs::write(
        &untrusted,
        vltava_testkit::security::untrusted_ca_pem().unwrap(),
    )
    .unwrap();
    let refused = run(
        bare()
            .args(["-b", &tls, "--tls-ca"])
            .arg(&untrusted)
            .arg("cluster"),
        b"",
    )
    .fails_with(4);
    assert!(refused.stderr.contains("TLS"), "{}", refused.stderr);
}

#[test]
fn a_closed_pipe_ends_consume_quietly() {
    let cluster = shared_cluster();
    let topic = unique("cli-pipe");
    crate::create_topic(&cluster, &topic, 1, 1);
    // More than a pipe holds, so that consume is still writing when the reader goes.
    run(
        vltava(&cluster).args(["produce", "-t", &topic, "--count", "20000", "--size", "100"]),
        b"",
    )
    .ok();
    let mut child = vltava(&cluster)
        .args(["consume", "-t", &topic])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert_eq!(
        first.trim_end().len(),
        100,
        "a record of 100 bytes: {first}"
    );
    // The reader is gone (like `vltava consume | head -1`).
    let ended = crate::wait_output(child, Duration::from_secs(30));
    assert_eq!(ended.code, 0, "{}", ended.stderr);
    assert_eq!(ended.stderr, "", "nothing to say about a closed pipe");
}
