//! The typed attribute mapping: how each kind of value the store keeps is one DynamoDB
//! attribute, in both directions, and the one place where an attribute that is missing or does
//! not hold its type becomes [`StoreError::CorruptItem`] naming it.
//!
//! The stored shape is the one every item has had since the first release: instants are epoch
//! milliseconds (`N`), versions numbers, ids and names strings (`S`), seeds and sealed tokens
//! binary (`B`), structured values (session data, `amr`, an event) JSON text (`S`), TTLs epoch
//! seconds (`N`). Which attributes an item has, and under which names, is `codec`'s.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use crate::domain::{RevocationReason, RotationSeed, SessionId, TenantId, Transport, UserId};

/// A DynamoDB item: attribute names to values.
pub(super) type Item = HashMap<String, AttributeValue>;

/// A value written as one attribute.
pub(super) trait ToAttribute {
    /// The attribute holding the value.
    fn to_attribute(&self) -> AttributeValue;
}

/// A value read from one attribute.
pub(super) trait FromAttribute: Sized {
    /// The value `attribute` holds; `None` when it holds no such value.
    fn from_attribute(attribute: &AttributeValue) -> Option<Self>;
}

/// Typed access to an item's attributes.
pub(super) trait Attributes {
    /// The value of `attribute`: missing or not a `T`, the item is corrupt.
    fn read<T: FromAttribute>(&self, attribute: &'static str) -> Result<T, StoreError>;

    /// The value of `attribute` if present (`None`); present but not a `T`, the item is corrupt.
    fn read_opt<T: FromAttribute>(&self, attribute: &'static str) -> Result<Option<T>, StoreError>;

    /// The string attribute `attribute` read as a `T` by `parse` (a prefixed key).
    fn read_with<T>(
        &self,
        attribute: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, StoreError>;

    /// The string `attribute` holds, if it holds one: for comparing keys, never an error.
    fn text(&self, attribute: &str) -> Option<&str>;

    /// Sets `attribute` to `value`.
    fn put(&mut self, attribute: &str, value: &(impl ToAttribute + ?Sized));

    /// Sets `attribute` to `value` when there is one (an absent value is no attribute).
    fn put_opt(&mut self, attribute: &str, value: Option<&(impl ToAttribute + ?Sized)>);
}

/// The one constructor of [`StoreError::CorruptItem`] for an item's attribute.
fn corrupt(attribute: &'static str) -> StoreError {
    StoreError::CorruptItem { attribute }
}

impl Attributes for Item {
    fn read<T: FromAttribute>(&self, attribute: &'static str) -> Result<T, StoreError> {
        self.get(attribute)
            .and_then(T::from_attribute)
            .ok_or_else(|| corrupt(attribute))
    }

    fn read_opt<T: FromAttribute>(&self, attribute: &'static str) -> Result<Option<T>, StoreError> {
        self.get(attribute)
            .map(|value| T::from_attribute(value).ok_or_else(|| corrupt(attribute)))
            .transpose()
    }

    fn read_with<T>(
        &self,
        attribute: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        self.text(attribute)
            .and_then(parse)
            .ok_or_else(|| corrupt(attribute))
    }

    fn text(&self, attribute: &str) -> Option<&str> {
        self.get(attribute)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }

    fn put(&mut self, attribute: &str, value: &(impl ToAttribute + ?Sized)) {
        self.insert(attribute.to_owned(), value.to_attribute());
    }

    fn put_opt(&mut self, attribute: &str, value: Option<&(impl ToAttribute + ?Sized)>) {
        if let Some(value) = value {
            self.put(attribute, value);
        }
    }
}

/// A string attribute.
pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The text a string attribute holds.
fn text_of(attribute: &AttributeValue) -> Option<&str> {
    attribute.as_s().ok().map(String::as_str)
}

impl ToAttribute for str {
    fn to_attribute(&self) -> AttributeValue {
        s(self)
    }
}

impl ToAttribute for String {
    fn to_attribute(&self) -> AttributeValue {
        s(self.as_str())
    }
}

impl FromAttribute for String {
    fn from_attribute(attribute: &AttributeValue) -> Option<Self> {
        text_of(attribute).map(str::to_owned)
    }
}

impl ToAttribute for bool {
    fn to_attribute(&self) -> AttributeValue {
        AttributeValue::Bool(*self)
    }
}

impl FromAttribute for bool {
    fn from_attribute(attribute: &AttributeValue) -> Option<Self> {
        attribute.as_bool().ok().copied()
    }
}

impl ToAttribute for i64 {
    fn to_attribute(&self) -> AttributeValue {
        n(self)
    }
}

impl FromAttribute for i64 {
    fn from_attribute(attribute: &AttributeValue) -> Option<Self> {
        attribute.as_n().ok()?.parse().ok()
    }
}

/// A version or a count: never negative.
impl ToAttribute for u64 {
    fn to_attribute(&self) -> AttributeValue {
        n(self)
    }
}

impl FromAttribute for u64 {
    fn from_attribute(attribute: &AttributeValue) -> Option<Self> {
        attribute.as_n().ok()?.parse().ok()
    }
}

/// An instant: epoch milliseconds.
impl ToAttribute for DateTime<Utc> {
    fn to_attribute(&self) -> AttributeValue {
        n(self.timestamp_millis())
    }
}

impl FromAttribute for DateTime<Utc> {
    fn from_attribute(attribute: &AttributeValue) -> Option<Self> {
        Utc.timestamp_millis_opt(i64::from_attribute(attribute)?)
            .single()
    }
}

/// A TTL: epoch seconds, as DynamoDB's time to live reads it.
#[derive(Debug, Clone, Copy)]
pub(super) struct EpochSeconds(pub i64);

impl ToAttribute for EpochSeconds {
    fn to_attribute(&self) -> AttributeValue {
        n(self.0)
    }
}

/// Bytes: a binary attribute.
impl ToAttribute for [u8] {
    fn to_attribute(&self) -> AttributeValue {
        AttributeValue::B(Blob::new(self))
    }
}

impl ToAttribute for Vec<u8> {
    fn to_attribute(&self) -> AttributeValue {
        self.as_slice().to_attribute()
    }
}

impl FromAttribute for Vec<u8> {
    fn from_attribute(attribute: &AttributeValue) -> Option<Self> {
        attribute.as_b().ok().map(|b| b.as_ref().to_vec())
    }
}

impl ToAttribute for RotationSeed {
    fn to_attribute(&self) -> AttributeValue {
        self.as_bytes().to_attribute()
    }
}

impl FromAttribute for RotationSeed {
    fn from_attribute(attribute: &AttributeValue) -> Option<Self> {
        Self::from_bytes(attribute.as_b().ok()?.as_ref())
    }
}

/// A structured value stored as its JSON text.
#[derive(Debug)]
pub(super) struct Json<T>(pub T);

impl<T: Serialize> ToAttribute for Json<T> {
    fn to_attribute(&self) -> AttributeValue {
        s(serde_json::to_string(&self.0).unwrap_or_default())
    }
}

impl<T: DeserializeOwned> FromAttribute for Json<T> {
    fn from_attribute(attribute: &AttributeValue) -> Option<Self> {
        serde_json::from_str(text_of(attribute)?).ok().map(Json)
    }
}

/// Values stored as their text and read back through their own parser (which refuses what
/// this code never writes).
macro_rules! text_attributes {
    ($($type:ty: $show:expr, $parse:expr;)*) => {$(
        impl ToAttribute for $type {
            fn to_attribute(&self) -> AttributeValue {
                s($show(self))
            }
        }

        impl FromAttribute for $type {
            fn from_attribute(attribute: &AttributeValue) -> Option<Self> {
                $parse(text_of(attribute)?)
            }
        }
    )*};
}

text_attributes! {
    SessionId: |id: &SessionId| id.to_string(), |raw| SessionId::parse(raw).ok();
    UserId: |id: &UserId| id.as_str().to_owned(), |raw| UserId::parse(raw).ok();
    TenantId: |id: &TenantId| id.as_str().to_owned(), |raw| TenantId::parse(raw).ok();
    Transport: |t: &Transport| t.as_str(), Transport::parse;
    RevocationReason: |r: &RevocationReason| r.as_str(), RevocationReason::parse;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: ToAttribute + FromAttribute + PartialEq + std::fmt::Debug>(value: T) {
        let mut item = Item::new();
        item.put("a", &value);
        assert_eq!(item.read::<T>("a").unwrap(), value);
    }

    #[test]
    fn each_type_reads_back_what_it_writes() {
        round_trip(String::from("text"));
        round_trip(42_u64);
        round_trip(-7_i64);
        round_trip(Utc.timestamp_millis_opt(1_700_000_000_123).unwrap());
        round_trip(SessionId::random());
        round_trip(UserId::parse("alice").unwrap());
        round_trip(TenantId::parse("acme").unwrap());
        round_trip(Transport::Bearer);
        round_trip(RevocationReason::Revoked);
        round_trip(vec![1_u8, 2, 3]);
    }

    #[test]
    fn an_instant_is_epoch_milliseconds_and_a_ttl_epoch_seconds() {
        let at = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        assert_eq!(at.to_attribute(), n(1_700_000_000_123_i64));
        assert_eq!(EpochSeconds(1_700_000_000).to_attribute(), n(1_700_000_000));
    }

    #[test]
    fn missing_and_mistyped_attributes_are_corrupt_by_name_and_absent_optionals_are_none() {
        let mut item = Item::new();
        item.put("version", "not a number");
        assert!(matches!(
            item.read::<u64>("version"),
            Err(StoreError::CorruptItem {
                attribute: "version"
            })
        ));
        assert!(matches!(
            item.read_opt::<u64>("version"),
            Err(StoreError::CorruptItem {
                attribute: "version"
            })
        ));
        assert!(matches!(
            item.read::<u64>("gone"),
            Err(StoreError::CorruptItem { attribute: "gone" })
        ));
        assert!(item.read_opt::<u64>("gone").unwrap().is_none());
        item.put_opt("nothing", None::<&str>);
        assert!(!item.contains_key("nothing"));
    }
}
