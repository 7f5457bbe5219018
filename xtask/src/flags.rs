//! A small command-line flag reader for xtask: positionals, `--flag`, `--key value`.

/// The arguments of one command, consumed as they are read.
pub(crate) struct Flags {
    args: Vec<String>,
}

impl Flags {
    pub(crate) fn new(args: &[String]) -> Self {
        Self {
            args: args.to_vec(),
        }
    }

    /// Takes the first argument that is not a flag.
    pub(crate) fn positional(&mut self) -> Option<String> {
        let index = self.args.iter().position(|a| !a.starts_with("--"))?;
        Some(self.args.remove(index))
    }

    /// Takes `--name`, returning whether it was there.
    pub(crate) fn switch(&mut self, name: &str) -> bool {
        match self.args.iter().position(|a| a == name) {
            Some(index) => {
                self.args.remove(index);
                true
            }
            None => false,
        }
    }

    /// Takes `--name VALUE` or `--name=VALUE`.
    pub(crate) fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        let prefix = format!("{name}=");
        if let Some(index) = self.args.iter().position(|a| a.starts_with(&prefix)) {
            let arg = self.args.remove(index);
            return Ok(Some(arg[prefix.len()..].to_owned()));
        }
        let Some(index) = self.args.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if index + 1 >= self.args.len() {
            return Err(format!("{name} needs a value"));
        }
        self.args.remove(index);
        Ok(Some(self.args.remove(index)))
    }

    /// Fails if anything was not taken.
    pub(crate) fn finish(self) -> Result<(), String> {
        match self.args.first() {
            None => Ok(()),
            Some(arg) => Err(format!("unexpected argument `{arg}`")),
        }
    }

    /// Everything not taken yet (e.g. arguments passed through to another tool).
    pub(crate) fn rest(self) -> Vec<String> {
        self.args
    }
}
