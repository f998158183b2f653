//! `major.minor.patch` versions, compared the way Falco compares engine and plugin versions.

use std::fmt;

/// A semantic version (no pre-release or build parts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl Version {
    /// A version from its three parts.
    #[must_use]
    pub const fn new(major: u64, minor: u64, patch: u64) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parses `x.y.z` (decimal digits only).
    #[must_use]
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.split('.');
        let mut next = || -> Option<u64> {
            let p = parts.next()?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let v = Version::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(v)
    }

    /// Falco's `compatible_with`: same major, and `self` at least `required`.
    #[must_use]
    pub fn compatible_with(&self, required: &Version) -> bool {
        self.major == required.major && self >= required
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_compare() {
        assert_eq!(Version::parse("0.62.0"), Some(Version::new(0, 62, 0)));
        assert_eq!(Version::parse("1.2"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
        assert_eq!(Version::parse("not-a-number"), None);
        let engine = Version::new(0, 62, 0);
        assert!(engine.compatible_with(&Version::new(0, 15, 0)));
        assert!(!engine.compatible_with(&Version::new(0, 63, 0)));
        assert!(!engine.compatible_with(&Version::new(1, 0, 0)));
    }
}
