//! Variables and secrets (`variable_get` in docs/abi.md).
//!
//! Declared at app level in `[variables]`, granted per component with `variables = ["name"]`.

use crate::error::{Error, Result};
use crate::sys;

/// The value of the variable `name`; `Ok(None)` if it has no value, `Err(AccessDenied)` if the
/// component was not granted it. (Secret values are never logged by the host; do not log them
/// yourself.)
pub fn get(name: &str) -> Result<Option<String>> {
    match sys::read_sized(256, |out| sys::variable_get(name.as_bytes(), out)) {
        Ok(bytes) => Ok(Some(
            String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        )),
        Err(-1) => Ok(None),
        Err(code) => Err(Error::from_code(code)),
    }
}

/// The value of `name`, or `default` if it has none (other errors are still returned).
pub fn get_or(name: &str, default: &str) -> Result<String> {
    Ok(get(name)?.unwrap_or_else(|| default.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::Host;

    #[test]
    fn variables_map_not_found_to_none() {
        let host = Host::new();
        host.install().set_variable("greeting", "héllo").deny_variable("secret");
        assert_eq!(get("greeting").unwrap().as_deref(), Some("héllo"));
        assert_eq!(get("missing").unwrap(), None);
        assert_eq!(get("secret"), Err(Error::AccessDenied));
        assert_eq!(get_or("missing", "hi").unwrap(), "hi");
        let long = "x".repeat(1000);
        host.set_variable("long", &long);
        assert_eq!(get("long").unwrap(), Some(long));
        host.set_variable("empty", "");
        assert_eq!(get("empty").unwrap().as_deref(), Some(""));
    }
}
