//! A small command-line parser: `--name value` options, `--flag` switches and positionals.

use std::collections::HashMap;

/// Parsed command line.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, String>,
    switches: Vec<String>,
    /// Arguments not starting with `--`, in order.
    pub positional: Vec<String>,
}

impl Args {
    /// Parses `args`; names in `switches` take no value, every other `--name` takes the
    /// next argument (or `--name=value`).
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        switches: &[&str],
        options: &[&str],
    ) -> Result<Self, String> {
        let mut parsed = Args::default();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let Some(name) = arg.strip_prefix("--") else {
                parsed.positional.push(arg);
                continue;
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (name.to_owned(), None),
            };
            if switches.contains(&name.as_str()) {
                parsed.switches.push(name);
            } else if options.contains(&name.as_str()) {
                let value = match inline {
                    Some(v) => v,
                    None => it.next().ok_or_else(|| format!("--{name} needs a value"))?,
                };
                parsed.values.insert(name, value);
            } else {
                return Err(format!("unknown option --{name} (see --help)"));
            }
        }
        Ok(parsed)
    }

    /// Value of `--name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Value of `--name` parsed as `T`.
    pub fn parsed<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        self.value(name)
            .map(|v| v.parse::<T>().map_err(|_| format!("--{name}: cannot parse '{v}'")))
            .transpose()
    }

    /// Whether `--name` was given.
    pub fn switch(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }
}

/// Impairment options understood by `ImpairmentConfig::apply_flag`.
pub const IMPAIRMENT_OPTIONS: [&str; 10] = [
    "loss",
    "burst",
    "delay",
    "jitter",
    "jitter-reorders",
    "reorder",
    "reorder-delay",
    "duplicate",
    "bandwidth",
    "queue",
];

/// Parses `WIDTHxHEIGHT`.
pub fn parse_resolution(value: &str) -> Result<(u32, u32), String> {
    let (w, h) = value.split_once(['x', 'X']).ok_or_else(|| format!("bad resolution '{value}'"))?;
    let w = w.parse().map_err(|_| format!("bad width in '{value}'"))?;
    let h = h.parse().map_err(|_| format!("bad height in '{value}'"))?;
    Ok((w, h))
}
