//! The application data stored with a session: a JSON object under a size limit, changed by
//! RFC 7386 merge patches, without the keys JavaScript treats as prototype machinery.

use serde_json::{Map, Value};

/// Application data stored with a session: a JSON object under a size limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionData(Map<String, Value>);

/// Why session data was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DataError {
    /// The data (or the patch) is not a JSON object.
    #[error("data must be a JSON object")]
    NotAnObject,
    /// A key that JavaScript treats as the object's prototype machinery (`__proto__`,
    /// `constructor`, `prototype`), at any depth: in a Node backend, `Object.assign({}, data)`
    /// with such a key can hand out what another key holds.
    #[error("data may not use the key {0:?} (at any depth)")]
    ForbiddenKey(&'static str),
    /// The data is larger than allowed.
    #[error("data is {size} bytes as JSON, more than the {limit} allowed")]
    TooLarge {
        /// Its size as JSON, in bytes.
        size: usize,
        /// The most allowed.
        limit: usize,
    },
}

impl SessionData {
    /// Data from a client: a JSON object of at most `max_bytes` as JSON.
    pub fn parse(value: Value, max_bytes: usize) -> Result<Self, DataError> {
        let Value::Object(map) = value else {
            return Err(DataError::NotAnObject);
        };
        forbidden_key_in(&map)?;
        let data = Self(map);
        let size = data.to_json().len();
        if size > max_bytes {
            return Err(DataError::TooLarge {
                size,
                limit: max_bytes,
            });
        }
        Ok(data)
    }

    /// Data read back from the store, which was size-checked when it was written.
    pub fn from_stored(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// The data as a JSON map.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The data as JSON text.
    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    /// This data with an RFC 7386 JSON merge patch applied: keys set to `null` are removed,
    /// objects merge recursively, anything else replaces. The result must still be an object
    /// within `max_bytes`.
    pub fn merge_patched(&self, patch: &Value, max_bytes: usize) -> Result<Self, DataError> {
        let Value::Object(keys) = patch else {
            return Err(DataError::NotAnObject);
        };
        forbidden_key_in(keys)?;
        let mut doc = Value::Object(self.0.clone());
        json_patch::merge(&mut doc, patch);
        Self::parse(doc, max_bytes)
    }
}

/// Keys a client's data may not use, at any depth (JavaScript's prototype machinery).
const FORBIDDEN_KEYS: [&str; 3] = ["__proto__", "constructor", "prototype"];

/// The first forbidden key anywhere in `map` (objects inside arrays included).
fn forbidden_key_in(map: &Map<String, Value>) -> Result<(), DataError> {
    fn keys_of<'a>(
        map: &'a Map<String, Value>,
        pending: &mut Vec<&'a Value>,
    ) -> Result<(), DataError> {
        pending.extend(map.values());
        FORBIDDEN_KEYS
            .iter()
            .find(|key| map.contains_key(**key))
            .map_or(Ok(()), |key| Err(DataError::ForbiddenKey(key)))
    }
    let mut pending = Vec::new();
    keys_of(map, &mut pending)?;
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(inner) => keys_of(inner, &mut pending)?,
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prototype_keys_are_refused_at_any_depth_in_data_and_in_patches() {
        for key in FORBIDDEN_KEYS {
            for data in [
                serde_json::json!({ key: {"roles": ["admin"]} }),
                serde_json::json!({"prefs": { key: 1 }}),
                serde_json::json!({"list": [{"a": [{ key: null }]}]}),
            ] {
                assert_eq!(
                    SessionData::parse(data.clone(), 4096).map(|_| ()),
                    Err(DataError::ForbiddenKey(key)),
                    "{data}"
                );
                assert_eq!(
                    SessionData::default()
                        .merge_patched(&data, 4096)
                        .map(|_| ()),
                    Err(DataError::ForbiddenKey(key)),
                    "{data}"
                );
            }
        }
        // As values, or as parts of longer keys, they are ordinary data.
        let fine =
            serde_json::json!({"note": "__proto__", "constructor_name": "x", "a": ["prototype"]});
        assert!(SessionData::parse(fine, 4096).is_ok());
    }
}
