//! `probesim-lab`: builds a simulated cluster and plays a scenario in it.

fn main() -> std::process::ExitCode {
    eprintln!("probesim-lab: no command yet");
    std::process::ExitCode::from(2)
}
