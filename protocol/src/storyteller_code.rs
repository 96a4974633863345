//! The storyteller's personal code: what the receipt shows, what the portal accepts and
//! what the phone sends instead of it (DESIGN.md §9, issue 21).
//!
//! A code is 20 symbols of Crockford's base32 (100 bits), shown in four groups of five
//! ("7K2QD-M4XPB-..."). Crockford's alphabet has no I, L, O or U, and reading a code
//! back forgives the look-alikes (O as 0, I and L as 1), case, spaces and hyphens, so a
//! code read aloud or typed on a cheap phone still matches.
//!
//! The phone never sends the code: it sends [`code_hash`], salted with the project's id
//! so that the same code in two projects (or a table of hashes from another server)
//! matches nothing. With 100 bits of entropy the hash cannot be reversed by trying
//! codes; the salt only keeps one project's hashes meaningless to another.

use sha2::{Digest, Sha256};

/// Crockford's base32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols in a code.
pub const CODE_SYMBOLS: usize = 20;
/// Symbols per group as shown.
const GROUP: usize = 5;
/// Random bytes a code is made from (104 bits; the first 100 are used).
pub const CODE_RANDOM_BYTES: usize = 13;

/// A new code from random bytes (the caller draws them from the OS's generator), in its
/// canonical form: [`CODE_SYMBOLS`] symbols, no separators.
pub fn code_from_random(bytes: [u8; CODE_RANDOM_BYTES]) -> String {
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(b);
    }
    // 104 bits drawn; keep the top 100.
    bits >>= 4;
    (0..CODE_SYMBOLS)
        .rev()
        .map(|i| ALPHABET[((bits >> (5 * i)) & 0x1f) as usize] as char)
        .collect()
}

/// The canonical form of what a person typed or read, or `None` when it cannot be a
/// code (a wrong length or a symbol outside the alphabet).
pub fn normalize_code(input: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_SYMBOLS);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' | '\u{a0}' | '\t' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
        if out.len() > CODE_SYMBOLS {
            return None;
        }
    }
    (out.len() == CODE_SYMBOLS).then_some(out)
}

/// The code as the receipt shows it: groups of five joined by hyphens.
pub fn display_code(canonical: &str) -> String {
    canonical
        .as_bytes()
        .chunks(GROUP)
        .map(|g| String::from_utf8_lossy(g).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// What the phone sends with the consent event and the server keeps: lowercase hex
/// SHA-256 of the project's id and the canonical code. `None` when `code` is not one.
pub fn code_hash(project_id: &str, code: &str) -> Option<String> {
    let canonical = normalize_code(code)?;
    let mut h = Sha256::new();
    h.update(b"tellus-storyteller-code-v1\0");
    h.update(project_id.as_bytes());
    h.update(b"\0");
    h.update(canonical.as_bytes());
    Some(hex::encode(h.finalize()))
}

/// Where the portal lives under a server's base URL.
pub const PORTAL_PATH: &str = "/s";

/// The link the receipt's QR encodes: `{base}/s#{CODE}`, the code in its shown form
/// (groups joined by hyphens) after `#`. A browser never sends the fragment to the
/// server nor puts it in `Referer`, so the code stays out of every log; the portal's
/// page reads it into its form (a few lines of script) or the storyteller types it.
/// `base` is the project server's URL (`https://host` or `https://host/prefix`); a
/// trailing slash is ignored. A `code` that is not one is put in as given.
pub fn portal_url(base: &str, code: &str) -> String {
    let shown = normalize_code(code).map_or_else(|| code.to_string(), |c| display_code(&c));
    format!("{}{PORTAL_PATH}#{shown}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_twenty_symbols_of_the_alphabet_and_use_all_hundred_bits() {
        let zero = code_from_random([0; CODE_RANDOM_BYTES]);
        assert_eq!(zero, "0".repeat(CODE_SYMBOLS));
        let ones = code_from_random([0xff; CODE_RANDOM_BYTES]);
        assert_eq!(ones, "Z".repeat(CODE_SYMBOLS));
        // The last used bit (bit 100) changes the last symbol; the 4 dropped bits do not.
        let mut last = [0; CODE_RANDOM_BYTES];
        last[12] = 0x10;
        assert_eq!(code_from_random(last), format!("{}1", "0".repeat(19)));
        last[12] = 0x0f;
        assert_eq!(code_from_random(last), "0".repeat(CODE_SYMBOLS));
    }

    #[test]
    fn reading_back_forgives_case_separators_and_look_alikes() {
        let code = code_from_random([0x5a; CODE_RANDOM_BYTES]);
        let shown = display_code(&code);
        assert_eq!(shown.len(), CODE_SYMBOLS + 3);
        assert_eq!(normalize_code(&shown).as_deref(), Some(code.as_str()));
        assert_eq!(
            normalize_code(&shown.to_lowercase().replace('-', " ")).as_deref(),
            Some(code.as_str())
        );
        let typed = "0O1IL-ABCDE-FGHJK-MNPQR";
        assert_eq!(
            normalize_code(typed).as_deref(),
            Some("00111ABCDEFGHJKMNPQR")
        );
        assert_eq!(normalize_code("ABCDE"), None, "too short");
        assert_eq!(normalize_code(&format!("{code}0")), None, "too long");
        assert_eq!(
            normalize_code(&format!("{}U", &code[1..])),
            None,
            "U is not a symbol"
        );
        assert_eq!(normalize_code(&format!("{}é", &code[1..])), None);
    }

    #[test]
    fn the_hash_is_salted_with_the_project_and_ignores_how_the_code_was_typed() {
        let code = code_from_random([7; CODE_RANDOM_BYTES]);
        let a = code_hash("project-a", &code).expect("a code");
        assert_eq!(a.len(), 64);
        assert_eq!(
            code_hash("project-a", &display_code(&code).to_lowercase()),
            Some(a.clone())
        );
        assert_ne!(code_hash("project-b", &code), Some(a));
        assert_eq!(code_hash("project-a", "not a code"), None);
    }

    #[test]
    fn the_portal_link_carries_the_code_only_in_its_fragment() {
        let code = code_from_random([9; CODE_RANDOM_BYTES]);
        let url = portal_url("https://stories.example.org/", &code.to_lowercase());
        assert_eq!(
            url,
            format!("https://stories.example.org/s#{}", display_code(&code))
        );
        let (before, after) = url.split_once('#').expect("a fragment");
        assert!(!before.contains(&code[..5]));
        assert_eq!(normalize_code(after).as_deref(), Some(code.as_str()));
    }

    /// A fixed vector for the other implementations (the web tests' Node code).
    #[test]
    fn the_hash_of_a_known_code_is_fixed() {
        let code = code_from_random([0x5a; CODE_RANDOM_BYTES]);
        assert_eq!(code, "B9D5MPJTB9D5MPJTB9D5");
        let hash = code_hash("coproduction-stories-2026", &code).expect("a code");
        // tests/web/portal_test.mjs computes the same with Node's crypto.
        assert_eq!(
            hash,
            "093b34db7cee57cbeccb43c3d4e7e586e86f051145175867481d1c56d3415278"
        );
    }
}
