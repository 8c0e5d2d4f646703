//! `make test`'s last check, both ways, per operation: every status docs/openapi.yaml documents
//! for an operation was produced by that operation somewhere in the tests (the
//! `METHOD path status` lines the test harness appends to SESSION_STATUS_LOG), and every status
//! a test saw an operation answer is documented for it; and every response header it documents
//! for a status (directly or through a `$ref`) was sent with that status by some test. Requests
//! that are no documented operation (unknown routes, other methods, preflights) are not checked
//! here. Exits 1 listing the gaps. Usage: `documented-statuses <statuses.log>`.

use std::collections::BTreeSet;
use std::process::ExitCode;

/// Whether a concrete path (`/sessions/6f1c`) is an instance of a pattern (`/sessions/{id}`).
fn matches(pattern: &str, path: &str) -> bool {
    let (p, c): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == c.len()
        && p.iter()
            .zip(&c)
            .all(|(p, c)| (p.starts_with('{') && p.ends_with('}') && !c.is_empty()) || p == c)
}

/// A response object, following a `$ref` into `components/responses`.
fn resolve<'a>(
    doc: &'a serde_json::Value,
    response: &'a serde_json::Value,
) -> &'a serde_json::Value {
    match response["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/responses/"))
    {
        Some(name) => &doc["components"]["responses"][name],
        None => response,
    }
}

fn main() -> ExitCode {
    let Some(log) = std::env::args().nth(1) else {
        eprintln!("usage: documented-statuses <statuses.log>");
        return ExitCode::from(2);
    };
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let doc: serde_json::Value = match std::fs::read_to_string(format!("{root}/docs/openapi.yaml"))
        .map_err(|e| e.to_string())
        .and_then(|text| serde_norway::from_str(&text).map_err(|e| e.to_string()))
    {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("docs/openapi.yaml: {e}");
            return ExitCode::FAILURE;
        }
    };
    let lines: Vec<(String, String, u16, BTreeSet<String>)> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let (method, path, status) = (parts.next()?, parts.next()?, parts.next()?);
            let headers = parts
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .collect();
            Some((
                method.to_owned(),
                path.to_owned(),
                status.parse().ok()?,
                headers,
            ))
        })
        .collect();
    let seen: BTreeSet<(String, String, u16)> = lines
        .iter()
        .map(|(m, p, s, _)| (m.clone(), p.clone(), *s))
        .collect();
    let mut headers_missing = Vec::new();

    let mut documented = 0;
    let mut missing = Vec::new();
    let mut undocumented = BTreeSet::new();
    let mut defaults = Vec::new();
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (pattern, operations) in &paths {
        for (method, operation) in operations.as_object().into_iter().flatten() {
            let method = method.to_ascii_uppercase();
            let listed: BTreeSet<u16> = operation["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(s, _)| s.parse().ok())
                .collect();
            if operation["responses"].get("default").is_some() {
                defaults.push(format!("{method} {pattern}"));
            }
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                let Ok(status) = status.parse::<u16>() else {
                    continue;
                };
                let response = resolve(&doc, response);
                for header in response["headers"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(h, _)| h)
                {
                    let header = header.to_ascii_lowercase();
                    let sent = lines.iter().any(|(m, p, s, names)| {
                        *m == method
                            && *s == status
                            && matches(pattern, p)
                            && names.contains(&header)
                    });
                    if !sent {
                        headers_missing.push(format!("{method} {pattern} {status} {header}"));
                    }
                }
            }
            for status in &listed {
                documented += 1;
                let produced = seen
                    .iter()
                    .any(|(m, p, s)| *m == method && s == status && matches(pattern, p));
                if !produced {
                    missing.push(format!("{method} {pattern} {status}"));
                }
            }
            for (_, path, status) in seen
                .iter()
                .filter(|(m, p, _)| *m == method && matches(pattern, p))
            {
                // A concrete path may match several patterns (`/sessions/current` and
                // `/sessions/{session_id}`): the literal one is the operation.
                let literal_elsewhere = paths.keys().any(|other| {
                    other != pattern
                        && !other.contains('{')
                        && other.as_str() == path.as_str()
                        && paths[other].get(method.to_ascii_lowercase()).is_some()
                });
                if !literal_elsewhere && !listed.contains(status) {
                    undocumented.insert(format!("{method} {pattern} {status} (seen as {path})"));
                }
            }
        }
    }
    if documented == 0 {
        eprintln!("docs/openapi.yaml documents no statuses");
        return ExitCode::FAILURE;
    }
    let mut failed = false;
    if !defaults.is_empty() {
        failed = true;
        eprintln!("documents a `default` response (with it any status conforms): list them");
        for operation in &defaults {
            eprintln!("  {operation}");
        }
    }
    if !missing.is_empty() {
        failed = true;
        eprintln!("documented in docs/openapi.yaml but produced by no test:");
        for gap in &missing {
            eprintln!("  {gap}");
        }
    }
    if !headers_missing.is_empty() {
        failed = true;
        eprintln!("response headers documented in docs/openapi.yaml that no test saw sent:");
        for gap in &headers_missing {
            eprintln!("  {gap}");
        }
    }
    if !undocumented.is_empty() {
        failed = true;
        eprintln!("answered in the tests but not documented in docs/openapi.yaml:");
        for gap in &undocumented {
            eprintln!("  {gap}");
        }
    }
    if failed {
        return ExitCode::FAILURE;
    }
    println!(
        "all {documented} statuses documented in docs/openapi.yaml were produced by the tests, and every status they saw is documented ({} distinct requests seen)",
        seen.len()
    );
    ExitCode::SUCCESS
}
