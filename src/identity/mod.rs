//! The agent's identity: agent id, DID, keys, PEM. Never touches the network.
