//! `Maybe<T>`: a PATCH field that is absent (leave alone), `null` (clear) or a value (set).
//! Use it with `#[serde(default)]` so a missing key deserializes as `Absent`.

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Maybe<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Maybe<T> {
    /// Applies this patch to an optional field.
    pub fn apply_to(self, field: &mut Option<T>) {
        match self {
            Maybe::Absent => {}
            Maybe::Null => *field = None,
            Maybe::Value(v) => *field = Some(v),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Maybe<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only reached when the key is present: `null` or a value.
        Ok(match Option::<T>::deserialize(d)? {
            None => Maybe::Null,
            Some(v) => Maybe::Value(v),
        })
    }
}

/// For a present key whose `null` must be rejected (a PATCH bool): `Some(value)`, or
/// serde's own "invalid type: null" error.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct P {
        #[serde(default)]
        a: Maybe<u32>,
        #[serde(default, deserialize_with = "present")]
        b: Option<bool>,
    }

    #[test]
    fn tri_state() {
        let p: P = serde_json::from_str("{}").unwrap();
        assert_eq!(p.a, Maybe::Absent);
        assert_eq!(p.b, None);
        let p: P = serde_json::from_str(r#"{"a":null,"b":true}"#).unwrap();
        assert_eq!(p.a, Maybe::Null);
        assert_eq!(p.b, Some(true));
        let p: P = serde_json::from_str(r#"{"a":3}"#).unwrap();
        assert_eq!(p.a, Maybe::Value(3));
        let e = serde_json::from_str::<P>(r#"{"b":null}"#).err().unwrap();
        assert!(e
            .to_string()
            .starts_with("invalid type: null, expected a boolean"));
    }
}
