//! Compiles `tests/c/layout.c` against the OCP headers and checks that `sizeof` / `offsetof` of
//! every struct of `mrc.h` and `mrc_ctl.h` match the library's table.

mod common;

use std::process::Command;

#[test]
fn c_layout_matches_headers() {
    if let Some(why) = common::skip_reason() {
        eprintln!("SKIPPED c_layout: {why}");
        return;
    }
    let exe = common::build("layout.c", &[], "mrc_capi_layout_test");
    let out = Command::new(&exe).output().expect("run layout test");
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    assert!(out.status.success(), "layout mismatches:\n{text}");
    let rows = _mrc::layout::ROWS.len();
    assert!(
        text.contains(&format!("layout: {rows} of {rows} rows match")),
        "{text}"
    );
    assert!(
        text.contains("versions: mrc 01000001, ctl 01000001 as the headers"),
        "{text}"
    );
    // Every struct the headers define (a line `struct NAME {`) is in the table.
    let dir = common::headers().expect("headers");
    let mut seen = 0;
    for h in ["mrc.h", "mrc_ctl.h"] {
        let text = std::fs::read_to_string(dir.join(h)).expect("read header");
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("struct ") else {
                continue;
            };
            let Some(name) = rest.strip_suffix(" {") else {
                continue;
            };
            seen += 1;
            assert!(
                _mrc::layout::ROWS
                    .iter()
                    .any(|r| r.name == format!("{name}\0")),
                "struct {name} of {h} missing from the layout table"
            );
        }
    }
    assert_eq!(seen, 20, "structs defined by mrc.h + mrc_ctl.h");
}

/// Every function the headers declare is exported by `lib_mrc.so` under the same name.
#[test]
fn every_header_function_exported() {
    let (Some(dir), Some(lib)) = (common::headers(), common::lib_dir()) else {
        eprintln!("SKIPPED every_header_function_exported: headers or lib_mrc.so not found");
        return;
    };
    let so =
        std::ffi::CString::new(lib.join("lib_mrc.so").to_string_lossy().as_bytes()).expect("path");
    // SAFETY: dlopen of our own library with a valid NUL-terminated path.
    let h = unsafe { libc::dlopen(so.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    assert!(!h.is_null(), "dlopen lib_mrc.so");
    let mut names = Vec::new();
    for file in ["mrc.h", "mrc_ctl.h"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("read header");
        for line in text.lines() {
            if line.starts_with([' ', '\t', '*', '/', '#']) {
                continue;
            }
            // A declaration line: `type name(` or `type *name(`.
            let Some(open) = line.find('(') else { continue };
            let head = line.get(..open).unwrap_or("");
            let name = head.rsplit([' ', '*']).next().unwrap_or("");
            if name.starts_with("mrc_") {
                names.push(name.to_string());
            }
        }
    }
    assert_eq!(names.len(), 27 + 14, "functions declared: {names:?}");
    for n in &names {
        let c = std::ffi::CString::new(n.as_str()).expect("name");
        // SAFETY: `h` is a live handle from dlopen; `c` is NUL-terminated.
        let sym = unsafe { libc::dlsym(h, c.as_ptr()) };
        assert!(!sym.is_null(), "{n} not exported");
    }
}
