//! The local store: lock file, atomic writes, permissions.
