//! `lib_mrc.so`: the OCP MRC C API (`mrc.h`, `mrc_ctl.h`) over the MRC transport, plus a
//! software verbs device (`ibv_*`) for machines without RDMA hardware.
//!
//! See `docs/capi.md`: what is implemented, the devices (`mrclo`), return conventions and error
//! codes, and how a C program is built and run against the library.
//!
//! Layout: [`types`] (the headers' structs as `repr(C)`), [`layout`] (their sizes and offsets
//! for the C layout test), [`evgen`] (EV expansion of generated / explicit EV profiles),
//! `verbs` (the software verbs device), `api` (`mrc.h`), `ctl` (`mrc_ctl.h`), `engine` (the
//! data path: QPs over UDP/IPv6, progress thread, completions).
#![allow(
    unsafe_code,
    reason = "a C ABI library: every entry point takes raw pointers"
)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![allow(
    clippy::missing_safety_doc,
    reason = "C entry points: the contract is the OCP header's (docs/capi.md)"
)]

pub mod api;
pub mod ctl;
mod engine;
pub mod evgen;
pub mod layout;
mod state;
pub mod types;
pub mod verbs;

use core::ffi::c_int;

/// Sets the calling thread's `errno`.
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot, always valid.
    unsafe {
        *libc::__errno_location() = e;
    }
}

/// Runs `f`, turning a panic into `on_panic` (a panic must never unwind into C).
pub(crate) fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        set_errno(libc::EIO);
        on_panic
    })
}

/// Returns -1 with `errno = e` (the "-1 on failure (errno set)" convention).
pub(crate) fn fail(e: c_int) -> c_int {
    set_errno(e);
    -1
}

/// Returns `e` with `errno = e` (the "errors like ibv_*()" convention: the errno value).
pub(crate) fn fail_code(e: c_int) -> c_int {
    set_errno(e);
    e
}
