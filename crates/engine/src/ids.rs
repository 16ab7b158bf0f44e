//! Ids (64 hex digits from the kernel's random source) and Docker-style
//! generated names.

use crate::error::{EngineError, Result};

/// A new random 64-hex-digit id.
pub fn new_id() -> Result<String> {
    let mut b = [0u8; 32];
    // SAFETY: getrandom fills the buffer of the given length.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        return Err(EngineError::Internal("getrandom failed".into()));
    }
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

const ADJECTIVES: &[&str] = &[
    "admiring", "brave", "clever", "eager", "focused", "gallant", "happy", "jolly", "keen",
    "lucid", "modest", "nifty", "quirky", "serene", "stoic", "tender", "vibrant", "zealous",
];
const NAMES: &[&str] = &[
    "babbage", "curie", "darwin", "euler", "fermi", "gauss", "hopper", "kepler", "lovelace",
    "meitner", "newton", "noether", "pascal", "ritchie", "shannon", "turing", "wozniak", "yalow",
];

/// A name like Docker's (`adjective_scientist`), from the id's digits.
pub fn generated_name(id: &str, attempt: usize) -> String {
    let n = u64::from_str_radix(&id[..12.min(id.len())], 16).unwrap_or(0);
    let a = ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize];
    let b = NAMES[((n / 97) % NAMES.len() as u64) as usize];
    if attempt == 0 {
        format!("{a}_{b}")
    } else {
        format!("{a}_{b}{attempt}")
    }
}

/// Docker's rule for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphanumeric())
        && name.len() >= 2
        && c.all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_volume_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphanumeric())
        && c.all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex() {
        let id = new_id().expect("id");
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, new_id().expect("id"));
    }

    #[test]
    fn names_follow_docker_rules() {
        assert!(valid_name("web_1"));
        assert!(valid_name("a.b-c"));
        assert!(!valid_name("-bad"));
        assert!(!valid_name("x"));
        assert!(!valid_name("has space"));
        assert!(valid_name(&generated_name(&new_id().expect("id"), 0)));
    }
}
