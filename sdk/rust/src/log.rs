//! Logging through the host (`log` in docs/abi.md). Records carry the request id and the
//! component. At most 200 records (together with stderr lines) of at most 4 KiB are kept per
//! request; calls past that are accepted and dropped by the host.

use crate::error::{check, Result};
use crate::sys;

/// A log level, as the ABI numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
}

/// Writes `msg` at `level`. Most code uses [`info`], [`warn`], ... which ignore the result.
pub fn write(level: Level, msg: &str) -> Result<()> {
    check(sys::log(level as i32, msg.as_bytes())).map(|_| ())
}

/// Logs `msg` at trace level.
pub fn trace(msg: &str) {
    let _ = write(Level::Trace, msg);
}

/// Logs `msg` at debug level.
pub fn debug(msg: &str) {
    let _ = write(Level::Debug, msg);
}

/// Logs `msg` at info level.
pub fn info(msg: &str) {
    let _ = write(Level::Info, msg);
}

/// Logs `msg` at warn level.
pub fn warn(msg: &str) {
    let _ = write(Level::Warn, msg);
}

/// Logs `msg` at error level.
pub fn error(msg: &str) {
    let _ = write(Level::Error, msg);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::Host;

    #[test]
    fn levels_are_numbered_as_in_the_abi() {
        let host = Host::new();
        host.install();
        trace("t");
        debug("d");
        info("i");
        warn("w");
        error("e");
        let levels: Vec<i32> = host.logs().iter().map(|r| r.0).collect();
        assert_eq!(levels, vec![0, 1, 2, 3, 4]);
        assert_eq!(host.logs()[2].1, "i");
    }
}
