//! Bad user input: reported with exit code 2.

use std::fmt;

/// An error caused by the user's input (a flag, a file, a field). `main` exits with code 2 for it.
///
/// The message names the file or flag, the field and what was expected.
#[derive(Debug)]
pub(crate) struct BadInput(pub(crate) String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Returns early with a [`BadInput`] error built from a format string.
#[macro_export]
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::BadInput(format!($($arg)*))))
    };
}
