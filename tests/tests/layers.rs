//! The library's layers only point down, each file has one concern, and the rules that must
//! live in one place do. Reads `shared/src` as text: run it alone with
//! `cargo test -p session-tests --test layers`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crate's top-level modules and the ones each may import (`crate::<module>`). The order
/// is the layering: domain ← store, identity ← session ← http ← handlers, guard ← config, app;
/// `metrics` (counting what an invocation did) is below them all.
const LAYERS: &[(&str, &[&str])] = &[
    ("metrics", &[]),
    ("domain", &["metrics"]),
    ("telemetry", &[]),
    ("store", &["domain"]),
    ("identity", &["domain"]),
    ("events", &["metrics", "domain", "store"]),
    ("tokens", &["metrics", "domain", "store"]),
    ("session", &["metrics", "domain", "store", "identity"]),
    (
        "http",
        &["metrics", "domain", "store", "identity", "session"],
    ),
    (
        "handlers",
        &[
            "metrics", "domain", "store", "identity", "session", "http", "events", "tokens",
        ],
    ),
    (
        "guard",
        &["metrics", "domain", "store", "identity", "session", "http"],
    ),
    (
        "config",
        &[
            "domain", "store", "identity", "session", "http", "events", "tokens",
        ],
    ),
    (
        "app",
        &[
            "metrics", "domain", "store", "identity", "session", "http", "events", "tokens",
            "handlers", "guard", "config",
        ],
    ),
];

/// Most lines of code a file may have before its tests (a sign of more than one job).
const MAX_CODE_LINES: usize = 600;

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src")
}

/// Every `.rs` file under `shared/src`, with its path relative to it.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let root = source_root();
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    assert!(out.len() > 20, "shared/src not found at {}", root.display());
    out
}

/// The top-level module a file belongs to: `store/codec.rs` → `store`, `config.rs` → `config`.
fn module_of(relative: &str) -> &str {
    let first = relative.split('/').next().unwrap();
    first.strip_suffix(".rs").unwrap_or(first)
}

/// The code of a file, without comments and before its `#[cfg(test)]` modules.
fn code_lines(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect()
}

/// The top-level modules a file names as `crate::<module>`.
fn crate_imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in code_lines(text) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut violations = Vec::new();
    for (file, text) in sources() {
        let module = module_of(&file);
        if module == "lib" {
            continue; // declarations and re-exports only
        }
        let may_use = allowed
            .get(module)
            .unwrap_or_else(|| panic!("{file}: module {module} is not in LAYERS"));
        for used in crate_imports(&text) {
            if used != module && !may_use.contains(&used.as_str()) {
                violations.push(format!("{file} imports crate::{used}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "upward imports:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_layer_table_has_no_cycle() {
    // Each module may only use modules listed before it: then no cycle is possible.
    for (i, (module, uses)) in LAYERS.iter().enumerate() {
        let earlier: Vec<&str> = LAYERS[..i].iter().map(|(m, _)| *m).collect();
        for used in *uses {
            assert!(
                earlier.contains(used),
                "{module} uses {used}, which is not below it"
            );
        }
    }
}

#[test]
fn no_file_has_more_than_one_jobs_worth_of_code() {
    let long: Vec<String> = sources()
        .iter()
        .map(|(file, text)| (file, code_lines(text).len()))
        .filter(|(_, lines)| *lines > MAX_CODE_LINES)
        .map(|(file, lines)| format!("{file}: {lines} lines"))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_CODE_LINES} lines of code:\n{}",
        long.join("\n")
    );
}

#[test]
fn only_the_domain_truncates_timestamps_or_decides_expiry() {
    let mut copies = Vec::new();
    for (file, text) in sources() {
        if module_of(&file) == "domain" {
            continue;
        }
        for line in code_lines(&text) {
            let compact: String = line.split_whitespace().collect();
            let restates_expiry = [
                "expires_at>now",
                "expires_at<=now",
                "now>=self.expires_at",
                "now<self.expires_at",
                ".min(session.absolute_expires_at)",
                "expires_at.min(",
                "trunc_subsecs",
            ]
            .iter()
            .any(|pattern| compact.contains(pattern));
            if restates_expiry {
                copies.push(format!("{file}: {}", line.trim()));
            }
        }
    }
    assert!(
        copies.is_empty(),
        "expiry or precision rules outside domain:\n{}",
        copies.join("\n")
    );
}

#[test]
fn only_the_store_talks_to_dynamodb() {
    let outside: Vec<String> = sources()
        .iter()
        .filter(|(file, _)| module_of(file) != "store")
        .filter(|(_, text)| {
            code_lines(text)
                .iter()
                .any(|l| l.contains("aws_sdk_dynamodb::"))
        })
        .map(|(file, _)| file.clone())
        .collect();
    assert!(
        outside.is_empty(),
        "DynamoDB used outside store: {outside:?}"
    );
}

#[test]
fn every_module_says_what_it_owns() {
    let missing: Vec<String> = sources()
        .iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(file, _)| file.clone())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! header: {missing:?}"
    );
}
