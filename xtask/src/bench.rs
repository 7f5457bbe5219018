//! `cargo xtask bench`: the criterion benchmarks of the hot paths.

use crate::flags::Flags;

pub(crate) const HELP: &str = "\
cargo xtask bench [--quick] [FILTER]
cargo xtask bench peers [OPTIONS]    (see `cargo xtask bench peers --help`)

Runs the criterion benchmarks in benches/: the fetch path per codec
(fetch_decode, and its parts alone: fetch_response_decode, batch_walk,
decompress, record_iteration), the bare decompressors on the same bytes,
the consumer's per-record work above the codec (consumer_poll: a decoded
Fetch answer through the consumer's buffer and poll, no broker), produce
encode, printing allocations per record beside the fetch and poll figures;
and round trips of small requests over one connection to a real broker
(`net`: the cluster of VLTAVA_CLUSTER_DIR, or a one-node cluster it starts
and stops), with latency percentiles. --quick shortens warm-up and
measurement (1 s and 3 s) for a first look; published figures use the
defaults. Reports land in target/criterion/.
";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some("peers") {
        return crate::peers::run(&args[1..]);
    }
    let mut flags = Flags::new(args);
    if flags.switch("--help") {
        print!("{HELP}");
        return Ok(());
    }
    let quick = flags.switch("--quick");
    let filter = flags.positional();
    flags.finish()?;
    let mut args = vec!["bench", "-p", "vltava-benches", "--"];
    if quick {
        args.extend(["--warm-up-time", "1", "--measurement-time", "3"]);
    }
    if let Some(filter) = &filter {
        args.push(filter);
    }
    crate::cargo(&args, &[], "the benchmarks")
}
