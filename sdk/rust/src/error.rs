//! The `verge:v1` error codes as a Rust enum.

use std::fmt;

/// An error returned by a `verge:v1` host function (see docs/abi.md, "Error codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// `-1`: no such key, variable or handle.
    NotFound,
    /// `-2`: the component was not granted this store, host or variable.
    AccessDenied,
    /// `-3`: malformed input (not UTF-8, CR/LF in a header, a bad URL or method, a bad level).
    InvalidArgument,
    /// `-4`: over a named limit (key or value size, outbound request count, response cap).
    LimitExceeded,
    /// `-5`: the backend is failing or its circuit breaker is open: answer 503 and retry later.
    Unavailable,
    /// `-6`: compare-and-swap found a value other than the expected one.
    Conflict,
    /// `-7`: the upstream or backend did not answer in time.
    Timeout,
    /// `-8`: the outbound request failed (DNS, connection, TLS, too many redirects).
    Network,
    /// `-9`: increment of a value that is not a decimal 64-bit integer.
    NotANumber,
    /// Any other negative code (from a newer host, or a malformed host answer: `-1000`).
    Other(i32),
}

/// The code the SDK uses for a host answer it cannot make sense of (e.g. a malformed
/// `kv_list_keys` page). Not an ABI code.
pub(crate) const MALFORMED: i32 = -1000;

impl Error {
    /// Maps a negative result of a host function to its error.
    pub fn from_code(code: i32) -> Error {
        match code {
            -1 => Error::NotFound,
            -2 => Error::AccessDenied,
            -3 => Error::InvalidArgument,
            -4 => Error::LimitExceeded,
            -5 => Error::Unavailable,
            -6 => Error::Conflict,
            -7 => Error::Timeout,
            -8 => Error::Network,
            -9 => Error::NotANumber,
            other => Error::Other(other),
        }
    }

    /// The ABI code (`-1` ..= `-9`, or the code carried by `Other`).
    pub fn code(&self) -> i32 {
        match *self {
            Error::NotFound => -1,
            Error::AccessDenied => -2,
            Error::InvalidArgument => -3,
            Error::LimitExceeded => -4,
            Error::Unavailable => -5,
            Error::Conflict => -6,
            Error::Timeout => -7,
            Error::Network => -8,
            Error::NotANumber => -9,
            Error::Other(code) => code,
        }
    }

    /// The ABI name, e.g. `"NOT_FOUND"`; `"OTHER"` for unknown codes.
    pub fn name(&self) -> &'static str {
        match self {
            Error::NotFound => "NOT_FOUND",
            Error::AccessDenied => "ACCESS_DENIED",
            Error::InvalidArgument => "INVALID_ARGUMENT",
            Error::LimitExceeded => "LIMIT_EXCEEDED",
            Error::Unavailable => "UNAVAILABLE",
            Error::Conflict => "CONFLICT",
            Error::Timeout => "TIMEOUT",
            Error::Network => "NETWORK",
            Error::NotANumber => "NOT_A_NUMBER",
            Error::Other(_) => "OTHER",
        }
    }

    /// True for the errors that mean "the backend is failing, try again later":
    /// `Unavailable` and `Timeout`. Handlers usually answer these with a 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable | Error::Timeout)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::NotFound => "no such key, variable or handle",
            Error::AccessDenied => "not granted to this component",
            Error::InvalidArgument => "invalid argument",
            Error::LimitExceeded => "limit exceeded",
            Error::Unavailable => "the backend is unavailable",
            Error::Conflict => "the current value is not the expected one",
            Error::Timeout => "timed out",
            Error::Network => "the outbound request failed",
            Error::NotANumber => "the value is not a decimal 64-bit integer",
            Error::Other(code) if *code == MALFORMED => {
                return write!(f, "OTHER: malformed answer from the host");
            }
            Error::Other(code) => return write!(f, "OTHER: unknown error code {}", code),
        };
        write!(f, "{}: {}", self.name(), what)
    }
}

impl std::error::Error for Error {}

/// `Result` with the SDK's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Turns a host function's `i32` result into `Ok(value >= 0)` or the error it encodes.
pub(crate) fn check(rc: i32) -> Result<i32> {
    if rc >= 0 {
        Ok(rc)
    } else {
        Err(Error::from_code(rc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in -12..0 {
            assert_eq!(Error::from_code(code).code(), code);
        }
        assert_eq!(Error::from_code(-6), Error::Conflict);
        assert_eq!(Error::from_code(-42), Error::Other(-42));
    }

    #[test]
    fn display_names_the_code() {
        assert_eq!(Error::NotFound.to_string(), "NOT_FOUND: no such key, variable or handle");
        assert_eq!(Error::Other(-42).to_string(), "OTHER: unknown error code -42");
        assert!(Error::Unavailable.is_unavailable() && Error::Timeout.is_unavailable());
        assert!(!Error::Conflict.is_unavailable());
    }

    #[test]
    fn check_passes_non_negative_results() {
        assert_eq!(check(0), Ok(0));
        assert_eq!(check(17), Ok(17));
        assert_eq!(check(-5), Err(Error::Unavailable));
    }
}
