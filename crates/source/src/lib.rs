//! kaudit-source (placeholder until its issue lands).
