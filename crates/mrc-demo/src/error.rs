//! Errors of the demo.

/// Anything that can go wrong while training over the network.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A candle tensor operation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// The real transport or the fabric failed.
    #[error("network: {0}")]
    Net(#[from] mrc_net::NetError),
    /// An I/O error (sockets, child processes).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The all-reduce did not finish or went wrong.
    #[error("all-reduce: {0}")]
    AllReduce(String),
    /// Ranks disagree on the parameters, or a rank process failed.
    #[error("job: {0}")]
    Job(String),
    /// A configuration value is out of range.
    #[error("config `{field}`: {msg}")]
    Config {
        /// The field or flag.
        field: &'static str,
        /// What was expected.
        msg: String,
    },
}

impl DemoError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// Result with [`DemoError`].
pub type Result<T> = core::result::Result<T, DemoError>;
