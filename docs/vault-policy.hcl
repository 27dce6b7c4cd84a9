# Vault (or OpenBao) policy for one agent run by vaultid.
#
# It grants exactly the paths vaultid uses, for one agent. Replace
#   AGENT_ID  with the agent id (`vaultid id` prints it), and
#   DID       with the agent's DID (`vaultid id` prints it too),
# and adjust the mount (`secret`) and prefix (`bindu`) if you changed
# VAULT_KV_MOUNT or VAULTID_VAULT_PREFIX.
#
#   vaultid id --author you@example.com --name my-agent
#   sed -e "s/AGENT_ID/$AGENT_ID/g" -e "s/DID/$DID/g" docs/vault-policy.hcl \
#     | bao policy write vaultid-my-agent -

# The agent's key pair: read on every start; create (cas=0) on the first
# start or a migration; update (cas=version) with --recreate-keys.
path "secret/data/bindu/agents/AGENT_ID/did-keys" {
  capabilities = ["create", "read", "update"]
}

# The agent's OAuth2 client credentials for Hydra (only when Hydra is used).
path "secret/data/bindu/hydra/credentials/DID" {
  capabilities = ["create", "read", "update"]
}

# The credential store (`vaultid cred`), only for agents that issue
# credentials: create/verify/rotate read and write versions; delete reads the
# metadata (to say whether it existed) and removes every version with it;
# list lists the folder (`credentials/`, which the glob matches too).
path "secret/data/bindu/agents/AGENT_ID/credentials/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/bindu/agents/AGENT_ID/credentials/*" {
  capabilities = ["read", "list", "delete"]
}

# (`vaultid kv` first asks sys/internal/ui/mounts/PATH which mount holds a
# path and its KV version, as `bao kv` does; that needs no rule: the server
# answers any token with some capability under the mount.)
# Static secrets the agent reads (`vaultid env`, `vaultid kv get`) or rotates
# (`vaultid rotate`, which reads and writes a new version): add a rule for
# each path, for example (NAME is the agent name):
#   path "secret/data/apps/NAME/*" { capabilities = ["read"] }
#   path "secret/data/apps/NAME/rotated" { capabilities = ["read", "update"] }

# The token's own life cycle: `vaultid login` (lookup-self), renewal by the
# background renewer, revocation when a command that logged in exits. (Vault's `default` policy grants these
# too; they are listed so this policy stands alone.)
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Dynamic secrets (`vaultid env --dynamic ...`): renew and revoke leases.
# Add a read rule for each secrets path the agent uses, for example:
#   path "database/creds/my-agent" { capabilities = ["read"] }
path "sys/leases/renew" {
  capabilities = ["update"]
}
path "sys/leases/revoke" {
  capabilities = ["update"]
}
