//! Vault settings for one command: the environment, under the Vault CLI's
//! global flags the command was given ([`VAULT_FLAGS`]: `-address`,
//! `-namespace`, `-ca-cert`, ...).
//!
//! Each flag stands for the variables it names and wins over them, as in
//! `bao`: the order is flag, then `BAO_X`, then `VAULT_X` (the `BAO_`
//! spelling is read first by [`crate::config`] for every name `bao`
//! reads). The agent address wins over the address, given as a flag or
//! not (`bao` 2.7.2 does the same). `-address` and `-agent-address` name
//! one server: `VAULTID_VAULT_ADDRS` is not read then.
//!
//! [`VAULT_FLAGS`]: super::args::VAULT_FLAGS

use crate::config::{Lookup, ProcessEnv, VaultConfig, ADDRS_VAR};
use crate::vault::Client;
use crate::Error;

use super::Args;

/// Each global flag and the variables it stands for.
const FLAG_VARS: &[(&str, &[&str])] = &[
    ("address", &["BAO_ADDR", "VAULT_ADDR", "VAULT__URL"]),
    ("agent-address", &["BAO_AGENT_ADDR", "VAULT_AGENT_ADDR"]),
    ("namespace", &["BAO_NAMESPACE", "VAULT_NAMESPACE"]),
    ("ns", &["BAO_NAMESPACE", "VAULT_NAMESPACE"]),
    ("ca-cert", &["BAO_CACERT", "VAULT_CACERT"]),
    ("ca-path", &["BAO_CAPATH", "VAULT_CAPATH"]),
    ("client-cert", &["BAO_CLIENT_CERT", "VAULT_CLIENT_CERT"]),
    ("client-key", &["BAO_CLIENT_KEY", "VAULT_CLIENT_KEY"]),
    (
        "tls-server-name",
        &["BAO_TLS_SERVER_NAME", "VAULT_TLS_SERVER_NAME"],
    ),
    ("tls-skip-verify", &["BAO_SKIP_VERIFY", "VAULT_SKIP_VERIFY"]),
];

/// The variables of `env`, with the ones a given flag stands for replaced
/// by the flag's value (an empty value, `-namespace=`, clears them).
pub(crate) struct FlagsOverEnv<'a> {
    args: &'a Args,
    env: &'a dyn Lookup,
}

impl<'a> FlagsOverEnv<'a> {
    /// `env` under the global flags in `args`; `-namespace` and `-ns`
    /// together are a usage error.
    pub(crate) fn new(args: &'a Args, env: &'a dyn Lookup) -> Result<FlagsOverEnv<'a>, Error> {
        if args.has("namespace") && args.has("ns") {
            return Err(Error::Config(
                "-ns is short for -namespace: give one of them".into(),
            ));
        }
        Ok(FlagsOverEnv { args, env })
    }

    /// The flag standing for variable `name`, when one was given.
    fn flag_for(&self, name: &str) -> Option<&'static str> {
        FLAG_VARS
            .iter()
            .find(|(flag, vars)| vars.contains(&name) && self.args.has(flag))
            .map(|(flag, _)| *flag)
    }
}

impl Lookup for FlagsOverEnv<'_> {
    fn get(&self, name: &str) -> Option<String> {
        if let Some(flag) = self.flag_for(name) {
            return self.args.value(flag).map(str::to_string);
        }
        // A server given on the command line is the one to use.
        if name == ADDRS_VAR && (self.args.has("address") || self.args.has("agent-address")) {
            return None;
        }
        self.env.get(name)
    }

    fn get_os(&self, name: &str) -> Option<std::ffi::OsString> {
        if let Some(flag) = self.flag_for(name) {
            return self.args.value(flag).map(std::ffi::OsString::from);
        }
        if name == ADDRS_VAR && (self.args.has("address") || self.args.has("agent-address")) {
            return None;
        }
        self.env.get_os(name)
    }

    fn source_of(&self, name: &str) -> String {
        match self.flag_for(name) {
            Some(flag) => format!("-{flag}"),
            None => self.env.source_of(name),
        }
    }
}

/// Vault settings from the environment under the command's global flags;
/// Vault is required here.
pub(crate) fn vault_config(a: &Args) -> Result<VaultConfig, Error> {
    VaultConfig::from_lookup(&FlagsOverEnv::new(a, &ProcessEnv)?)?.ok_or_else(|| {
        Error::Config(
            "this command needs Vault: set VAULT_ADDR (or pass -address) and VAULT_TOKEN or an auth method"
                .into(),
        )
    })
}

/// A client for the configured auth method; a login method logs in on
/// the first request. Wrap its use in
/// [`Client::revoke_own_token_on_drop`] so that a token it logs in for
/// does not outlive the command.
pub(crate) fn client(a: &Args) -> Result<Client, Error> {
    let c = Client::new(&vault_config(a)?)?;
    c.require_credentials()?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{opt, switch, VAULT_FLAGS};
    use std::collections::HashMap;

    fn args(a: &[&str]) -> Args {
        let spec: Vec<_> = [opt("format", "f"), switch("human", "h")]
            .iter()
            .chain(VAULT_FLAGS)
            .copied()
            .collect();
        let a: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        Args::parse(&a, &spec).unwrap()
    }

    fn config(a: &[&str], env: &[(&str, &str)]) -> Result<VaultConfig, Error> {
        let m: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |n: &str| m.get(n).cloned();
        let a = args(a);
        VaultConfig::from_lookup(&FlagsOverEnv::new(&a, &env)?)
            .map(|c| c.expect("an address is set"))
    }

    #[test]
    fn flags_win_over_bao_and_vault_variables() {
        let env = [
            ("BAO_ADDR", "http://bao:1"),
            ("VAULT_ADDR", "http://vault:1"),
            ("VAULT__URL", "http://url:1"),
            ("VAULTID_VAULT_ADDRS", "http://n1:1,http://n2:1"),
            ("BAO_NAMESPACE", "bao-ns"),
            ("VAULT_NAMESPACE", "vault-ns"),
            ("VAULT_SKIP_VERIFY", "false"),
            ("VAULT_CACERT", "/env/ca.pem"),
        ];
        let c = config(&[], &env).unwrap();
        assert_eq!(c.addr, "http://url:1");
        assert_eq!(c.namespace.as_deref(), Some("bao-ns"));
        assert_eq!(c.other_addrs, ["http://n1:1", "http://n2:1"]);
        let c = config(
            &[
                "-address=http://flag:1",
                "-namespace",
                "flag-ns",
                "-tls-skip-verify",
                "--ca-cert=/flag/ca.pem",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(c.addr, "http://flag:1");
        assert!(c.other_addrs.is_empty(), "{:?}", c.other_addrs);
        assert_eq!(c.namespace.as_deref(), Some("flag-ns"));
        assert!(c.tls.skip_verify);
        assert_eq!(c.tls.ca_cert.as_deref(), Some("/flag/ca.pem".as_ref()));
        // An empty flag clears the variable; =false turns a switch off.
        let c = config(&["-ns=", "-tls-skip-verify=false"], &env).unwrap();
        assert_eq!(c.namespace, None);
        assert!(!c.tls.skip_verify);
        // The agent address wins over -address, as with bao.
        let c = config(
            &["-address=http://flag:1"],
            &[("VAULT_AGENT_ADDR", "http://agent:1")],
        )
        .unwrap();
        assert_eq!(c.addr, "http://agent:1");
        let c = config(
            &["-address=http://flag:1", "-agent-address=http://a2:1"],
            &[("BAO_AGENT_ADDR", "http://agent:1")],
        )
        .unwrap();
        assert_eq!(c.addr, "http://a2:1");
    }

    #[test]
    fn errors_name_the_flag_that_gave_the_value() {
        let e = config(&["-address=ftp://x"], &[("VAULT_ADDR", "http://ok:1")]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains(": -address=\"ftp"), "{e}");
        let e = config(
            &[],
            &[("BAO_ADDR", "ftp://x"), ("VAULT_ADDR", "http://ok:1")],
        )
        .unwrap_err();
        assert!(e.to_string().contains(": BAO_ADDR=\"ftp"), "{e}");
        let e = config(&["-ns=a", "-namespace=b"], &[("VAULT_ADDR", "http://ok:1")]).unwrap_err();
        assert!(e.to_string().contains("-ns"), "{e}");
        let a: Vec<String> = vec!["-tls-skip-verify=maybe".into()];
        let e = Args::parse(&a, VAULT_FLAGS).unwrap_err();
        assert!(e.to_string().contains("-tls-skip-verify"), "{e}");
        assert!(!e.to_string().contains("maybe"), "{e}");
    }

    #[test]
    fn format_from_the_environment_when_the_flag_is_absent() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(args(&[])
            .human_in(&env(&[("VAULT_FORMAT", "table")]))
            .unwrap());
        assert!(!args(&[])
            .human_in(&env(&[("VAULT_FORMAT", "JSON")]))
            .unwrap());
        // BAO_FORMAT first, the flag above both.
        let both = env(&[("BAO_FORMAT", "json"), ("VAULT_FORMAT", "table")]);
        assert!(!args(&[]).human_in(&both).unwrap());
        assert!(args(&["-format=table"]).human_in(&both).unwrap());
        let e = args(&[])
            .human_in(&env(&[("VAULT_FORMAT", "yaml")]))
            .unwrap_err();
        assert!(e.to_string().contains(": VAULT_FORMAT=\"yaml"), "{e}");
        // A command without -format does not read it.
        let a = Args::parse(&[], &[switch("human", "h")]).unwrap();
        assert!(!a.human_in(&env(&[("VAULT_FORMAT", "table")])).unwrap());
    }
}
