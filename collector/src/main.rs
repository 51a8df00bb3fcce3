//! `probesim-collector`: see `probesim-collector --help`.

use anyhow::Context;
use clap::Parser;
use probesim_collector::cmd::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => probesim_collector::cmd::serve::run(args)
            .await
            .context("probesim-collector serve"),
        Command::Report(args) => {
            let text = probesim_collector::cmd::report::run(args)
                .await
                .context("probesim-collector report")?;
            print!("{text}");
            Ok(())
        }
    }
}
