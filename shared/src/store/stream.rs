//! The table's stream, read back: a stream record of a token item as a domain [`Change`]. Items
//! that are not token items (audit events, tickets, guards) are no change of a session.
//!
//! A TTL deletion is a `REMOVE` whose user identity is DynamoDB itself (`Service`,
//! `dynamodb.amazonaws.com`), which is how AWS marks it; the local stream pump marks
//! DynamoDB Local's TTL deletions the same way.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::AttributeValue;

use super::StoreError;
use super::attribute::{Attributes, Item};
use super::codec::{SESSION_SK, TOKEN_PREFIX, attr, record_of};
use crate::domain::{Change, TokenRecord};

/// The principal of TTL deletions in stream records.
pub const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// What a stream record says changed, when it is about a token item.
pub fn change_of(record: &EventRecord) -> Result<Option<Change>, StoreError> {
    let keys = item_of(&record.change.keys);
    let is_token_item = keys
        .text(attr::PK)
        .is_some_and(|pk| pk.starts_with(TOKEN_PREFIX))
        && keys.text(attr::SK) == Some(SESSION_SK);
    if !is_token_item {
        return Ok(None);
    }
    let image = |image: &serde_dynamo::Item| -> Result<TokenRecord, StoreError> {
        record_of(&item_of(image))
    };
    Ok(Some(match record.event_name.as_str() {
        "INSERT" => Change::Inserted(image(&record.change.new_image)?),
        "MODIFY" => Change::Modified {
            old: image(&record.change.old_image)?,
            new: image(&record.change.new_image)?,
        },
        "REMOVE" => Change::Removed {
            old: image(&record.change.old_image)?,
            by_ttl: record
                .user_identity
                .as_ref()
                .is_some_and(|who| who.type_ == "Service" && who.principal_id == TTL_PRINCIPAL),
        },
        _ => {
            return Err(StoreError::CorruptItem {
                attribute: "eventName",
            });
        }
    }))
}

/// A stream image as the SDK's item type, which the codec reads.
fn item_of(image: &serde_dynamo::Item) -> Item {
    let converted: HashMap<String, AttributeValue> = image.clone().into();
    converted
}
