//! Standard output for records and tables: buffered, and a closed pipe
//! (`vltava consume | head`) ends the command quietly instead of failing.

use std::io::{self, BufWriter, Write};

use crate::error::CliError;

/// Why writing stopped.
#[derive(Debug)]
pub(crate) enum WriteStop {
    /// The reader went away (broken pipe): stop, successfully.
    Closed,
    /// Another I/O error.
    Failed(CliError),
}

/// A buffered stdout.
pub(crate) struct Out {
    inner: BufWriter<io::Stdout>,
}

impl Out {
    pub(crate) fn new() -> Self {
        Self {
            inner: BufWriter::with_capacity(64 * 1024, io::stdout()),
        }
    }

    /// Writes bytes.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), WriteStop> {
        self.inner.write_all(bytes).map_err(classify)
    }

    /// Writes a line of text.
    pub(crate) fn line(&mut self, text: &str) -> Result<(), WriteStop> {
        self.write(text.as_bytes())?;
        self.write(b"\n")
    }

    /// Flushes what is buffered.
    pub(crate) fn flush(&mut self) -> Result<(), WriteStop> {
        self.inner.flush().map_err(classify)
    }
}

fn classify(error: io::Error) -> WriteStop {
    if error.kind() == io::ErrorKind::BrokenPipe {
        WriteStop::Closed
    } else {
        WriteStop::Failed(CliError::io(format!("writing to stdout: {error}")))
    }
}

impl WriteStop {
    /// For commands that just stop: a closed pipe is success.
    pub(crate) fn into_result(self) -> Result<(), CliError> {
        match self {
            Self::Closed => Ok(()),
            Self::Failed(e) => Err(e),
        }
    }
}

/// Writes `lines` to stdout; a closed pipe is not an error.
pub(crate) fn print_lines<I, S>(lines: I) -> Result<(), CliError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = Out::new();
    let written = lines
        .into_iter()
        .try_for_each(|l| out.line(l.as_ref()))
        .and_then(|()| out.flush());
    written.or_else(WriteStop::into_result)
}
