//! JSON that names each member of an object once. RFC 8259 leaves duplicate names to the parser
//! (serde_json keeps the last); a ticket that carries `tenant_id` twice, or a body that sets one
//! field twice, says two things at once, and which one counts would be the parser's guess. RFC
//! 7515 §5.2 lets a JWS recipient refuse duplicate header names; this service refuses duplicate
//! members anywhere: in a JWT's header and payload and in every JSON body.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

/// `Ok` when `bytes` is one JSON value whose objects, at every depth, name each member once.
/// The error says where (line and column) and which member.
pub fn check_unique_members(bytes: &[u8]) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    UniqueMembers.deserialize(&mut deserializer)?;
    deserializer.end()
}

/// Walks one value, remembering the member names of each object it is in.
struct UniqueMembers;

impl<'de> DeserializeSeed<'de> for UniqueMembers {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueMembers {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(UniqueMembers)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name.clone()) {
                return Err(A::Error::custom(format!("duplicate member `{name}`")));
            }
            map.next_value_seed(UniqueMembers)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_unique_members;

    #[test]
    fn a_member_named_twice_at_any_depth_is_refused() {
        for json in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": {"b": 1, "b": 1}}"#,
            r#"[{"x": [{"y": 1, "y": null}]}]"#,
            r#"{"\u0061": 1, "a": 2}"#,
        ] {
            let error = check_unique_members(json.as_bytes()).unwrap_err();
            assert!(
                error.to_string().contains("duplicate member"),
                "{json}: {error}"
            );
        }
    }

    #[test]
    fn the_same_name_in_sibling_objects_and_any_other_json_is_fine() {
        for json in [
            r#"{"a": {"b": 1}, "c": {"b": 2}}"#,
            r#"[{"a": 1}, {"a": 2}]"#,
            r#"[1, -2, 3.5, "x", true, null, 18446744073709551616]"#,
            r#""text""#,
        ] {
            check_unique_members(json.as_bytes()).unwrap();
        }
        assert!(check_unique_members(b"{\"a\": 1} trailing").is_err());
        assert!(check_unique_members(b"{\"a\": ").is_err());
    }
}
