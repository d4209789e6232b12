//! Helpers shared by the CLI integration tests: run the built `mrc`, scratch directories, and the
//! reason to skip the tests that need network namespaces.
#![allow(dead_code, reason = "each test binary uses a subset of these helpers")]
#![allow(clippy::unwrap_used, reason = "test code")]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the `mrc` binary built for these tests.
pub(crate) fn mrc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mrc"))
        .args(args)
        .output()
        .unwrap()
}

/// Standard output and standard error of a run, together.
pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A scratch directory `mrc-<tag>-test-<pid>` in the temporary directory (created if missing).
pub(crate) fn scratch_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mrc-{tag}-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Why the namespace tests cannot run here, or `None` if they can (root, and `ip netns add`
/// works). `probe` names the throw-away namespace used to find out.
pub(crate) fn netns_skip_reason(probe: &str) -> Option<String> {
    if !mrc_net::sys::is_root() {
        return Some("not root (CAP_NET_ADMIN needed for network namespaces)".into());
    }
    let probe = format!("{probe}{}", std::process::id());
    match Command::new("ip").args(["netns", "add", &probe]).output() {
        Ok(o) if o.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &probe]).output();
            None
        }
        Ok(o) => Some(format!(
            "`ip netns add` refused: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run `ip`: {e}")),
    }
}
