//! The table of `explain --output table`: one block per Service or Ingress.

use std::fmt::Write;

use crate::explain::compare::Comparison;
use crate::explain::{Explanation, describe, json::settings_json};
use crate::lb::azure::CpaVersion;
use crate::model::{Rule, ServiceResult};

/// Lays out rows of cells in left-aligned columns, two spaces apart, each line indented.
pub fn columns(rows: &[Vec<String>], indent: &str) -> String {
    let widths = rows.iter().fold(Vec::<usize>::new(), |mut w, row| {
        for (i, cell) in row.iter().enumerate() {
            let len = cell.chars().count();
            match w.get_mut(i) {
                Some(x) => *x = (*x).max(len),
                None => w.push(len),
            }
        }
        w
    });
    let mut out = String::new();
    for row in rows {
        let mut line = indent.to_owned();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `80/TCP`, or `all` for an HA-ports rule (port 0).
pub fn rule_port(rule: &Rule) -> String {
    if rule.port == 0 {
        "all".to_owned()
    } else {
        format!("{}/{}", rule.port, rule.protocol.as_str())
    }
}

/// The one-line header: cloud and the settings that shaped the derivation.
pub fn header(explanation: &Explanation, cloud_note: Option<&str>) -> String {
    let mut s = format!("cloud: {}", explanation.settings.cloud);
    if let Some(note) = cloud_note {
        let _ = write!(s, " ({note})");
    }
    if let serde_json::Value::Object(map) = settings_json(&explanation.settings) {
        for (k, v) in map {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            let _ = write!(s, "  {}: {v}", k.replace('_', " "));
        }
    }
    s
}

pub fn render(explanation: &Explanation, cloud_note: Option<&str>) -> String {
    let mut out = header(explanation, cloud_note);
    out.push('\n');
    if explanation.results.is_empty() {
        out.push_str(
            "\nNo Service of type LoadBalancer or load-balanced Ingress for this cloud in the input.\n",
        );
    }
    for result in &explanation.results {
        let _ = write!(out, "\n{}  ({})\n", result.object, result.load_balancer);
        if !result.rules.is_empty() {
            let mut rows = vec![vec![
                "PORT".to_owned(),
                "PROBE".to_owned(),
                "TARGET".to_owned(),
                "TIMING".to_owned(),
            ]];
            for rule in &result.rules {
                let mut port = rule_port(rule);
                if rule.service != result.object {
                    port = format!("{}:{port}", rule.service.name);
                }
                rows.push(match &rule.probe {
                    Some(p) => vec![
                        port,
                        describe::what(p),
                        describe::target(p).to_owned(),
                        describe::when(p),
                    ],
                    None => vec![port, "no probe".to_owned(), String::new(), String::new()],
                });
            }
            out.push_str(&columns(&rows, "  "));
        }
        for e in &result.errors {
            let _ = writeln!(out, "  error: {e}");
        }
        for w in &result.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
    }
    out
}

/// The two versions side by side per object, then the changes in words and what to do.
pub fn render_compare(
    c: &Comparison,
    v1: CpaVersion,
    v2: CpaVersion,
    cloud_note: Option<&str>,
) -> String {
    let mut out = format!("cloud: {}", c.to.settings.cloud);
    if let Some(note) = cloud_note {
        let _ = write!(out, " ({note})");
    }
    let _ = writeln!(out, "\ncomparing {v1} -> {v2}");
    let mut objects: Vec<&ServiceResult> = c.from.results.iter().collect();
    objects.extend(
        c.to.results
            .iter()
            .filter(|b| !c.from.results.iter().any(|a| a.object == b.object)),
    );
    if objects.is_empty() {
        out.push_str("\nNo Service of type LoadBalancer or load-balanced Ingress for this cloud in the input.\n");
    }
    for r in objects {
        let a = c.from.results.iter().find(|x| x.object == r.object);
        let b = c.to.results.iter().find(|x| x.object == r.object);
        let _ = write!(out, "\n{}  ({})\n", r.object, r.load_balancer);
        let mut rows = vec![vec!["PORT".to_owned(), v1.to_string(), v2.to_string()]];
        let mut ports: Vec<&Rule> = a.map(|a| a.rules.iter().collect()).unwrap_or_default();
        for rb in b.iter().flat_map(|b| &b.rules) {
            if !ports
                .iter()
                .any(|p| p.port == rb.port && p.protocol == rb.protocol)
            {
                ports.push(rb);
            }
        }
        let cell = |res: Option<&ServiceResult>, rule: &Rule| -> String {
            let Some(res) = res else {
                return "not handled".to_owned();
            };
            if !res.errors.is_empty() {
                return "rejected".to_owned();
            }
            match res
                .rules
                .iter()
                .find(|x| x.port == rule.port && x.protocol == rule.protocol)
            {
                None => "no rule".to_owned(),
                Some(Rule { probe: None, .. }) => "no probe".to_owned(),
                Some(Rule { probe: Some(p), .. }) => describe::what(p),
            }
        };
        for rule in ports {
            rows.push(vec![rule_port(rule), cell(a, rule), cell(b, rule)]);
        }
        out.push_str(&columns(&rows, "  "));
        match c
            .changes
            .iter()
            .find(|ch| ch.object == r.object.to_string())
        {
            None => out.push_str("  no change\n"),
            Some(ch) => {
                for line in &ch.changes {
                    let _ = writeln!(out, "  change: {line}");
                }
                for line in &ch.advice {
                    let _ = writeln!(out, "  what to do: {line}");
                }
            }
        }
        for (v, res) in [(v1, a), (v2, b)] {
            for w in res.iter().flat_map(|r| &r.warnings) {
                let _ = writeln!(out, "  warning ({v}): {w}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell_and_trim_trailing_space() {
        let rows = vec![
            vec!["A".to_owned(), "BBB".to_owned(), "C".to_owned()],
            vec!["long".to_owned(), "x".to_owned(), String::new()],
        ];
        assert_eq!(columns(&rows, "  "), "  A     BBB  C\n  long  x\n");
    }
}
