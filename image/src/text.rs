//! Text from images and archives on its way to a terminal: tar header fields, entry names,
//! tags and image config strings (history `created_by`, author, labels) are bytes someone
//! else chose. Printed raw, an ESC or a C1 control (U+009B is CSI on its own in some
//! terminals) would let an archive move the cursor, rewrite earlier lines, set the window
//! title or worse (CVE-2021-25743 and the like for kubectl). Everything such a string says
//! stays readable; only the control characters become visible escapes.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// `s` with every control character as a visible escape: `\n`, `\r`, `\t`, other C0 controls
/// and DEL as `\x1b`, C1 controls (U+0080-U+009F) as `\u{9b}`. Printable text, non-ASCII
/// letters included, is kept as it is; borrowed when there is nothing to escape.
pub fn escape_for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A path (an archive entry, a file named after one) for a message: lossy UTF-8, escaped.
pub fn escape_path(p: &Path) -> String {
    escape_for_terminal(&p.to_string_lossy()).into_owned()
}

/// An error and its sources as one escaped line (`outer: inner`, repeats left out), for
/// errors of other crates whose messages quote input (the tar crate puts header bytes in
/// its messages). The result has no source chain left to print raw.
pub(crate) fn escape_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let msg = err.to_string();
        if !line.contains(&msg) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&msg);
        }
        cur = err.source();
    }
    escape_for_terminal(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_and_text_stays() {
        assert!(matches!(
            escape_for_terminal("plain ünïcødé 名前 ✓"),
            Cow::Borrowed(_)
        ));
        assert_eq!(escape_for_terminal("a\x1b[31mred"), "a\\x1b[31mred");
        assert_eq!(escape_for_terminal("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(escape_for_terminal("del\x7f"), "del\\x7f");
        assert_eq!(escape_for_terminal("a\nb\tc\r\0"), "a\\nb\\tc\\r\\x00");
        assert_eq!(
            escape_for_terminal("\u{85}\u{80}\u{9f}"),
            "\\u{85}\\u{80}\\u{9f}"
        );
        // Nothing raw is left: no byte below 0x20, no DEL, no C1 in UTF-8 (C2 80..C2 9F).
        let all: String = (0u32..0x2000).filter_map(char::from_u32).collect();
        let out = escape_for_terminal(&all);
        let b = out.as_bytes();
        assert!(!b.iter().any(|&x| x < 0x20 || x == 0x7f));
        assert!(!b
            .windows(2)
            .any(|w| w[0] == 0xc2 && (0x80..0xa0).contains(&w[1])));
    }

    #[test]
    fn error_chains_are_flattened_and_escaped() {
        let inner = std::io::Error::other("numeric field was not a number: \x1b]0;pwned\x07");
        let s = escape_error(&inner);
        assert_eq!(s, "numeric field was not a number: \\x1b]0;pwned\\x07");
    }
}
