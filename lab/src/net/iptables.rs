//! Rules as `iptables-restore` input, applied the way kube-proxy applies its own: `--noflush`,
//! so that only the chains named here are rewritten, stale chains of ours are deleted, and the
//! jumps from the built-in chains are added once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::Result;
use super::cmd::exec_in_async;

/// The chains this module may delete when nothing declares them any more (kube-proxy's prefix;
/// the NetworkPolicy chains share it).
pub const OWNED_CHAIN_PREFIX: &str = "KUBE-";
/// How long `iptables-restore` waits for the xtables lock that another namespace's restore holds.
const LOCK_WAIT_SECONDS: &str = "5";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Filter,
    Nat,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
        }
    }

    fn from_name(name: &str) -> Option<Table> {
        match name {
            "filter" => Some(Table::Filter),
            "nat" => Some(Table::Nat),
            _ => None,
        }
    }
}

/// A jump from a built-in chain into one of ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hook {
    pub table: Table,
    pub builtin: &'static str,
    /// Rule text before `-j target`.
    pub args: &'static str,
    pub target: &'static str,
    /// Put first in the built-in chain rather than last.
    pub first: bool,
}

/// Chains and their rules for the tables this module writes, in the order they were added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    tables: BTreeMap<Table, TableRules>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct TableRules {
    chains: Vec<String>,
    declared: BTreeSet<String>,
    rules: Vec<String>,
}

impl Ruleset {
    /// Declares `chain` (written, hence flushed, on every restore) once.
    pub fn chain(&mut self, table: Table, chain: &str) {
        let t = self.tables.entry(table).or_default();
        if t.declared.insert(chain.to_owned()) {
            t.chains.push(chain.to_owned());
        }
    }

    /// Appends `-A chain args`, declaring `chain` if needed.
    pub fn rule(&mut self, table: Table, chain: &str, args: &str) {
        self.chain(table, chain);
        let t = self.tables.entry(table).or_default();
        t.rules.push(format!("-A {chain} {args}"));
    }

    pub fn chains(&self, table: Table) -> impl Iterator<Item = &str> {
        self.tables
            .get(&table)
            .into_iter()
            .flat_map(|t| t.chains.iter().map(String::as_str))
    }

    /// The rules of `table` as `-A CHAIN ...` lines.
    pub fn rules(&self, table: Table) -> impl Iterator<Item = &str> {
        self.tables
            .get(&table)
            .into_iter()
            .flat_map(|t| t.rules.iter().map(String::as_str))
    }

    /// The rules of one chain, without the `-A CHAIN ` in front.
    pub fn chain_rules<'a>(&'a self, table: Table, chain: &'a str) -> Vec<&'a str> {
        let head = format!("-A {chain} ");
        self.rules(table)
            .filter_map(|r| r.strip_prefix(head.as_str()))
            .collect()
    }

    /// Adds `other`'s chains and rules after this one's.
    pub fn extend(&mut self, other: Ruleset) {
        for (table, rules) in other.tables {
            for chain in &rules.chains {
                self.chain(table, chain);
            }
            self.tables
                .entry(table)
                .or_default()
                .rules
                .extend(rules.rules);
        }
    }

    /// The `iptables-restore --noflush` input: filter then nat, as kube-proxy writes it; in each,
    /// the declarations, the rules, the `missing` hooks, and the deletion of `stale` chains.
    pub fn restore_text(&self, missing: &[Hook], stale: &[(Table, String)]) -> String {
        let mut text = String::new();
        for table in [Table::Filter, Table::Nat] {
            let empty = TableRules::default();
            let t = self.tables.get(&table).unwrap_or(&empty);
            let hooks: Vec<&Hook> = missing.iter().filter(|h| h.table == table).collect();
            let gone: Vec<&String> = stale
                .iter()
                .filter(|(tt, _)| *tt == table)
                .map(|(_, c)| c)
                .collect();
            if t.chains.is_empty() && hooks.is_empty() && gone.is_empty() {
                continue;
            }
            let _ = writeln!(text, "*{}", table.name());
            for chain in t.chains.iter().chain(gone.iter().copied()) {
                let _ = writeln!(text, ":{chain} - [0:0]");
            }
            for rule in &t.rules {
                let _ = writeln!(text, "{rule}");
            }
            for hook in hooks {
                let verb = if hook.first { "-I" } else { "-A" };
                let _ = writeln!(
                    text,
                    "{verb} {} {} -j {}",
                    hook.builtin, hook.args, hook.target
                );
            }
            for chain in gone {
                let _ = writeln!(text, "-X {chain}");
            }
            text.push_str("COMMIT\n");
        }
        text
    }
}

/// `-m comment --comment "text"` (double quotes in `text` become single ones).
pub fn comment(text: &str) -> String {
    format!("-m comment --comment \"{}\"", text.replace('"', "'"))
}

/// kube-proxy's chain names: `prefix` and the first 16 characters of the base32 SHA-256 of
/// `what` (service port name, protocol, and for KUBE-SEP the endpoint).
pub fn chain_name(prefix: &str, what: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, what.as_bytes());
    let encoded = data_encoding::BASE32.encode(digest.as_ref());
    format!("{prefix}{}", &encoded[..16])
}

/// What `iptables-save` shows: the chains of each table, and the targets each chain jumps to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Saved {
    pub chains: BTreeSet<(Table, String)>,
    pub jumps: BTreeSet<(Table, String, String)>,
}

impl Saved {
    pub fn parse(text: &str) -> Saved {
        let mut saved = Saved::default();
        let mut table = None;
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('*') {
                table = Table::from_name(name.trim());
            } else if let (Some(t), Some(decl)) = (table, line.strip_prefix(':')) {
                if let Some(chain) = decl.split_whitespace().next() {
                    saved.chains.insert((t, chain.to_owned()));
                }
            } else if let (Some(t), Some(rule)) = (table, line.strip_prefix("-A ")) {
                let chain = rule.split_whitespace().next().unwrap_or_default();
                if let Some((_, after)) = rule.split_once(" -j ") {
                    let target = after.split_whitespace().next().unwrap_or_default();
                    saved.jumps.insert((t, chain.to_owned(), target.to_owned()));
                }
            }
        }
        saved
    }

    /// Our chains that exist but that `ruleset` no longer declares.
    pub fn stale(&self, ruleset: &Ruleset) -> Vec<(Table, String)> {
        self.chains
            .iter()
            .filter(|(t, c)| {
                c.starts_with(OWNED_CHAIN_PREFIX) && !ruleset.chains(*t).any(|d| d == c)
            })
            .cloned()
            .collect()
    }

    /// The hooks not in place yet.
    pub fn missing(&self, hooks: &[Hook]) -> Vec<Hook> {
        hooks
            .iter()
            .filter(|h| {
                !self
                    .jumps
                    .contains(&(h.table, h.builtin.to_owned(), h.target.to_owned()))
            })
            .copied()
            .collect()
    }
}

/// Writes `ruleset` and `hooks` into the namespace's tables in one `iptables-restore` run.
/// Chains `ruleset` declares must include every target of `hooks`.
pub async fn apply(namespace: &str, ruleset: &Ruleset, hooks: &[Hook]) -> Result<()> {
    let saved = Saved::parse(&exec_in_async(namespace, "iptables-save", &[], None).await?);
    let text = ruleset.restore_text(&saved.missing(hooks), &saved.stale(ruleset));
    exec_in_async(
        namespace,
        "iptables-restore",
        &["-w", LOCK_WAIT_SECONDS, "--noflush"],
        Some(&text),
    )
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-POD-FW-OLD - [0:0]\n:OTHER - [0:0]\n-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SVC-GONE - [0:0]\nCOMMIT\n";

    #[test]
    fn restore_text_declares_appends_hooks_and_deletes_stale_chains_per_table() {
        let mut rules = Ruleset::default();
        rules.rule(Table::Nat, "KUBE-SERVICES", "-j KUBE-NODEPORTS");
        rules.chain(Table::Nat, "KUBE-NODEPORTS");
        rules.chain(Table::Filter, "KUBE-FORWARD");
        rules.rule(
            Table::Filter,
            "KUBE-FORWARD",
            &format!("{} -j ACCEPT", comment("say \"hi\"")),
        );
        let hooks = [
            Hook {
                table: Table::Filter,
                builtin: "FORWARD",
                args: "-m comment --comment x",
                target: "KUBE-FORWARD",
                first: true,
            },
            Hook {
                table: Table::Nat,
                builtin: "PREROUTING",
                args: "-m comment --comment y",
                target: "KUBE-SERVICES",
                first: false,
            },
        ];
        let saved = Saved::parse(SAVED);
        let missing = saved.missing(&hooks);
        assert_eq!(missing, [hooks[1]]);
        let stale = saved.stale(&rules);
        assert_eq!(
            stale,
            [
                (Table::Filter, "KUBE-POD-FW-OLD".to_owned()),
                (Table::Nat, "KUBE-SVC-GONE".to_owned())
            ]
        );
        assert_eq!(
            rules.restore_text(&missing, &stale),
            "*filter\n:KUBE-FORWARD - [0:0]\n:KUBE-POD-FW-OLD - [0:0]\n-A KUBE-FORWARD -m comment --comment \"say 'hi'\" -j ACCEPT\n-X KUBE-POD-FW-OLD\nCOMMIT\n\
             *nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-SVC-GONE - [0:0]\n-A KUBE-SERVICES -j KUBE-NODEPORTS\n-A PREROUTING -m comment --comment y -j KUBE-SERVICES\n-X KUBE-SVC-GONE\nCOMMIT\n"
        );
        assert_eq!(
            rules.chain_rules(Table::Nat, "KUBE-SERVICES"),
            ["-j KUBE-NODEPORTS"]
        );
    }
}
