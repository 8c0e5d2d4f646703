//! The one table definition (`infra/table.json`, in the shape of the CloudFormation
//! `AWS::DynamoDB::Table` properties) and the code that creates a table from it. `make dev`,
//! every storage test and `template.yaml` use the same definition; a test checks the template.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use serde::{Deserialize, Serialize};

use super::StoreError;

/// The definition's JSON text, embedded at build time.
pub const TABLE_DEFINITION_JSON: &str = include_str!("../../../infra/table.json");

/// The table: keys, indexes, billing and TTL, as CloudFormation names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TableDefinition {
    /// The key and index attributes.
    pub attribute_definitions: Vec<AttributeDef>,
    /// The table's key.
    pub key_schema: Vec<KeyDef>,
    /// The `sessions_by_user` and `by_tenant` indexes.
    pub global_secondary_indexes: Vec<IndexDef>,
    /// `PAY_PER_REQUEST`.
    pub billing_mode: String,
    /// The TTL attribute.
    pub time_to_live_specification: TtlDef,
    /// The stream `session-events` reads (`NEW_AND_OLD_IMAGES`).
    pub stream_specification: StreamDef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StreamDef {
    pub stream_view_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyDef>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProjectionDef {
    pub projection_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_key_attributes: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

/// Whether a created table gets DynamoDB TTL. DynamoDB Local deletes expired items within a
/// second when it is on, so tests of "expired but not yet deleted" items turn it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// TTL as the definition says (on).
    AsDefined,
    /// No TTL: expired items stay, as they do for hours in production.
    Disabled,
}

impl TableDefinition {
    /// The definition embedded at build time (`infra/table.json`).
    pub fn load() -> Result<Self, serde_json::Error> {
        serde_json::from_str(TABLE_DEFINITION_JSON)
    }

    /// Creates table `name` from this definition and waits until it is usable.
    pub async fn create(&self, client: &Client, name: &str, ttl: Ttl) -> Result<(), StoreError> {
        let key = |k: &KeyDef| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(StoreError::request)
        };
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::from(self.billing_mode.as_str()));
        for a in &self.attribute_definitions {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(&a.attribute_name)
                    .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                    .build()
                    .map_err(StoreError::request)?,
            );
        }
        for k in &self.key_schema {
            request = request.key_schema(key(k)?);
        }
        for index in &self.global_secondary_indexes {
            let projection = Projection::builder()
                .projection_type(ProjectionType::from(
                    index.projection.projection_type.as_str(),
                ))
                .set_non_key_attributes(index.projection.non_key_attributes.clone())
                .build();
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .projection(projection);
            for k in &index.key_schema {
                gsi = gsi.key_schema(key(k)?);
            }
            request = request.global_secondary_indexes(gsi.build().map_err(StoreError::request)?);
        }
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::from(
                self.stream_specification.stream_view_type.as_str(),
            ))
            .build()
            .map_err(StoreError::request)?;
        request
            .stream_specification(stream)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("create_table", e))?;

        if ttl == Ttl::AsDefined && self.time_to_live_specification.enabled {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(&self.time_to_live_specification.attribute_name)
                        .enabled(true)
                        .build()
                        .map_err(StoreError::request)?,
                )
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("update_time_to_live", e))?;
        }
        Ok(())
    }
}

/// Deletes table `name` (tests drop their table after use).
pub async fn delete_table(client: &Client, name: &str) -> Result<(), StoreError> {
    client
        .delete_table()
        .table_name(name)
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("delete_table", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_definition_parses() {
        let def = TableDefinition::load().unwrap();
        assert_eq!(def.key_schema[0].attribute_name, "pk");
        assert_eq!(def.time_to_live_specification.attribute_name, "ttl");
        assert!(
            def.global_secondary_indexes
                .iter()
                .any(|i| i.index_name == "sessions_by_user")
        );
    }
}
