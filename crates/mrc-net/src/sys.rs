//! The few system calls `mrc-net` makes directly through libc: socket setup, `sendmmsg` with a
//! per-datagram `SO_MARK` control message, `recvmmsg` with the flow label, `setns`, CPU time.
//! Every `unsafe` block of the crate is here, each with its SAFETY comment.

/// True when running with effective uid 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
