//! `probesim-agent explain`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use probesim_agent::explain::{Explanation, compare, json, table};
use probesim_agent::lb::azure::CpaVersion;
use probesim_agent::manifest;

use super::EXIT_BAD_INPUT;
use super::settings::DeriveArgs;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Manifest files (YAML or JSON, multi-document, kubectl Lists); `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    settings: DeriveArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: OutputArg,
    /// Two versions to compare, e.g. `1.23,1.24`: what the upgrade changes and what to do.
    #[arg(long, value_name = "V1,V2")]
    compare: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutputArg {
    Table,
    Json,
}

pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let loaded = match manifest::load_paths(&args.files) {
        Ok(loaded) => loaded,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let (settings, cloud_note) = match args.settings.resolve(&loaded.objects) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let text = match &args.compare {
        None => {
            let explanation = Explanation::new(&loaded.objects, settings);
            match args.output {
                OutputArg::Json => {
                    serde_json::to_string_pretty(&json::ExplainJson::new(&explanation))? + "\n"
                }
                OutputArg::Table => table::render(&explanation, cloud_note.as_deref()),
            }
        }
        Some(spec) => {
            let (v1, v2) = match parse_compare(spec) {
                Ok(v) => v,
                Err(message) => {
                    eprintln!("error: --compare {spec:?}: {message}");
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
            };
            let comparison = compare::compare(&loaded.objects, &settings, v1, v2);
            match args.output {
                OutputArg::Json => {
                    serde_json::to_string_pretty(&compare_json(&comparison, v1, v2))? + "\n"
                }
                OutputArg::Table => {
                    table::render_compare(&comparison, v1, v2, cloud_note.as_deref())
                }
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()) {
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => other
            .context("writing to standard output")
            .map(|()| ExitCode::SUCCESS),
    }
}

fn parse_compare(spec: &str) -> Result<(CpaVersion, CpaVersion), String> {
    let (a, b) = spec
        .split_once(',')
        .ok_or("expected two versions separated by a comma, e.g. 1.23,1.24 or v1.23.5,1.24")?;
    let parse = |s: &str| s.parse::<CpaVersion>().map_err(|e| e.to_string());
    Ok((parse(a)?, parse(b)?))
}

#[derive(serde::Serialize)]
struct CompareJson<'a> {
    from: String,
    to: String,
    before: json::ExplainJson,
    after: json::ExplainJson,
    changes: &'a [compare::ObjectChange],
}

fn compare_json(c: &compare::Comparison, v1: CpaVersion, v2: CpaVersion) -> CompareJson<'_> {
    CompareJson {
        from: v1.to_string(),
        to: v2.to_string(),
        before: json::ExplainJson::new(&c.from),
        after: json::ExplainJson::new(&c.to),
        changes: &c.changes,
    }
}
