//! kaudit-engine (placeholder until its issue lands).

pub mod cli;
