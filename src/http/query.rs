//! Query strings: percent-decoding, `+` as space, typed getters with 400 on malformed values.

use super::ApiError;

/// Decoded `key=value` pairs, in order.
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// Decodes `%XX` and `+`; invalid escapes are kept as written.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub fn parse(query: &str) -> Query {
        let pairs = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean: `true`/`false`/`1`/`0` (any case); absent is `None`.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(ApiError::bad_request(format!(
                    "{key} must be true, false, 1 or 0, not {v:?}"
                ))),
            },
        }
    }

    /// A non-negative whole number; absent is `None`.
    pub fn seconds(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "{key} must be a whole number of seconds, not {v:?}"
                ))
            }),
        }
    }
}

/// Strips an optional `Token ` prefix from a filter token (header or query).
pub fn strip_token_prefix(s: &str) -> &str {
    let s = s.trim();
    match s.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("token ") => s[6..].trim_start(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        let q = Query::parse("token=Token+custom&age=500&x=%41%4a&bad=%zz&&flag");
        assert_eq!(q.get("token"), Some("Token custom"));
        assert_eq!(q.get("x"), Some("AJ"));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.seconds("age").unwrap(), Some(500));
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("a%"), "a%");
        assert_eq!(percent_decode("%é"), "%é");
    }

    #[test]
    fn booleans_and_numbers_are_strict() {
        let q = Query::parse("full=TRUE&v13=0&bad=yes&age=-1");
        assert_eq!(q.bool("full").unwrap(), Some(true));
        assert_eq!(q.bool("v13").unwrap(), Some(false));
        assert_eq!(q.bool("absent").unwrap(), None);
        assert_eq!(q.bool("bad").unwrap_err().status, 400);
        assert_eq!(q.seconds("age").unwrap_err().status, 400);
    }

    #[test]
    fn token_prefix() {
        assert_eq!(strip_token_prefix("Token custom"), "custom");
        assert_eq!(strip_token_prefix("token  custom"), "custom");
        assert_eq!(strip_token_prefix("custom"), "custom");
        assert_eq!(strip_token_prefix("Tokenizer"), "Tokenizer");
    }
}
