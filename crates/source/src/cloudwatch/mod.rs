//! CloudWatch Logs source (in progress).
