//! Write units by DynamoDB's documented rules, from what a call really changed in the table:
//! the items before and after it, and the table's own index definitions (`infra/table.json`).
//! DynamoDB Local's `ReturnConsumedCapacity` is not used: it under-counts index writes (it
//! reports 6 units for a transaction that the rules price at 12).
//!
//! The rules (DynamoDB Developer Guide, "Read/write capacity mode" and "Provisioned throughput
//! considerations for global secondary indexes"):
//! - a write of an item costs 1 unit per KB (rounded up) of the larger of the item before and
//!   after it (a delete: the item deleted);
//! - for each global secondary index: putting an entry (the item gains the index's keys) 1 unit,
//!   removing one (it loses them) 1, changing its key 2 (a delete and a put), changing only a
//!   projected attribute 1, nothing when the item is in the index neither before nor after or
//!   when neither its key nor a projected attribute changed; each rounded up per KB of entry;
//! - a write in a transaction costs twice as much.
//!
//! Item size: the UTF-8 length of each attribute name plus its value's size: a string its UTF-8
//! length, a binary its length, a number (significant digits / 2, rounded up) + 1, a boolean or
//! null 1.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use session_shared::store::TABLE_DEFINITION_JSON;

type Item = HashMap<String, AttributeValue>;

/// Every item of a table at one moment, by primary key.
#[derive(Debug, Clone, Default)]
pub struct Snapshot(BTreeMap<(String, String), Item>);

impl Snapshot {
    /// The snapshot of `items` (a consistent scan).
    pub fn of(items: Vec<Item>) -> Self {
        Self(
            items
                .into_iter()
                .map(|item| {
                    let key = |name: &str| item[name].as_s().unwrap().clone();
                    ((key("pk"), key("sk")), item)
                })
                .collect(),
        )
    }
}

/// One item a call wrote, and what that cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemWrite {
    /// What the item was and became (`kind`, or the sort key for items without one;
    /// `-` for none): `- -> session`, `session -> retired`, `GUARD -> GUARD`.
    pub change: String,
    /// Units of the table write.
    pub table: u32,
    /// Units per index written, by index name (indexes not written are left out).
    pub indexes: BTreeMap<String, u32>,
}

impl ItemWrite {
    /// The table's and the indexes' units.
    pub fn units(&self) -> u32 {
        self.table + self.indexes.values().sum::<u32>()
    }
}

/// What a call wrote, item by item (sorted by change), with the units each cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written(pub Vec<ItemWrite>);

impl Written {
    /// The units of every write, each sent alone (`transaction: false`) or all in one
    /// transaction (twice the units).
    pub fn between(before: &Snapshot, after: &Snapshot, transaction: bool) -> Self {
        let indexes = Index::all();
        let mut keys: Vec<&(String, String)> = before.0.keys().chain(after.0.keys()).collect();
        keys.sort();
        keys.dedup();
        let factor: u32 = if transaction { 2 } else { 1 };
        let mut writes: Vec<ItemWrite> = keys
            .into_iter()
            .filter_map(|key| {
                let (old, new) = (before.0.get(key), after.0.get(key));
                if old == new {
                    return None;
                }
                let size = old.map_or(0, item_size).max(new.map_or(0, item_size));
                let per_index = indexes
                    .iter()
                    .filter_map(|index| {
                        let units = index.units(old, new);
                        (units > 0).then(|| (index.name.clone(), units * factor))
                    })
                    .collect();
                Some(ItemWrite {
                    change: format!("{} -> {}", label(old), label(new)),
                    table: size.div_ceil(1024).max(1) as u32 * factor,
                    indexes: per_index,
                })
            })
            .collect();
        writes.sort_by(|a, b| a.change.cmp(&b.change));
        Self(writes)
    }

    /// Every unit of every write.
    pub fn total(&self) -> u32 {
        self.0.iter().map(ItemWrite::units).sum()
    }

    /// The changes, in order (what was written, without the units).
    pub fn changes(&self) -> Vec<&str> {
        self.0.iter().map(|w| w.change.as_str()).collect()
    }

    /// The units of the item whose change is `change` (the first such).
    pub fn of(&self, change: &str) -> &ItemWrite {
        self.0
            .iter()
            .find(|w| w.change == change)
            .unwrap_or_else(|| panic!("no write {change:?} in {self:?}"))
    }
}

fn label(item: Option<&Item>) -> String {
    match item {
        None => "-".into(),
        Some(item) => item
            .get("kind")
            .or_else(|| item.get("sk"))
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_else(|| "?".into()),
    }
}

/// A global secondary index of the table definition.
struct Index {
    name: String,
    keys: Vec<String>,
    /// Projected non-key attributes (`None`: all).
    projected: Option<Vec<String>>,
}

impl Index {
    fn all() -> Vec<Self> {
        let definition: Value = serde_json::from_str(TABLE_DEFINITION_JSON).unwrap();
        definition["GlobalSecondaryIndexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|index| {
                let projection = &index["Projection"];
                Self {
                    name: index["IndexName"].as_str().unwrap().to_owned(),
                    keys: index["KeySchema"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| k["AttributeName"].as_str().unwrap().to_owned())
                        .collect(),
                    projected: match projection["ProjectionType"].as_str().unwrap() {
                        "ALL" => None,
                        "KEYS_ONLY" => Some(Vec::new()),
                        _ => Some(
                            projection["NonKeyAttributes"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|a| a.as_str().unwrap().to_owned())
                                .collect(),
                        ),
                    },
                }
            })
            .collect()
    }

    /// The item's entry in this index: its key values and projected values, if it is in it.
    fn entry(&self, item: Option<&Item>) -> Option<(Vec<AttributeValue>, Item)> {
        let item = item?;
        let key = self
            .keys
            .iter()
            .map(|k| item.get(k).cloned())
            .collect::<Option<Vec<_>>>()?;
        let projected = item
            .iter()
            .filter(|(name, _)| {
                self.projected
                    .as_ref()
                    .is_none_or(|list| list.contains(name))
                    && !self.keys.contains(name)
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        Some((key, projected))
    }

    fn units(&self, old: Option<&Item>, new: Option<&Item>) -> u32 {
        let entry_units = |entry: &(Vec<AttributeValue>, Item)| {
            let size: usize = self
                .keys
                .iter()
                .zip(&entry.0)
                .map(|(name, value)| name.len() + value_size(value))
                .sum::<usize>()
                + item_size(&entry.1);
            size.div_ceil(1024).max(1) as u32
        };
        match (self.entry(old), self.entry(new)) {
            (None, None) => 0,
            (Some(gone), None) => entry_units(&gone),
            (None, Some(added)) => entry_units(&added),
            (Some(was), Some(is)) if was.0 != is.0 => entry_units(&was) + entry_units(&is),
            (Some(was), Some(is)) if was.1 != is.1 => entry_units(&was).max(entry_units(&is)),
            (Some(_), Some(_)) => 0,
        }
    }
}

/// The size of an item by DynamoDB's rules (module docs).
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::N(n) => {
            let digits = n
                .trim_start_matches('-')
                .replace('.', "")
                .trim_start_matches('0')
                .trim_end_matches('0')
                .len()
                .max(1);
            digits.div_ceil(2) + 1
        }
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set
            .iter()
            .map(|n| value_size(&AttributeValue::N(n.clone())))
            .sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
            .collect()
    }

    fn snapshot(items: &[Item]) -> Snapshot {
        Snapshot::of(items.to_vec())
    }

    fn head() -> Item {
        item(&[
            ("pk", "TOKEN#a"),
            ("sk", "SESSION"),
            ("kind", "session"),
            ("gsi1pk", "USER#u"),
            ("gsi1sk", "SESSION#s"),
        ])
    }

    #[test]
    fn a_put_into_an_index_is_one_unit_for_the_table_and_one_for_the_index() {
        let head = head();
        let written = Written::between(
            &snapshot(&[]),
            &snapshot(std::slice::from_ref(&head)),
            false,
        );
        assert_eq!(written.total(), 2);
        assert_eq!(written.of("- -> session").indexes["sessions_by_user"], 1);
        assert_eq!(
            Written::between(&snapshot(&[]), &snapshot(&[head]), true).total(),
            4,
            "twice in a transaction"
        );
    }

    #[test]
    fn leaving_an_index_is_a_unit_and_a_change_of_an_unprojected_attribute_is_none() {
        let head = head();
        let retired = item(&[("pk", "TOKEN#a"), ("sk", "SESSION"), ("kind", "retired")]);
        let left = Written::between(
            &snapshot(std::slice::from_ref(&head)),
            &snapshot(&[retired]),
            false,
        );
        assert_eq!(left.total(), 2);
        let mut renamed = head.clone();
        renamed.insert("kind".into(), AttributeValue::S("other".into()));
        let unprojected = Written::between(
            &snapshot(std::slice::from_ref(&head)),
            &snapshot(&[renamed]),
            false,
        );
        assert_eq!(unprojected.total(), 1, "kind is not projected");
        let mut seen = head.clone();
        seen.insert("last_seen_at".into(), AttributeValue::N("1".into()));
        let projected = Written::between(&snapshot(&[head]), &snapshot(&[seen]), false);
        assert_eq!(projected.total(), 2, "last_seen_at is projected");
    }

    #[test]
    fn a_key_change_in_an_index_is_two_units_and_size_rounds_up_per_kb() {
        let a = item(&[
            ("pk", "G"),
            ("sk", "GUARD"),
            ("gsi2pk", "TENANT#a"),
            ("gsi2sk", "x"),
        ]);
        let b = item(&[
            ("pk", "G"),
            ("sk", "GUARD"),
            ("gsi2pk", "TENANT#b"),
            ("gsi2sk", "x"),
        ]);
        let moved = Written::between(&snapshot(&[a]), &snapshot(&[b]), false);
        assert_eq!(moved.of("GUARD -> GUARD").indexes["by_tenant"], 2);
        let big = item(&[("pk", "P"), ("sk", "S"), ("data", &"x".repeat(1100))]);
        assert_eq!(
            Written::between(&snapshot(&[]), &snapshot(&[big]), false).total(),
            2
        );
        assert_eq!(value_size(&AttributeValue::N("1700000000123".into())), 8);
    }
}
