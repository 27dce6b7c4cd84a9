//! The startup flow.
