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

/// Runs the built `mrc` as the hardening acceptance does: address space capped at 6 GB and
/// killed after 60 s (`timeout` exits 124 then).
pub(crate) fn mrc_capped(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 6000000 && exec timeout 60 \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_mrc"))
        .args(args)
        .output()
        .unwrap()
}

/// Asserts that a run refused its input (exit 2) with a message containing every `names`.
pub(crate) fn assert_refused(o: &Output, names: &[&str]) {
    let t = text(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2, got {:?}: {t}",
        o.status
    );
    for n in names {
        assert!(t.contains(n), "message does not name `{n}`: {t}");
    }
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

/// A namespace fabric made for one test: `mrc fabric up --prefix PREFIX`, torn down when the
/// guard drops (also when the test panics) and when the test process gets SIGINT, SIGTERM or
/// SIGHUP (a watcher thread tears it down and exits with 128 + signal).
pub(crate) struct FabricGuard {
    prefix: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    _signals: mrc_net::sys::StopSignals,
}

impl FabricGuard {
    /// Brings the fabric up, or says why it could not (the caller skips with that reason).
    pub(crate) fn up(prefix: &str, extra: &[&str]) -> Result<Self, String> {
        let signals = mrc_net::sys::StopSignals::catch();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut args = vec!["fabric", "up", "--prefix", prefix];
        args.extend_from_slice(extra);
        let o = mrc(&args);
        if !o.status.success() {
            return Err(text(&o));
        }
        let (p, s) = (prefix.to_owned(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::SeqCst) {
                if let Some(sig) = mrc_net::sys::stop_signal() {
                    let _ = mrc(&["fabric", "down", "--prefix", &p]);
                    std::process::exit(128 + sig);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        Ok(Self {
            prefix: prefix.to_owned(),
            stop,
            _signals: signals,
        })
    }
}

impl Drop for FabricGuard {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = mrc(&["fabric", "down", "--prefix", &self.prefix]);
    }
}
