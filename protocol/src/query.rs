//! Query strings: `application/x-www-form-urlencoded` pairs, and the list parameters.
//! Errors are the text after `Failed to deserialize query string: `.

use crate::limits::LIST_LIMIT_MAX;

/// Decodes `a=b&c=d` into pairs (`+` is a space; invalid UTF-8 is replaced).
pub fn parse_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Finds at most one value for `field`; a second occurrence is an error, as in serde.
pub fn single<'a>(pairs: &'a [(String, String)], field: &str) -> Result<Option<&'a str>, String> {
    let mut found = None;
    for (k, v) in pairs {
        if k == field {
            if found.is_some() {
                return Err(format!("duplicate field `{field}`"));
            }
            found = Some(v.as_str());
        }
    }
    Ok(found)
}

/// Parses an unsigned integer field with Rust's own messages (`invalid digit found in string`).
pub fn unsigned<T: std::str::FromStr<Err = std::num::ParseIntError>>(
    pairs: &[(String, String)],
    field: &str,
) -> Result<Option<T>, String> {
    match single(pairs, field)? {
        None => Ok(None),
        Some(v) => v
            .parse::<T>()
            .map(Some)
            .map_err(|e| format!("{field}: {e}")),
    }
}

/// `prefix`, `start_after` and `limit` of a list request, not yet validated as names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub prefix: String,
    pub start_after: String,
    /// 1..=1000: 0 or anything larger means 1000.
    pub limit: usize,
}

impl ListParams {
    pub fn parse(query: &str) -> Result<Self, String> {
        let pairs = parse_pairs(query);
        let prefix = single(&pairs, "prefix")?.unwrap_or_default().to_owned();
        let start_after = single(&pairs, "start_after")?
            .unwrap_or_default()
            .to_owned();
        let limit = match unsigned::<usize>(&pairs, "limit")? {
            None | Some(0) => LIST_LIMIT_MAX,
            Some(n) => n.min(LIST_LIMIT_MAX),
        };
        Ok(Self {
            prefix,
            start_after,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_params() {
        let p = ListParams::parse("prefix=ab&start_after=a%2Db&limit=0").unwrap();
        assert_eq!(p.prefix, "ab");
        assert_eq!(p.start_after, "a-b");
        assert_eq!(p.limit, 1000);
        assert_eq!(ListParams::parse("limit=5000").unwrap().limit, 1000);
        assert_eq!(
            ListParams::parse("limit=-1").unwrap_err(),
            "limit: invalid digit found in string"
        );
        assert_eq!(
            ListParams::parse("prefix=a&prefix=b").unwrap_err(),
            "duplicate field `prefix`"
        );
    }

    #[test]
    fn decoding() {
        assert_eq!(decode_component("a+b%20c%zz%4"), "a b c%zz%4");
    }
}
