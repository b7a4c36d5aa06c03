//! Dockerfile words: splitting an instruction's text into words the way Docker's parser does
//! (quotes and escapes kept for later), and the builder's variable substitution with quote
//! removal (buildkit `frontend/dockerfile/shell/lex.go`): `$VAR`, `${VAR}`, `${VAR:-x}`,
//! `${VAR-x}`, `${VAR:+x}`, `${VAR+x}`, `${VAR:?msg}`, `${VAR?msg}`; single quotes literal,
//! double quotes expand, the escape character (`\` or `` ` ``) escapes.

use std::collections::BTreeMap;

/// Variables visible to a substitution: the stage's ARGs and ENVs.
pub type Vars = BTreeMap<String, String>;

/// Splits `s` on unquoted, unescaped whitespace; quotes and escapes stay in the words
/// (Docker's `parseWords`/`parseNameVal`: the builder removes them when it expands).
pub fn split_raw(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            None => {
                cur.push(c);
                if c == escape {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands the variables in one word and removes its quotes and escapes. Errors say what
/// is wrong (`${VAR:?msg}` of an unset VAR, an unterminated `${`, an unclosed quote).
pub fn expand(word: &str, vars: &Vars, escape: char) -> Result<String, String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == escape {
            // Outside quotes the escape character escapes the next one, whatever it is.
            if let Some(&n) = chars.get(i + 1) {
                out.push(n);
                i += 2;
            } else {
                out.push(c);
                i += 1;
            }
        } else if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&x| x == '\'')
                .ok_or_else(|| format!("unclosed single quote in {word:?}"))?;
            out.extend(&chars[i + 1..i + 1 + end]);
            i += end + 2;
        } else if c == '"' {
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err(format!("unclosed double quote in {word:?}"));
                };
                if d == '"' {
                    i += 1;
                    break;
                }
                if d == escape {
                    match chars.get(i + 1) {
                        Some(&n) if n == '"' || n == '$' || n == escape => {
                            out.push(n);
                            i += 2;
                        }
                        _ => {
                            out.push(d);
                            i += 1;
                        }
                    }
                } else if d == '$' {
                    i = dollar(&chars, i, vars, escape, &mut out)?;
                } else {
                    out.push(d);
                    i += 1;
                }
            }
        } else if c == '$' {
            i = dollar(&chars, i, vars, escape, &mut out)?;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

/// Expands only `$` forms (and `\$`): a heredoc body with an unquoted delimiter.
pub fn expand_text(text: &str, vars: &Vars, escape: char) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == escape && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
        } else if c == '$' {
            i = dollar(&chars, i, vars, escape, &mut out)?;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

/// One `$` form at `chars[i]`; appends its value to `out`, returns the index after it.
fn dollar(
    chars: &[char],
    i: usize,
    vars: &Vars,
    escape: char,
    out: &mut String,
) -> Result<usize, String> {
    let mut j = i + 1;
    match chars.get(j) {
        Some(&'{') => {
            j += 1;
            let start = j;
            while chars.get(j).is_some_and(|&c| is_name_char(c)) {
                j += 1;
            }
            let name: String = chars[start..j].iter().collect();
            if name.is_empty() {
                return Err(format!(
                    "bad substitution: ${{ without a variable name at {:?}",
                    chars[i..].iter().collect::<String>()
                ));
            }
            let value = vars.get(&name);
            match chars.get(j) {
                Some(&'}') => {
                    out.push_str(value.map_or("", String::as_str));
                    Ok(j + 1)
                }
                Some(&c) if c == ':' || c == '-' || c == '+' || c == '?' => {
                    let colon = c == ':';
                    if colon {
                        j += 1;
                    }
                    let op = *chars.get(j).ok_or("unterminated ${")?;
                    if !matches!(op, '-' | '+' | '?') {
                        return Err(format!("unsupported modifier ':{op}' in ${{{name}...}}"));
                    }
                    j += 1;
                    // The word runs to the matching brace; it may hold more ${...} forms.
                    let wstart = j;
                    let mut depth = 1;
                    while let Some(&c) = chars.get(j) {
                        if c == escape {
                            j += 2;
                            continue;
                        }
                        if c == '{' {
                            depth += 1;
                        } else if c == '}' {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        j += 1;
                    }
                    if j >= chars.len() {
                        return Err(format!("unterminated ${{{name}..."));
                    }
                    let raw: String = chars[wstart..j].iter().collect();
                    let set = match value {
                        Some(v) => !colon || !v.is_empty(),
                        None => false,
                    };
                    match op {
                        '-' => {
                            if set {
                                out.push_str(value.map_or("", String::as_str));
                            } else {
                                out.push_str(&expand(&raw, vars, escape)?);
                            }
                        }
                        '+' => {
                            if set {
                                out.push_str(&expand(&raw, vars, escape)?);
                            }
                        }
                        _ => {
                            if !set {
                                let msg = expand(&raw, vars, escape)?;
                                return Err(if msg.is_empty() {
                                    format!("{name}: is not allowed to be unset")
                                } else {
                                    format!("{name}: {msg}")
                                });
                            }
                            out.push_str(value.map_or("", String::as_str));
                        }
                    }
                    Ok(j + 1)
                }
                _ => Err(format!(
                    "bad substitution ${{{name}...: want }}, :-, -, :+, +, :? or ?"
                )),
            }
        }
        Some(&c) if is_name_start(c) => {
            while chars.get(j).is_some_and(|&c| is_name_char(c)) {
                j += 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            out.push_str(vars.get(&name).map_or("", String::as_str));
            Ok(j)
        }
        _ => {
            out.push('$');
            Ok(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("A", "1"), ("E", ""), ("P", "/usr/bin")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitution_forms() {
        let v = vars();
        let x = |w: &str| expand(w, &v, '\\').unwrap();
        assert_eq!(x("$A"), "1");
        assert_eq!(x("${A}x"), "1x");
        assert_eq!(x("$Ax"), "");
        assert_eq!(x("${B:-two}"), "two");
        assert_eq!(x("${E:-two}"), "two");
        assert_eq!(x("${E-two}"), "");
        assert_eq!(x("${A:+set}"), "set");
        assert_eq!(x("${B:+set}"), "");
        assert_eq!(x("${B:-${A}}"), "1");
        assert_eq!(x("'$A'"), "$A");
        assert_eq!(x("\"$A b\""), "1 b");
        assert_eq!(x("\\$A"), "$A");
        assert_eq!(x("a\\ b"), "a b");
        assert_eq!(x("$"), "$");
        assert_eq!(x("$1"), "$1");
        assert_eq!(x("${P}/x"), "/usr/bin/x");
        assert!(expand("${B:?need B}", &v, '\\')
            .unwrap_err()
            .contains("need B"));
        assert!(expand("${A", &v, '\\').is_err());
        assert!(expand("'open", &v, '\\').is_err());
        assert!(expand("${}", &v, '\\').is_err());
        assert_eq!(expand("`$A", &v, '`').unwrap(), "$A");
    }

    #[test]
    fn raw_split_keeps_quotes() {
        assert_eq!(
            split_raw(r#"a="x y" b=c\ d  'e f'"#, '\\'),
            vec![r#"a="x y""#, r"b=c\ d", "'e f'"]
        );
        assert_eq!(split_raw("  ", '\\'), Vec::<String>::new());
    }

    #[test]
    fn heredoc_text() {
        let v = vars();
        assert_eq!(
            expand_text("a $A \"${B:-q}\" \\$A\n", &v, '\\').unwrap(),
            "a 1 \"q\" $A\n"
        );
    }
}
