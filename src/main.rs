//! The `vaultid` command. Everything it does is in the library's `cli`
//! module (feature `cli`, on by default): see [`vaultid::cli::main`].

fn main() -> std::process::ExitCode {
    vaultid::cli::main()
}
