//! How berth says things on a terminal: an error and its causes on one line, and any text
//! from outside (an image, an archive, a name someone typed) with its control characters
//! made visible. The ground floor of the crate: it imports nothing of this crate (the image crate escapes).

/// The error and its causes on one line, each said once: the library errors already name
/// their source in their message, so a cause the line already holds is not repeated.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if line.contains(&msg) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&msg);
    }
    for_terminal(&line)
}

/// What berth prints of a message: control characters (ESC, C1 controls, newlines in a name)
/// made visible as escapes, so an image, an archive or a name typed by someone else cannot
/// drive the terminal; and any word longer than 200 bytes (a 4096-byte name echoed back)
/// cut to its first 64 characters and its length.
pub fn for_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_inclusive(' ') {
        let (body, space) = match word.strip_suffix(' ') {
            Some(b) => (b, " "),
            None => (word, ""),
        };
        let body: std::borrow::Cow<str> = if body.len() > 200 {
            let head: String = body.chars().take(64).collect();
            format!("{head}...({} bytes)", body.len()).into()
        } else {
            body.into()
        };
        out.push_str(&escape_controls(&body));
        out.push_str(space);
    }
    out
}

/// Control characters (C0, DEL, C1: ESC and CSI among them) as visible escapes (`\x1b`,
/// `\u{9b}`); everything printable, any script, kept. The image crate's escaper, so text
/// from an image reads the same whichever verb prints it.
pub fn escape_controls(s: &str) -> String {
    berth_image::text::escape_for_terminal(s).into_owned()
}

/// "3 seconds", "About a minute", "2 hours": Docker's units.HumanDuration, as `ps` shows ages.
pub fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86400),
        _ => format!("{} weeks", s / 604_800),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn terminal_text_is_escaped_and_clipped() {
        let s = super::for_terminal("bad entry \u{1b}[31mred\u{9b}2J done");
        assert!(!s.contains('\u{1b}') && !s.contains('\u{9b}'), "{s}");
        assert!(s.contains("\\x1b[31mred"), "{s}");
        let long = "a".repeat(4096);
        let s = super::for_terminal(&format!("no such container: {long}"));
        assert!(s.len() < 120 && s.contains("(4096 bytes)"), "{s}");
        assert_eq!(super::for_terminal("plain text"), "plain text");
    }

    #[test]
    fn durations() {
        use super::human_duration;
        use std::time::Duration;
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(7300)), "2 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }
}
