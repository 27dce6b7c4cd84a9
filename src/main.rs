//! The `vaultid` command: a thin shell over the library. Parses arguments,
//! calls one library function, prints one JSON object on stdout, or a
//! one-line error on stderr with the exit code of [`vaultid::Error::exit_code`].

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("vaultid: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
