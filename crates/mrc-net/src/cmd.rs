//! A small typed builder for the `ip`, `tc` and `ethtool` commands the fabric runs
//! (netlink crates cannot express uN with NEXT-C-SID, docs/fabric-and-srv6.md §10.11).

use std::fmt;
use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::error::{NetError, Result};

/// One external command: program and arguments, optionally inside a network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    stdin: Option<String>,
}

impl Cmd {
    /// `program` with no arguments.
    pub fn new(program: &str) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            stdin: None,
        }
    }

    /// `ip` (in the current namespace).
    pub fn ip() -> Self {
        Self::new("ip")
    }

    /// `ip -n NS` (the `ip` command acting on namespace `ns`).
    pub fn ip_in(ns: &str) -> Self {
        Self::ip().args(["-n", ns])
    }

    /// `ip -6 -n NS -batch -` fed with `lines` (one `ip` command per line, without the `ip`
    /// and without options: the whole batch is IPv6). With `force`, errors do not stop the
    /// batch (`-force`).
    pub fn ip_batch(ns: Option<&str>, lines: &[String], force: bool) -> Self {
        let mut c = Self::ip().arg("-6");
        if let Some(ns) = ns {
            c = c.args(["-n", ns]);
        }
        if force {
            c = c.arg("-force");
        }
        let mut input = lines.join("\n");
        input.push('\n');
        c = c.args(["-batch", "-"]);
        c.stdin = Some(input);
        c
    }

    /// `ip netns exec NS program` (for tools without a namespace option).
    pub fn exec_in(ns: &str, program: &str) -> Self {
        Self::ip().args(["netns", "exec", ns, program])
    }

    /// Appends one argument.
    pub fn arg(mut self, a: impl fmt::Display) -> Self {
        self.args.push(a.to_string());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: fmt::Display,
    {
        self.args.extend(args.into_iter().map(|a| a.to_string()));
        self
    }

    /// Runs the command; fails with its stderr when it exits non-zero. Returns stdout.
    pub fn run(&self) -> Result<String> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| NetError::Spawn {
            cmd: self.to_string(),
            source,
        })?;
        if let (Some(input), Some(mut pipe)) = (&self.stdin, child.stdin.take()) {
            // A batch that fails early closes its stdin; the exit status tells the story.
            let _ = pipe.write_all(input.as_bytes());
        }
        let out = child.wait_with_output().map_err(|source| NetError::Spawn {
            cmd: self.to_string(),
            source,
        })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            if stderr.len() > 2000 {
                stderr.truncate(2000);
                stderr.push('…');
            }
            Err(NetError::Command {
                cmd: self.to_string(),
                status: out.status.to_string(),
                stderr,
            })
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        if let Some(s) = &self.stdin {
            write!(f, " <<< ({} lines)", s.lines().count())?;
        }
        Ok(())
    }
}

/// The network namespaces that exist (`ip netns list`, names only).
pub fn netns_list() -> Result<Vec<String>> {
    let out = Cmd::ip().args(["netns", "list"]).run()?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_command_lines() {
        let c = Cmd::ip_in("x-nic0").args(["-6", "route", "add", "fc00::/48"]);
        assert_eq!(c.to_string(), "ip -n x-nic0 -6 route add fc00::/48");
        let b = Cmd::ip_batch(Some("x"), &["link set lo up".into()], true);
        assert_eq!(b.to_string(), "ip -6 -n x -force -batch - <<< (1 lines)");
        assert_eq!(
            Cmd::exec_in("x", "ethtool").args(["-K", "d0"]).to_string(),
            "ip netns exec x ethtool -K d0"
        );
    }
}
