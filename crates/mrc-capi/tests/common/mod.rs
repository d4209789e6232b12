//! Helpers of the C-program tests: find gcc, the OCP headers and `lib_mrc.so`; compile a C file.

#![allow(dead_code, reason = "each test binary uses a subset")]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory of the OCP MRC headers: `MRC_API_INCLUDE` as the test runs, else as it was
/// built (the workspace's `.cargo/config.toml` sets it to where `docs/capi.md` §Building says).
pub(crate) fn headers() -> Option<PathBuf> {
    let dir = std::env::var_os("MRC_API_INCLUDE")
        .map(PathBuf::from)
        .or_else(|| option_env!("MRC_API_INCLUDE").map(PathBuf::from))?;
    dir.join("mrc.h").is_file().then_some(dir)
}

/// Directory holding `lib_mrc.so` built with this test.
pub(crate) fn lib_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    [deps.to_path_buf(), deps.parent()?.to_path_buf()]
        .into_iter()
        .find(|d| d.join("lib_mrc.so").is_file())
}

/// Why C tests cannot run here (gcc, headers, libibverbs-dev or the library missing), if so.
pub(crate) fn skip_reason() -> Option<String> {
    if Command::new("gcc").arg("--version").output().is_err() {
        return Some("gcc not found".into());
    }
    if headers().is_none() {
        return Some("OCP MRC headers not found (MRC_API_INCLUDE, docs/capi.md §Building)".into());
    }
    if !Path::new("/usr/include/infiniband/verbs.h").is_file() {
        return Some("libibverbs-dev not installed (/usr/include/infiniband/verbs.h)".into());
    }
    if lib_dir().is_none() {
        return Some("lib_mrc.so not found next to the test binary".into());
    }
    None
}

/// Compiles `tests/c/<src>` (plus `extra` sources) into a program in the target directory,
/// linked with `-l_mrc -libverbs`; panics with gcc's output on failure.
pub(crate) fn build(src: &str, extra: &[&str], out: &str) -> PathBuf {
    build_with(src, extra, out, &["-l_mrc", "-libverbs"])
}

/// As [`build`], linked with `libs` in that order.
pub(crate) fn build_with(src: &str, extra: &[&str], out: &str, libs: &[&str]) -> PathBuf {
    let c = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
    let lib = lib_dir().expect("lib_mrc.so");
    let exe = lib.join(out);
    let mut cmd = Command::new("gcc");
    cmd.args(["-O2", "-g", "-Wall", "-Werror", "-std=gnu11"])
        .arg("-I")
        .arg(headers().expect("headers"))
        .arg(c.join(src));
    for e in extra {
        cmd.arg(c.join(e));
    }
    cmd.arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(&lib)
        // DT_RPATH, not RUNPATH: it is searched before LD_LIBRARY_PATH, which cargo sets
        // for tests with `target/<profile>` first, where a `cargo build` of an older tree
        // may have left an older lib_mrc.so.
        .arg(format!("-Wl,--disable-new-dtags,-rpath,{}", lib.display()))
        .args(libs)
        .arg("-lpthread");
    let o = cmd.output().expect("run gcc");
    assert!(
        o.status.success(),
        "gcc {src} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    exe
}

/// Waits for `c` at most `limit`; kills it after.
fn wait(mut c: Child, limit: Duration) -> (bool, String) {
    let t0 = Instant::now();
    loop {
        if let Ok(Some(st)) = c.try_wait() {
            let mut out = String::new();
            if let Some(mut o) = c.stdout.take() {
                let _ = o.read_to_string(&mut out);
            }
            if let Some(mut e) = c.stderr.take() {
                let _ = e.read_to_string(&mut out);
            }
            return (st.success(), out);
        }
        if t0.elapsed() > limit {
            let _ = c.kill();
            let _ = c.wait();
            return (false, "timed out".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `prog server SDEV` and `prog client PORT CDEV` (with `envs`); returns both outputs.
pub(crate) fn run_pair(
    prog: &Path,
    sdev: &str,
    cdev: &str,
    envs: &[(&str, &str)],
) -> (String, String) {
    run_pair_args(prog, sdev, &[cdev], envs)
}

/// Runs `prog server SDEV` and `prog client PORT CARGS…` (with `envs`); returns both outputs.
pub(crate) fn run_pair_args(
    prog: &Path,
    sdev: &str,
    cargs: &[&str],
    envs: &[(&str, &str)],
) -> (String, String) {
    let mut server = Command::new(prog)
        .args(["server", sdev])
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut line = String::new();
    let mut rd = BufReader::new(server.stdout.take().expect("stdout"));
    rd.read_line(&mut line).expect("server port line");
    let port = line
        .strip_prefix("PORT ")
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| panic!("server said {line:?}"));
    let client = Command::new(prog)
        .args(["client", &port])
        .args(cargs)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let (cok, cout) = wait(client, Duration::from_secs(180));
    server.stdout = Some(rd.into_inner());
    let (sok, sout) = wait(server, Duration::from_secs(30));
    assert!(cok, "client failed:\n{cout}\nserver:\n{sout}");
    assert!(sok, "server failed:\n{sout}\nclient:\n{cout}");
    (sout, cout)
}
