//! Errors of the namespace fabric and the socket transport.

/// Everything that can go wrong in `mrc-net`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The fabric specification does not describe a buildable fabric.
    #[error("invalid fabric spec: field `{field}`: {msg}")]
    Spec {
        /// The offending field.
        field: &'static str,
        /// What was expected.
        msg: String,
    },
    /// A fabric with this prefix already exists (some of its namespaces are present).
    #[error(
        "a fabric with prefix `{prefix}` already exists (namespace `{ns}`); run `mrc fabric down` first or pick another prefix"
    )]
    Exists {
        /// The prefix.
        prefix: String,
        /// One namespace found.
        ns: String,
    },
    /// An external command could not be started.
    #[error("cannot run `{cmd}`: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// Why.
        source: std::io::Error,
    },
    /// An external command failed.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Exit status.
        status: String,
        /// Its standard error (trimmed).
        stderr: String,
    },
    /// A named node or link does not exist in the fabric.
    #[error("not found: {0}")]
    NotFound(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// The call or object.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A stop signal arrived during an operation that was then undone.
    #[error("interrupted by signal {0}; everything created was removed")]
    Interrupted(i32),
    /// A transfer did not finish or the data did not verify.
    #[error("transfer failed: {0}")]
    Transfer(String),
}

/// Result alias.
pub type Result<T, E = NetError> = core::result::Result<T, E>;
