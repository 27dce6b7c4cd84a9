//! Secrets at run time: environment injection, rotation, credential store.
