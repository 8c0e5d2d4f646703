//! `template.yaml` read as the tests need it: as JSON with its tags kept (`!Ref X` becomes
//! `{"!Ref": "X"}`), and resolved as CloudFormation would resolve it for a stack with given
//! parameter values (`Ref`, `Sub`, `If`, `Equals`, `Not`, `And`, `Or`, `Condition`,
//! `AWS::NoValue`), resources standing for what the test put in their place.

use std::collections::HashMap;

use serde_json::{Value, json};

/// The template as JSON, tags kept.
pub fn template() -> Value {
    let text = include_str!("../../template.yaml");
    let yaml: serde_norway::Value = serde_norway::from_str(text).expect("template.yaml parses");
    to_json(&yaml)
}

/// Converts YAML to JSON, keeping tagged values (`!Ref X`) as `{"!Ref": "X"}`.
fn to_json(value: &serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => serde_json::to_value(n).expect("a number"),
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => items.iter().map(to_json).collect(),
        Y::Mapping(map) => map
            .iter()
            .map(|(k, v)| (k.as_str().expect("string keys").to_owned(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Y::Tagged(tagged) => json!({ format!("{}", tagged.tag): to_json(&tagged.value) }),
    }
}

/// A stack of the template: its parameter values (defaults unless overridden), and what stands
/// for each resource a `Ref` or `GetAtt` names.
pub struct Stack {
    template: Value,
    parameters: HashMap<String, String>,
    resources: HashMap<String, String>,
    /// `AWS::StackName`, `AWS::Region`, ...
    pseudo: HashMap<String, String>,
}

impl Stack {
    /// The template with `overrides` of its parameters (as `sam deploy --parameter-overrides`)
    /// and `resources` (logical id, or `Id.Attribute`, to value).
    pub fn new(overrides: &[(&str, &str)], resources: &[(&str, String)]) -> Self {
        let template = template();
        let mut parameters: HashMap<String, String> = template["Parameters"]
            .as_object()
            .expect("parameters")
            .iter()
            .map(|(name, p)| {
                let default = match &p["Default"] {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (name.clone(), default)
            })
            .collect();
        for (name, value) in overrides {
            assert!(parameters.contains_key(*name), "no parameter {name}");
            parameters.insert((*name).to_owned(), (*value).to_owned());
        }
        let pseudo = [
            ("AWS::StackName", "wiring"),
            ("AWS::Region", "us-east-1"),
            ("AWS::AccountId", "123456789012"),
            ("AWS::Partition", "aws"),
            ("AWS::URLSuffix", "amazonaws.com"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Self {
            template,
            parameters,
            resources: resources
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            pseudo,
        }
    }

    /// The template as JSON.
    pub fn template(&self) -> &Value {
        &self.template
    }

    /// Whether the condition `name` holds for this stack.
    pub fn condition(&self, name: &str) -> bool {
        let definition = &self.template["Conditions"][name];
        assert!(!definition.is_null(), "no condition {name}");
        self.truth(definition)
    }

    fn truth(&self, value: &Value) -> bool {
        let (function, arguments) = single(value).expect("a condition function");
        let items = arguments.as_array();
        match function {
            "!Equals" => {
                let items = items.expect("two operands");
                self.resolve(&items[0]) == self.resolve(&items[1])
            }
            "!Not" => !self.truth(&items.expect("one operand")[0]),
            "!And" => items.expect("operands").iter().all(|c| self.truth(c)),
            "!Or" => items.expect("operands").iter().any(|c| self.truth(c)),
            "!Condition" => self.condition(arguments.as_str().expect("a name")),
            other => panic!("not a condition function: {other}"),
        }
    }

    /// The value of `value` in this stack: `None` for `AWS::NoValue` (the property is absent).
    pub fn resolve(&self, value: &Value) -> Option<Value> {
        let Some((function, argument)) = single(value) else {
            return Some(match value {
                Value::Object(map) => map
                    .iter()
                    .filter_map(|(k, v)| self.resolve(v).map(|v| (k.clone(), v)))
                    .collect::<serde_json::Map<_, _>>()
                    .into(),
                Value::Array(items) => items.iter().filter_map(|v| self.resolve(v)).collect(),
                other => other.clone(),
            });
        };
        match function {
            "!Ref" => {
                let name = argument.as_str().expect("a name");
                if name == "AWS::NoValue" {
                    return None;
                }
                Some(Value::String(self.named(name)))
            }
            "!GetAtt" => Some(Value::String(
                self.named(argument.as_str().expect("Id.Attr")),
            )),
            "!Sub" => {
                let mut text = argument.as_str().expect("a string").to_owned();
                while let Some(start) = text.find("${") {
                    let end = start + text[start..].find('}').expect("a closing brace");
                    let value = self.named(&text[start + 2..end]);
                    text.replace_range(start..=end, &value);
                }
                Some(Value::String(text))
            }
            "!If" => {
                let branches = argument.as_array().expect("[condition, then, else]");
                let chosen = if self.condition(branches[0].as_str().expect("a condition")) {
                    &branches[1]
                } else {
                    &branches[2]
                };
                self.resolve(chosen)
            }
            "!Split" => {
                let items = argument.as_array().expect("[separator, text]");
                let separator = items[0].as_str().expect("a separator");
                let text = self.resolve(&items[1])?;
                Some(
                    text.as_str()
                        .expect("text")
                        .split(separator)
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                )
            }
            other => panic!("the wiring test does not resolve {other}"),
        }
    }

    /// A parameter's value, a pseudo parameter, or what stands for a resource.
    fn named(&self, name: &str) -> String {
        self.parameters
            .get(name)
            .or_else(|| self.pseudo.get(name))
            .or_else(|| self.resources.get(name))
            .cloned()
            .unwrap_or_else(|| panic!("nothing stands for {name} in this stack"))
    }
}

/// `(function, argument)` of a one-key object whose key is a tag (`{"!Ref": "X"}`).
fn single(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (key, argument) = map.iter().next()?;
    key.starts_with('!').then_some((key.as_str(), argument))
}
