//! The `vaultid` command: a thin shell over the library. Parses arguments,
//! calls one library function, prints one JSON object on stdout, or a
//! one-line error on stderr with the exit code of [`vaultid::Error::exit_code`].

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let result = cli::init_logging().and_then(|()| {
        let args = cli::utf8_args(std::env::args_os().skip(1))?;
        cli::run(&args)
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("vaultid: {}", cli::one_line(&cli::hints::with_hint(&e)));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
