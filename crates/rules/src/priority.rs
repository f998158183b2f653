//! Falco rule priorities.

use std::fmt;
use std::str::FromStr;

/// A rule's priority, most severe first (Falco's order: `Emergency` is the highest).
///
/// Parsing is case-insensitive and accepts Falco's spellings (`info` and `informational`);
/// [`fmt::Display`] prints Falco's long form (`Informational`, not `Info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// `emergency`
    Emergency,
    /// `alert`
    Alert,
    /// `critical`
    Critical,
    /// `error`
    Error,
    /// `warning`
    Warning,
    /// `notice`
    Notice,
    /// `informational` or `info`
    Informational,
    /// `debug`
    Debug,
}

impl Priority {
    /// Every priority, most severe first.
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// Falco's long name, as printed in alerts.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }

    /// Whether this priority is at least as severe as `min` (Falco's `priority` setting).
    #[must_use]
    pub fn at_least(self, min: Priority) -> bool {
        self <= min
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of Falco's priority names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Invalid priority")]
pub struct InvalidPriority;

impl FromStr for Priority {
    type Err = InvalidPriority;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p = match s.to_ascii_lowercase().as_str() {
            "emergency" => Priority::Emergency,
            "alert" => Priority::Alert,
            "critical" => Priority::Critical,
            "error" => Priority::Error,
            "warning" => Priority::Warning,
            "notice" => Priority::Notice,
            "informational" | "info" => Priority::Informational,
            "debug" => Priority::Debug,
            _ => return Err(InvalidPriority),
        };
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_case_insensitively() {
        assert_eq!("INFO".parse(), Ok(Priority::Informational));
        assert_eq!("Informational".parse(), Ok(Priority::Informational));
        assert_eq!("WARNING".parse(), Ok(Priority::Warning));
        assert_eq!("emergency".parse(), Ok(Priority::Emergency));
        assert_eq!("warn".parse::<Priority>(), Err(InvalidPriority));
    }

    #[test]
    fn orders_and_prints_like_falco() {
        assert!(Priority::Error.at_least(Priority::Warning));
        assert!(!Priority::Notice.at_least(Priority::Warning));
        assert_eq!(Priority::Informational.to_string(), "Informational");
    }
}
