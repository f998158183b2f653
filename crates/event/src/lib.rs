//! kaudit-event (placeholder until its issue lands).
