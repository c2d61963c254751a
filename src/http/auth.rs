//! Token checks: one optional token per endpoint group, sent as `Authorization: Token <token>`.
//! Missing: 401. Wrong: 403. A group without a configured token ignores the header.

use tiny_http::Request;

use subtle::ConstantTimeEq;

use super::{header_value, ApiError};
use crate::config::Tokens;

/// Which token guards an endpoint (the route table says which group each endpoint is in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `/api/tiscale/*`
    Usage,
    /// `/srv/tiscale/*`
    Service,
    /// `/api/license/*`
    License,
}

/// Compares in time that depends only on the lengths, not on where the first difference is
/// (`subtle`, rather than a comparison of our own that a compiler could shorten).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Checks the request's token against the group's.
pub fn check(tokens: &Tokens, group: Group, req: &Request) -> Result<(), ApiError> {
    let expected = match group {
        Group::Usage => &tokens.usage,
        Group::Service => &tokens.service,
        Group::License => &tokens.license,
    };
    let Some(expected) = expected else {
        return Ok(());
    };
    verify(expected, header_value(req, "Authorization"))
}

fn verify(expected: &str, header: Option<&str>) -> Result<(), ApiError> {
    let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
        return Err(ApiError::new(
            401,
            "Authentication credentials were not provided.",
        ));
    };
    let presented = match value.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("token") => rest.trim(),
        _ => value,
    };
    if constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(403, "Invalid token."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

    #[test]
    fn missing_wrong_right() {
        assert_eq!(verify(T, None).unwrap_err().status, 401);
        assert_eq!(verify(T, Some("  ")).unwrap_err().status, 401);
        assert_eq!(verify(T, Some("Token nope")).unwrap_err().status, 403);
        assert_eq!(
            verify(T, Some(&format!("Token {T}x"))).unwrap_err().status,
            403
        );
        assert!(verify(T, Some(&format!("Token {T}"))).is_ok());
        assert!(verify(T, Some(&format!("token  {T} "))).is_ok());
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
